"""Cached docker SDK client (imported lazily) and a non-hanging liveness check."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import TYPE_CHECKING

from stack.errors import EngineError

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "/var/run/docker.sock"
_client: docker.DockerClient | None = None


def socket_path() -> str | None:
    """Unix socket path the engine is expected on (``DOCKER_HOST`` honoured), else None."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return None


def engine_alive(timeout: float = 2.0) -> bool:
    """True when the engine answers ``GET /_ping`` within ``timeout`` seconds.

    Talks HTTP over the unix socket directly (no docker SDK import, never hangs).
    For a TCP ``DOCKER_HOST`` it falls back to the SDK's ping with the same timeout.
    """
    path = socket_path()
    if path is None:
        try:
            import docker

            c = docker.from_env(timeout=max(1, int(timeout)))
            try:
                return bool(c.ping())
            finally:
                c.close()
        except Exception:  # any failure means "not alive"
            return False
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while len(data) < 4096:
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/") and b" 200 " in data.split(b"\r\n", 1)[0] + b" "


def client() -> docker.DockerClient:
    """Process-wide docker SDK client; EngineError (with the fix) when unreachable."""
    global _client
    if _client is not None:
        return _client
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a core dependency
        raise EngineError(
            "the docker SDK is not installed", hint="pip install -e . (or pip install docker)"
        ) from exc
    if not engine_alive():
        where = os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
        raise EngineError(
            f"Docker engine not reachable at {where}",
            hint="invoke engine.ensure (installs/starts dockerd where possible)",
        )
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as exc:  # docker raises many types
        raise EngineError(
            f"Docker engine did not answer: {exc}", hint="invoke engine.ensure"
        ) from exc
    _client = c
    return c


def reset_client() -> None:
    """Forget the cached client (after the engine was (re)started)."""
    global _client
    if _client is not None:
        with contextlib.suppress(Exception):
            _client.close()
    _client = None
