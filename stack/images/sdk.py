"""Every engine call of the image code, through the docker SDK of the resolved endpoint.

Listing and inspecting local images, ``docker import`` of a root file system, the classic
builder's ``POST /build`` and reading a built image's version and labels.  No docker CLI is
needed, and every call reaches the same engine as the rest of the stack (:mod:`stack.dockerapi`).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stack.errors import ImageError

#: Where a stand-in's Dockerfile writes the real software version (the ``org.stack.version``
#: label).
VERSION_FILE = "/etc/stack-standin.version"


def client_of(client: Any = None) -> Any:
    """The given SDK client, else the process-wide one of the resolved endpoint."""
    if client is not None:
        return client
    from stack.dockerapi import client as get_client

    return get_client()


def local_images(client: Any = None) -> set[str]:
    """Every ``repo:tag`` in the local engine, in one API call (docker SDK).

    ``images.list()`` would inspect each image and race with concurrent removals.
    """
    import docker.errors

    try:
        listed = client_of(client).api.images()
    except docker.errors.DockerException as exc:
        raise ImageError(f"cannot list local images: {exc}", hint="invoke engine.ensure") from None
    refs: set[str] = set()
    for img in listed:
        refs.update(t for t in img.get("RepoTags") or [] if "<none>" not in t)
    return refs | {r.removeprefix("docker.io/") for r in refs}


def image_exists(ref: str, client: Any = None) -> bool:
    """True if ``ref`` is present in the engine (docker SDK inspect, never a pull)."""
    import docker.errors

    try:
        client_of(client).api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            return False
        raise ImageError(
            f"cannot inspect image {ref}: {exc}", hint="invoke engine.ensure"
        ) from None
    return True


def reap(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop ``proc`` if it still runs and wait for it; never raises TimeoutExpired
    (SIGTERM, then SIGKILL after ``grace`` seconds)."""
    if proc.stdout is not None:
        proc.stdout.close()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CHUNK = 1 << 20


def import_rootfs(rootfs: Path, ref: str, changes: list[str], client: Any = None) -> None:
    """``tar -C rootfs -c . | docker import - ref`` through the SDK (streamed, chunked).

    GNU tar writes the tree (hard links, device nodes, numeric owners) and the SDK streams
    its output to the engine, so no docker CLI is needed.  ``tar`` is always reaped, also
    when the import fails half-way (it would otherwise block on the full pipe forever).
    """
    import docker.errors

    repo, _, tag = ref.rpartition(":")
    api = client_of(client).api
    with tempfile.TemporaryFile() as errors:
        try:
            tar = subprocess.Popen(
                ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except OSError as exc:
            raise ImageError(f"cannot run tar: {exc}", hint="apt-get install -y tar") from None
        out = tar.stdout
        assert out is not None
        try:
            stream = iter(lambda: out.read(CHUNK), b"")
            api.import_image(src=stream, repository=repo, tag=tag, changes=changes, stream_src=True)
            out.close()
            rc = tar.wait(timeout=60)
        except (docker.errors.DockerException, OSError) as exc:  # OSError: connection cut
            raise ImageError(
                f"docker import of {ref} failed: {exc}", hint="invoke engine.ensure"
            ) from None
        except subprocess.TimeoutExpired:
            raise ImageError(f"tar of {rootfs} did not finish after the import") from None
        finally:
            reap(tar)
        if rc != 0:
            with contextlib.suppress(docker.errors.DockerException):
                api.remove_image(ref)  # the engine may have imported a truncated stream
            errors.seek(0)
            err = errors.read().decode(errors="replace").strip()[-1500:]
            raise ImageError(f"tar of {rootfs} failed (exit {rc}): {err}")


def image_labels(refs: Sequence[str], client: Any = None) -> dict[str, dict[str, str]]:
    """Labels of local images ``refs`` (docker SDK inspect; absent ones omitted)."""
    import docker.errors

    result: dict[str, dict[str, str]] = {}
    if not refs:
        return result
    api = client_of(client).api
    for ref in refs:
        try:
            attrs = api.inspect_image(ref)
        except docker.errors.NotFound:
            continue
        result[ref] = dict((attrs.get("Config") or {}).get("Labels") or {})
    return result


def sdk_build(api: Any, log: Path, **kwargs: Any) -> str | None:
    """Classic-builder build through the SDK, its output appended to ``log``.

    Returns None on success, else the builder's error message.
    """
    shown = {k: v for k, v in kwargs.items() if k != "fileobj"}
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ POST /build {shown}\n")
        error = None
        for chunk in api.build(rm=True, forcerm=True, pull=False, decode=True, **kwargs):
            if "stream" in chunk:
                fh.write(chunk["stream"])
            elif "error" in chunk:
                error = str(chunk["error"]).strip()
                fh.write(f"ERROR: {error}\n")
            elif "status" in chunk:
                fh.write(f"{chunk['status']}\n")
            fh.flush()
    return error


def image_version(api: Any, ref: str) -> str | None:
    """First line of :data:`VERSION_FILE` in ``ref`` (read from a created, never started,
    container through the archive API)."""
    import tarfile

    import docker.errors

    try:
        cid = api.create_container(ref, command=["true"], network_disabled=True)["Id"]
    except docker.errors.APIError:
        return None
    try:
        stream, _stat = api.get_archive(cid, VERSION_FILE)
        data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile(os.path.basename(VERSION_FILE))
            text = member.read().decode(errors="replace").strip() if member else ""
    except (docker.errors.APIError, tarfile.TarError, KeyError):
        return None
    finally:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(cid, force=True)
    return text.splitlines()[0].strip() if text else None
