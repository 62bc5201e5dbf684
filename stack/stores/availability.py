"""Whether each vector store can run here, and the environment test containers need.

* Offline (``STACK_OFFLINE=1``, the test default) nothing is pulled: an image is used only if
  :func:`stack.images.resolve.resolve` finds it locally (upstream, mirrored or the
  ``stack-standin/<recipe>:<hash>`` stand-in); otherwise the store is *unavailable* with a
  reason naming the image and the remedy.  Online, the image it chose (through the mirror of
  ``STACK_REGISTRY_MIRRORS`` when mapped) is pulled first by :func:`stack.images.pull.pull_all`,
  the same puller as ``dev.up``; an image that cannot be pulled makes the store unavailable
  with the puller's reason (image and mirror).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stack.stores.catalog import get

#: Environment every testcontainers run needs here (Ryuk cannot be pulled; host marker file).
#: ``TESTCONTAINERS_HOST_OVERRIDE`` defaults to the engine's host (``localhost`` for a local
#: socket, the host of a TCP ``DOCKER_HOST``/context), see :func:`apply_test_env`.
TEST_ENV = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "STACK_OFFLINE": "1",
}


def apply_test_env(environ: dict[str, str] | None = None) -> None:
    """Set :data:`TEST_ENV` defaults (values already set by the user win), and hand the
    resolved engine endpoint (``DOCKER_HOST`` / docker context) to testcontainers, which
    reads only ``DOCKER_HOST``."""
    from stack.dockerapi import export_endpoint
    from stack.errors import EngineError

    env: Any = os.environ if environ is None else environ
    for key, value in TEST_ENV.items():
        env.setdefault(key, value)
    try:
        ep = export_endpoint(env)
    except EngineError:
        host = "localhost"  # a broken context: availability() reports the engine as missing
    else:
        host = "localhost" if ep.hostname == "127.0.0.1" else ep.hostname
    env.setdefault("TESTCONTAINERS_HOST_OVERRIDE", host)


@dataclass(frozen=True)
class Availability:
    """Whether a store's image can be had locally, which ref, and why not."""

    store: str
    ok: bool
    image_ref: str = ""
    kind: str = ""  # upstream | mirror | standin | missing | no-engine
    reason: str = ""


def availability(names: Iterable[str]) -> dict[str, Availability]:
    """Decide per store whether its image can be had here (online: pulled first, see above)."""
    from stack.engine.client import engine_alive

    names = list(names)
    if not engine_alive():
        why = "no Docker engine reachable (fix: invoke engine.ensure)"
        return {n: Availability(n, False, kind="no-engine", reason=why) for n in names}
    from stack.images.resolve import resolve_all

    specs = {n: get(n) for n in names}
    resolutions = resolve_all(sorted({s.image for s in specs.values()}))
    pull_failed = _pull_needed(resolutions)
    out: dict[str, Availability] = {}
    for n, spec in specs.items():
        r = resolutions[spec.image]
        if r.needs_pull and r.entry.ref in pull_failed:
            out[n] = Availability(n, False, r.ref_to_use, "missing", pull_failed[r.entry.ref])
        elif r.kind in ("upstream", "mirror", "standin"):
            out[n] = Availability(n, True, r.ref_to_use, r.kind)
        else:
            remedy = r.remedy or "not present locally"
            out[n] = Availability(
                n,
                False,
                r.ref_to_use,
                "missing",
                f"image {r.entry.ref} not available offline: {remedy}",
            )
    return out


def _pull_needed(resolutions: Mapping[str, Any]) -> dict[str, str]:
    """Pull what resolution says must be pulled (online only); upstream ref -> failure reason."""
    from stack.engine.client import client
    from stack.images.mirror import mirrors_from_env
    from stack.images.pull import pull_each

    wanted = {r.entry.ref: r.ref_to_use for r in resolutions.values() if r.needs_pull}
    if not wanted:
        return {}
    failed = pull_each(wanted, mirrors=mirrors_from_env(os.environ), client=client())
    return {up: f"{p.where} {p.what} (fix: {p.fix})" for up, p in failed.items()}
