"""Offline stand-in builds: ``compose/images/<name>/`` on top of the Debian base, in a pool.

A recipe's ``Dockerfile`` starts with ``ARG BASE`` / ``FROM ${BASE}`` (the builder passes
``--build-arg BASE=stack-standin/base:<hash12>``) and should write the real software version
to ``/etc/stack-standin.version``; it becomes the ``org.stack.version`` label.  Recipes and
their tags are :mod:`stack.images.recipes`, the build context (sources, wheels) is
:mod:`stack.images.context`, the engine calls are :mod:`stack.images.sdk`; their names stay
importable from here.  This module builds: the base if needed, then the missing stand-ins
(an existing tag is reused, so a warm run only lists images), a few at a time.

The classic builder is used (dockerd 20.10): no heredocs, no ``COPY --chmod``; scripts
starting with ``#!`` are made executable on the host.  Wheels are downloaded for the engine's
architecture (from ``GET /info``), not the host's.  Builds need a Linux host (the base is
made with debootstrap).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.errors import ImageError, StackError
from stack.images import base as base_mod
from stack.images.base import NAMESPACE
from stack.images.catalog import by_standin
from stack.images.context import WHEEL_ARCHES, WHEEL_PYTHON, build_context, wheel_platforms
from stack.images.context import build_context as _context
from stack.images.context import wheels as _wheels
from stack.images.recipes import (
    BUILD_SCHEME,
    available_recipes,
    has_recipe,
    recipe_dir,
    recipe_hash,
    source_files,
    standin_tag,
)
from stack.images.sdk import (
    VERSION_FILE,
    client_of,
    image_exists,
    image_labels,
    image_version,
    local_images,
    sdk_build,
)
from stack.paths import cache_dir

# Everything importable from here before the split (importers keep this path).
__all__ = [
    "BUILD_SCHEME",
    "VERSION_FILE",
    "WHEEL_ARCHES",
    "WHEEL_PYTHON",
    "BuildResult",
    "Progress",
    "_context",
    "_wheels",
    "available_recipes",
    "build",
    "build_one",
    "image_labels",
    "local_standin_refs",
    "log_dir",
    "recipe_dir",
    "recipe_hash",
    "source_files",
    "standin_tag",
    "wheel_platforms",
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """Outcome of one stand-in build."""

    name: str
    ref: str
    cached: bool
    seconds: float


def local_standin_refs(client: Any = None) -> set[str]:
    """All ``stack-standin/*`` refs in the local engine."""
    prefix = f"{NAMESPACE}/"
    return {ref for ref in local_images(client) if ref.startswith(prefix)}


def log_dir() -> Path:
    """Where build logs go (``<cache>/build-logs``)."""
    d = cache_dir() / "build-logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_one(
    name: str,
    *,
    base_ref: str,
    progress: Progress = print,
    present: set[str] | None = None,
    arch: str | None = None,
    client: Any = None,
) -> BuildResult:
    """Build stand-in ``name`` unless its hash tag exists (docker SDK, no CLI)."""
    import docker.errors

    t0 = time.monotonic()
    h = recipe_hash(name)
    ref = f"{NAMESPACE}/{name}:{h}"
    exists = ref in present if present is not None else image_exists(ref, client)
    if exists:
        return BuildResult(name, ref, True, time.monotonic() - t0)
    api = client_of(client).api
    if arch is None:
        from stack.dockerapi import engine_arch

        arch = engine_arch()
    entries = by_standin(name)
    substitutes = ",".join(e.ref for e in entries) or "-"
    catalog_version = entries[0].standin_version if entries else None
    log = log_dir() / f"{name}-{h}.log"
    log.write_text("")
    progress(f"{name}: building {ref} (log: {log})")
    ctx = build_context(name, h, progress, arch)
    tmp_ref = f"{NAMESPACE}/{name}:build-{h}"
    try:
        error = sdk_build(
            api,
            log,
            path=str(ctx),
            tag=tmp_ref,
            buildargs={"BASE": base_ref},
            labels={
                "org.stack.recipe": name,
                "org.stack.recipe-hash": h,
                "org.stack.substitutes": substitutes,
            },
        )
        if error is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise ImageError(
                f"{name}: docker build failed ({error}); last lines:\n{tail}",
                hint=f"full log: {log}",
            )
        version = image_version(api, tmp_ref) or catalog_version or "unknown"
        error = sdk_build(
            api,
            log,
            fileobj=io.BytesIO(f"FROM {tmp_ref}\n".encode()),
            tag=ref,
            labels={"org.stack.version": version},
        )
        if error is not None:
            raise ImageError(f"{name}: labelling failed ({error}); see {log}")
    except docker.errors.DockerException as exc:
        raise ImageError(f"{name}: docker build failed: {exc}", hint=f"see {log}") from None
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            api.remove_image(tmp_ref, noprune=True)
        shutil.rmtree(ctx, ignore_errors=True)
    seconds = time.monotonic() - t0
    progress(f"{name}: built {ref} ({version}) in {seconds:.1f} s")
    _prune_superseded(api, name, ref, present, progress)
    return BuildResult(name, ref, False, seconds)


def _prune_superseded(
    api: Any, name: str, keep: str, present: set[str] | None, progress: Progress
) -> None:
    """Remove older builds of recipe ``name`` (a changed recipe gets a new hash tag).

    No force: an image a container still uses stays.
    """
    import docker.errors

    prefix = f"{NAMESPACE}/{name}:"
    old = sorted(r for r in (present or set()) if r.startswith(prefix) and r != keep)
    for ref in old:
        try:
            api.remove_image(ref)
        except docker.errors.DockerException:
            continue
        progress(f"{name}: removed superseded {ref}")


def build(
    names: Sequence[str] | None = None, *, progress: Progress = print, jobs: int | None = None
) -> list[BuildResult]:
    """Build the base and the given stand-ins (default: all recipes), two at a time.

    Returns one result per name (in the order given); all failures are collected and
    raised together as one ImageError after the other builds finished.
    """
    wanted = list(dict.fromkeys(names)) if names else available_recipes()
    unknown = [n for n in wanted if not has_recipe(n)]
    if unknown:
        raise ImageError(
            "no stand-in recipe for " + ", ".join(unknown),
            hint="available: " + ", ".join(available_recipes()),
        )
    lock = threading.Lock()

    def say(msg: str) -> None:
        with lock:
            progress(msg)

    present = local_standin_refs()
    todo = [n for n in wanted if f"{NAMESPACE}/{n}:{recipe_hash(n)}" not in present]
    base_ref = base_mod.base_ref()
    arch = "x86_64"
    if todo:
        base_mod.require_linux_host()
        from stack.dockerapi import engine_arch

        arch = engine_arch()
        wheel_platforms(arch)  # an unsupported engine architecture fails before any work
    if todo and base_ref not in present:
        ref, _cached, secs = base_mod.build_base(progress=say)
        say(f"base: {ref} ready in {secs:.1f} s")
    results: dict[str, BuildResult] = {}
    errors: list[str] = []
    workers = jobs or max(1, min(len(todo), os.cpu_count() or 2, 3))

    def run(n: str) -> None:
        try:
            results[n] = build_one(n, base_ref=base_ref, progress=say, present=present, arch=arch)
        except StackError as exc:
            with lock:
                errors.append(str(exc))
        except Exception as exc:  # never a raw traceback out of the pool: name the recipe
            with lock:
                errors.append(f"{n}: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, wanted))
    if errors:
        raise ImageError("stand-in build failed:\n" + "\n".join(errors))
    return [results[n] for n in wanted]
