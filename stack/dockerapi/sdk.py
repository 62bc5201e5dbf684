"""The process-wide docker SDK client for the resolved endpoint, and a non-hanging ping.

``engine_alive`` speaks HTTP over the unix socket (or plain TCP) itself, so it neither imports
the docker SDK nor hangs on a socket that accepts but never answers; TLS and ssh endpoints
fall back to the SDK's ping with the same timeout.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import TYPE_CHECKING, Any

from stack.dockerapi.endpoint import Endpoint, endpoint
from stack.errors import EngineError

if TYPE_CHECKING:
    import docker

_lock = threading.Lock()
_client: docker.DockerClient | None = None
_client_ep: Endpoint | None = None
_info: dict[Endpoint, dict[str, Any]] = {}


def _raw_get(ep: Endpoint, path: str, timeout: float) -> tuple[int, bytes] | None:
    """``(status, body)`` of ``GET path`` over unix/plain TCP; None when not applicable."""
    if ep.socket_path is not None:
        family: int = socket.AF_UNIX
        addr: Any = ep.socket_path
    elif ep.address is not None and not ep.tls:
        family, addr = socket.AF_INET, ep.address
        with contextlib.suppress(OSError):
            family = socket.getaddrinfo(*ep.address, type=socket.SOCK_STREAM)[0][0]
    else:
        return None
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(addr)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b"\r\n", 1)[0].split()[1])
    except (IndexError, ValueError):
        return 0, b""
    return status, body


def engine_alive(timeout: float = 2.0) -> bool:
    """True when the resolved engine answers ``GET /_ping`` within ``timeout`` seconds."""
    try:
        ep = endpoint()
    except EngineError:
        return False
    try:
        got = _raw_get(ep, "/_ping", timeout)
    except OSError:
        return False
    if got is not None:
        return got[0] == 200
    try:
        c = new_client(timeout=max(1, int(timeout)), ep=ep)
        try:
            return bool(c.ping())
        finally:
            c.close()
    except Exception:  # any failure means "not alive"
        return False


def engine_version(timeout: float = 3.0) -> tuple[str, str]:
    """``(Version, ApiVersion)`` of the engine, ``("?", "?")`` when it does not say."""
    try:
        ep = endpoint()
        got = _raw_get(ep, "/version", timeout)
        data: dict[str, Any] = {}
        if got is None:
            data = dict(client().version())
        elif got[0] == 200:
            data = json.loads(got[1])
    except (OSError, ValueError, EngineError):
        return "?", "?"
    return str(data.get("Version", "?")), str(data.get("ApiVersion", "?"))


def new_client(*, timeout: int | None = 120, ep: Endpoint | None = None) -> docker.DockerClient:
    """A new SDK client for ``ep`` (default: the resolved endpoint); the caller closes it."""
    import docker

    ep = ep or endpoint()
    return docker.from_env(
        environment=ep.env(),
        timeout=timeout if timeout is not None else 24 * 3600,
        use_ssh_client=ep.scheme == "ssh",
    )


def client() -> docker.DockerClient:
    """Process-wide SDK client of the resolved endpoint; EngineError (with the fix) if none."""
    global _client, _client_ep
    ep = endpoint()
    with _lock:
        if _client is not None and _client_ep == ep:
            return _client
    try:
        import docker  # noqa: F401
    except ImportError as exc:  # pragma: no cover - docker is a core dependency
        raise EngineError(
            "the docker SDK is not installed", hint="pip install -e . (or pip install docker)"
        ) from exc
    if not engine_alive():
        raise EngineError(
            f"Docker engine not reachable at {ep.describe()}",
            hint="invoke engine.ensure (installs/starts dockerd where possible); "
            "docker context ls shows the configured engines",
        )
    try:
        c = new_client(ep=ep)
        c.ping()
    except Exception as exc:  # docker raises many types
        raise EngineError(
            f"Docker engine at {ep.describe()} did not answer: {exc}", hint="invoke engine.ensure"
        ) from exc
    with _lock:
        old, _client, _client_ep = _client, c, ep
    if old is not None:
        with contextlib.suppress(Exception):
            old.close()
    return c


def reset_client() -> None:
    """Forget the cached client and engine facts (after the engine was (re)started)."""
    global _client, _client_ep
    with _lock:
        old, _client, _client_ep = _client, None, None
        _info.clear()
    if old is not None:
        with contextlib.suppress(Exception):
            old.close()


def engine_info() -> dict[str, Any]:
    """``GET /info`` of the engine (cached per endpoint)."""
    ep = endpoint()
    if ep not in _info:
        _info[ep] = dict(client().info())
    return _info[ep]


#: The engine's ``Architecture`` (uname -m of its kernel) -> the Linux wheel/platform name.
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def engine_arch() -> str:
    """Machine architecture of the engine's Linux host: ``x86_64`` or ``aarch64`` (or as is)."""
    arch = str(engine_info().get("Architecture") or "").lower()
    return _ARCH.get(arch, arch or "x86_64")
