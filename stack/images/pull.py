"""Pull images that are not local, before anything starts (online only; docker SDK).

``dev.up`` and the vector-store test runtime both call :func:`pull_all` with the refs that
:func:`stack.images.resolve.resolve` chose (``needs_pull``), so both pull the same way: through
the mirror mapped in ``STACK_REGISTRY_MIRRORS`` when there is one.  Every image is tried
(concurrently); the failures are raised together, each naming the pinned upstream image, the
ref that was tried and the mirror it was tried on, so the caller can stop before it has
started anything.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stack.errors import ImageError, Problem, ProblemsError
from stack.images.mirror import ENV_VAR, parse_ref, rewrite

#: Parallel pulls (a handful of images; the engine downloads layers in parallel itself).
MAX_PARALLEL = 4


def split_ref(ref: str) -> tuple[str, str | None]:
    """``repo:tag`` / ``repo@digest`` -> (repository, tag or digest) as the engine API takes it."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def mirror_for(upstream: str, mirrors: Mapping[str, str]) -> str | None:
    """The mirror prefix ``upstream`` is pulled through, or None when it is pulled directly."""
    if rewrite(upstream, mirrors) == upstream:
        return None
    return mirrors.get(parse_ref(upstream).registry)


def _pull_one(client: Any, ref: str) -> None:
    """Pull ``ref``; ImageError with the engine's message when it fails (also mid-stream)."""
    import docker.errors

    repo, tag = split_ref(ref)
    try:
        for event in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if isinstance(event, dict) and event.get("error"):
                raise ImageError(str(event["error"]).strip())
    except docker.errors.APIError as exc:
        raise ImageError(str(exc.explanation or exc).strip()) from None
    except docker.errors.DockerException as exc:  # engine unreachable and the like
        raise ImageError(str(exc).strip()) from None


def _problem(upstream: str, ref: str, mirror: str | None, why: str) -> Problem:
    if mirror:
        return Problem(
            f"image {upstream}",
            f"cannot be pulled from the mirror {mirror} (as {ref}): {why}",
            f"push {upstream} to the mirror as {ref}, or fix {ENV_VAR}",
        )
    registry = parse_ref(upstream).registry
    return Problem(
        f"image {upstream}",
        f"cannot be pulled from {registry}: {why}",
        f"map {registry} to a reachable mirror with {ENV_VAR}={registry}=<host>/<prefix>, "
        "or build the offline stand-ins (invoke images.build) and set STACK_OFFLINE=1",
    )


def pull_each(
    wanted: Mapping[str, str], *, mirrors: Mapping[str, str], client: Any = None
) -> dict[str, Problem]:
    """Pull each ``upstream -> ref`` of ``wanted`` (concurrently); the failures by upstream ref.

    ``mirrors`` only names the mirror in the problems (each ``ref`` is already rewritten).
    """
    if not wanted:
        return {}
    if client is None:  # the process-wide client of the resolved endpoint
        from stack.dockerapi import client as get_client

        client = get_client()
    failed: dict[str, Problem] = {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(wanted))) as pool:
        futures = {pool.submit(_pull_one, client, ref): up for up, ref in wanted.items()}
        for fut, up in futures.items():
            try:
                fut.result()
            except ImageError as exc:
                failed[up] = _problem(up, wanted[up], mirror_for(up, mirrors), exc.message)
    return failed


def pull_all(
    wanted: Mapping[str, str],
    *,
    mirrors: Mapping[str, str],
    title: str = "cannot pull images (nothing was started)",
    client: Any = None,
) -> float:
    """:func:`pull_each`, raising one ProblemsError for all failures; seconds taken otherwise."""
    if not wanted:
        return 0.0
    start = time.monotonic()
    failed = pull_each(wanted, mirrors=mirrors, client=client)
    if failed:
        raise ProblemsError(title, [failed[up] for up in sorted(failed)])
    return time.monotonic() - start
