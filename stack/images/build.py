"""Offline stand-in builds: ``compose/images/<name>/`` on top of the Debian base.

A recipe directory holds a ``Dockerfile`` that starts with ``ARG BASE`` / ``FROM ${BASE}``
(the builder passes ``--build-arg BASE=stack-standin/base:<hash12>``), the files it copies,
and optionally ``wheels.txt``: pinned PyPI requirements downloaded *on the host* into the
build context's ``wheels/`` directory (pip does not work inside builds here); install them with
``pip install --no-index --find-links /tmp/wheels ...``.  The Dockerfile should write the real
software version to ``/etc/stack-standin.version``; it becomes the ``org.stack.version`` label.

Images are tagged ``stack-standin/<name>:<hash12>`` where the hash covers every recipe file
(content and executable bit), the base hash and the build scheme; an existing tag is reused,
so a warm run only lists images.  The classic builder is used (dockerd 20.10): no heredocs,
no ``COPY --chmod``; scripts starting with ``#!`` are made executable on the host.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from stack.errors import ImageError
from stack.images import base as base_mod
from stack.images.catalog import STANDIN_RECIPES, by_standin
from stack.paths import IMAGES_DIR, cache_dir

BUILD_SCHEME = "1"
VERSION_FILE = "/etc/stack-standin.version"
WHEEL_PLATFORMS = (
    "manylinux2014_x86_64",
    *(f"manylinux_2_{n}_x86_64" for n in range(17, 37)),
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
WHEEL_PYTHON = "3.11"
_IGNORED = {"__pycache__", ".DS_Store"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """Outcome of one stand-in build."""

    name: str
    ref: str
    cached: bool
    seconds: float


def recipe_dir(name: str) -> Path:
    """``compose/images/<name>``; ImageError when it does not exist."""
    d = IMAGES_DIR / name
    if not (d / "Dockerfile").is_file():
        raise ImageError(
            f"no stand-in recipe {d}/Dockerfile",
            hint="known recipes: " + ", ".join(available_recipes()),
        )
    return d


def available_recipes() -> list[str]:
    """Recipe names present under compose/images/ (catalog order first)."""
    present = {p.parent.name for p in IMAGES_DIR.glob("*/Dockerfile")}
    ordered = [n for n in STANDIN_RECIPES if n in present]
    return ordered + sorted(present - set(ordered))


def _recipe_files(d: Path) -> list[Path]:
    files = []
    for p in sorted(d.rglob("*")):
        if any(part in _IGNORED for part in p.relative_to(d).parts):
            continue
        if p.is_file():
            files.append(p)
    return files


def _is_script(p: Path) -> bool:
    try:
        with p.open("rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def recipe_hash(name: str) -> str:
    """12-hex hash of the recipe files + base hash + build scheme."""
    d = recipe_dir(name)
    h = hashlib.sha256()
    h.update(f"scheme={BUILD_SCHEME};base={base_mod.base_hash()};name={name}\0".encode())
    for p in _recipe_files(d):
        rel = p.relative_to(d).as_posix()
        h.update(rel.encode() + b"\0")
        h.update(b"x" if (_is_script(p) or os.access(p, os.X_OK)) else b"-")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def standin_tag(name: str) -> str:
    """``stack-standin/<name>:<hash12>`` for the current recipe."""
    return f"{base_mod.NAMESPACE}/{name}:{recipe_hash(name)}"


def local_standin_refs() -> set[str]:
    """All ``stack-standin/*`` refs in the local engine."""
    prefix = f"{base_mod.NAMESPACE}/"
    return {ref for ref in base_mod.local_images() if ref.startswith(prefix)}


def image_labels(refs: Sequence[str]) -> dict[str, dict[str, str]]:
    """Labels of local images ``refs`` (one ``docker image inspect`` call; absent ones omitted)."""
    if not refs:
        return {}
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", *refs],
        capture_output=True,
        text=True,
        check=False,
    )
    import json

    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != len(refs):
        # some are missing: fall back to one call each
        result: dict[str, dict[str, str]] = {}
        for ref in refs:
            one = image_labels([ref]) if len(refs) > 1 else {}
            result.update(one)
        return result
    return {ref: (json.loads(line) or {}) for ref, line in zip(refs, lines, strict=True)}


def _wheels(name: str, reqs: Path, progress: Progress) -> Path:
    """Download ``wheels.txt`` on the host into a cache dir keyed by its content."""
    key = hashlib.sha256(reqs.read_bytes()).hexdigest()[:12]
    dest = cache_dir() / "wheels" / f"{name}-{key}"
    done = dest / ".complete"
    if done.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    progress(f"{name}: pip download -r wheels.txt (host, for Python {WHEEL_PYTHON})")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--python-version",
        WHEEL_PYTHON,
        "--implementation",
        "cp",
        "--abi",
        f"cp{WHEEL_PYTHON.replace('.', '')}",
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for plat in WHEEL_PLATFORMS:
        argv += ["--platform", plat]
    argv += ["-r", str(reqs), "-d", str(dest), "--disable-pip-version-check", "-q"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(
            f"{name}: downloading wheels from {reqs} failed:\n{proc.stderr[-2000:]}",
            hint="check the pins in wheels.txt (a manylinux x86-64 wheel for cp311 must exist)",
        )
    done.write_text("ok\n")
    return dest


def _context(name: str, tag_hash: str, progress: Progress) -> Path:
    """Assemble the build context (recipe files, chmod'ed scripts, wheels/)."""
    d = recipe_dir(name)
    ctx = Path(tempfile.mkdtemp(prefix=f"stack-ctx-{name}-{tag_hash}-"))
    for p in _recipe_files(d):
        target = ctx / p.relative_to(d)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
        if _is_script(p):
            target.chmod(0o755)
    reqs = d / "wheels.txt"
    wheels_dir = ctx / "wheels"
    wheels_dir.mkdir(exist_ok=True)
    if reqs.is_file():
        for w in _wheels(name, reqs, progress).iterdir():
            if w.name.endswith((".whl", ".tar.gz", ".zip")):
                try:
                    os.link(w, wheels_dir / w.name)
                except OSError:
                    shutil.copy2(w, wheels_dir / w.name)
    return ctx


def _docker_build(argv: list[str], log: Path, stdin: str | None = None) -> int:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    with log.open("a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(argv) + "\n")
        fh.flush()
        proc = subprocess.run(
            argv,
            input=stdin,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            check=False,
        )
    return proc.returncode


def _image_version(ref: str) -> str | None:
    proc = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/bin/cat",
            ref,
            VERSION_FILE,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    text = proc.stdout.strip()
    return text.splitlines()[0].strip() if proc.returncode == 0 and text else None


def log_dir() -> Path:
    """Where build logs go (``<cache>/build-logs``)."""
    d = cache_dir() / "build-logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_one(
    name: str, *, base_ref: str, progress: Progress = print, present: set[str] | None = None
) -> BuildResult:
    """Build stand-in ``name`` unless its hash tag exists."""
    t0 = time.monotonic()
    h = recipe_hash(name)
    ref = f"{base_mod.NAMESPACE}/{name}:{h}"
    exists = ref in present if present is not None else base_mod.image_exists(ref)
    if exists:
        return BuildResult(name, ref, True, time.monotonic() - t0)
    entries = by_standin(name)
    substitutes = ",".join(e.ref for e in entries) or "-"
    catalog_version = entries[0].standin_version if entries else None
    log = log_dir() / f"{name}-{h}.log"
    log.write_text("")
    progress(f"{name}: building {ref} (log: {log})")
    ctx = _context(name, h, progress)
    tmp_ref = f"{base_mod.NAMESPACE}/{name}:build-{h}"
    try:
        rc = _docker_build(
            [
                "docker",
                "build",
                "--rm",
                "--force-rm",
                "-t",
                tmp_ref,
                "--build-arg",
                f"BASE={base_ref}",
                "--label",
                f"org.stack.recipe={name}",
                "--label",
                f"org.stack.recipe-hash={h}",
                "--label",
                f"org.stack.substitutes={substitutes}",
                str(ctx),
            ],
            log,
        )
        if rc != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise ImageError(
                f"{name}: docker build failed (exit {rc}); last lines:\n{tail}",
                hint=f"full log: {log}",
            )
        version = _image_version(tmp_ref) or catalog_version or "unknown"
        rc = _docker_build(
            ["docker", "build", "-t", ref, "--label", f"org.stack.version={version}", "-"],
            log,
            stdin=f"FROM {tmp_ref}\n",
        )
        if rc != 0:
            raise ImageError(f"{name}: labelling failed; see {log}")
    finally:
        subprocess.run(
            ["docker", "image", "rm", "--no-prune", tmp_ref], capture_output=True, check=False
        )
        shutil.rmtree(ctx, ignore_errors=True)
    seconds = time.monotonic() - t0
    progress(f"{name}: built {ref} ({version}) in {seconds:.1f} s")
    _prune_superseded(name, ref, present, progress)
    return BuildResult(name, ref, False, seconds)


def _prune_superseded(name: str, keep: str, present: set[str] | None, progress: Progress) -> None:
    """Remove older builds of recipe ``name`` (a changed recipe gets a new hash tag).

    ``docker image rm`` without force: an image a container still uses stays.
    """
    prefix = f"{base_mod.NAMESPACE}/{name}:"
    old = sorted(r for r in (present or set()) if r.startswith(prefix) and r != keep)
    for ref in old:
        proc = subprocess.run(["docker", "image", "rm", ref], capture_output=True, check=False)
        if proc.returncode == 0:
            progress(f"{name}: removed superseded {ref}")


def build(
    names: Sequence[str] | None = None, *, progress: Progress = print, jobs: int | None = None
) -> list[BuildResult]:
    """Build the base and the given stand-ins (default: all recipes), two at a time.

    Returns one result per name (in the order given); all failures are collected and
    raised together as one ImageError after the other builds finished.
    """
    wanted = list(dict.fromkeys(names)) if names else available_recipes()
    unknown = [n for n in wanted if not (IMAGES_DIR / n / "Dockerfile").is_file()]
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
    todo = [n for n in wanted if f"{base_mod.NAMESPACE}/{n}:{recipe_hash(n)}" not in present]
    base_ref = base_mod.base_ref()
    if todo and base_ref not in present:
        ref, _cached, secs = base_mod.build_base(progress=say)
        say(f"base: {ref} ready in {secs:.1f} s")
    results: dict[str, BuildResult] = {}
    errors: list[str] = []
    workers = jobs or max(1, min(len(todo), os.cpu_count() or 2, 3))

    def run(n: str) -> None:
        try:
            results[n] = build_one(n, base_ref=base_ref, progress=say, present=present)
        except ImageError as exc:
            with lock:
                errors.append(str(exc))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, wanted))
    if errors:
        raise ImageError("stand-in build failed:\n" + "\n".join(errors))
    return [results[n] for n in wanted]
