"""Which Docker engine to talk to: resolved once, handed to the SDK, the CLI, compose, tests.

The docker SDK reads only ``DOCKER_HOST``; the CLI and compose also honour ``docker context``.
On Docker Desktop, Colima, OrbStack or rootless Docker the engine is usually reached through
a context, so the SDK alone would talk to another engine (or none).  This module resolves the
endpoint the way the docker CLI does and everything else is given that one answer:

1. ``DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH``);
2. else the context named by ``DOCKER_CONTEXT``, else ``currentContext`` in
   ``$DOCKER_CONFIG/config.json`` (``DOCKER_CONFIG`` defaults to ``~/.docker``); its endpoint
   is ``$DOCKER_CONFIG/contexts/meta/<sha256(name)>/meta.json`` -> ``Endpoints.docker.Host``,
   its TLS files ``$DOCKER_CONFIG/contexts/tls/<sha256(name)>/docker/``;
3. else the default socket.

Subprocesses (CLI, compose) and testcontainers get :meth:`Endpoint.env` (``DOCKER_HOST`` wins
over any context in the docker CLI, so they cannot diverge).  Pure: no docker import.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stack.errors import EngineError

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = (
    "npipe:////./pipe/docker_engine" if sys.platform == "win32" else f"unix://{DEFAULT_SOCKET}"
)
#: Variables that decide the endpoint (the resolution is cached per combination of them).
ENV_KEYS = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH", "HOME")  # fmt: skip
_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    """One Docker engine endpoint and where the choice came from."""

    host: str  # in DOCKER_HOST form: unix:///path, tcp://host:port, ssh://..., npipe://...
    source: str  # "DOCKER_HOST", "context NAME (FILE)", "default socket"
    context: str = "default"
    cert_path: str = ""  # directory with ca.pem / cert.pem / key.pem
    tls_verify: bool = False

    @property
    def scheme(self) -> str:
        """``unix``, ``tcp``, ``ssh``, ``npipe``... (``tcp`` for ``http``/``https``)."""
        scheme = self.host.split("://", 1)[0].lower() if "://" in self.host else "tcp"
        return "tcp" if scheme in ("http", "https") else scheme

    @property
    def socket_path(self) -> str | None:
        """The unix socket path, or None for any other transport."""
        if self.scheme != "unix":
            return None
        return self.host.split("://", 1)[1] or DEFAULT_SOCKET

    @property
    def tls(self) -> bool:
        """True when TLS material is used (verified or not)."""
        return bool(self.cert_path) or self.tls_verify

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` of a TCP endpoint (port defaults: 2376 with TLS, else 2375)."""
        if self.scheme != "tcp":
            return None
        url = urlsplit(self.host if "://" in self.host else f"tcp://{self.host}")
        return url.hostname or _LOOPBACK, url.port or (2376 if self.tls else 2375)

    @property
    def hostname(self) -> str:
        """Where ports the engine publishes are reached from here (not always 127.0.0.1)."""
        if self.scheme in ("tcp", "ssh"):
            name = urlsplit(self.host).hostname or _LOOPBACK
            return _LOOPBACK if name in ("localhost", "0.0.0.0", "::", "") else name
        return _LOOPBACK

    @property
    def is_local_default(self) -> bool:
        """True for the local default socket (the only engine ``engine.ensure`` may start)."""
        return self.socket_path == DEFAULT_SOCKET

    def env(self) -> dict[str, str]:
        """Variables that make the CLI, compose, the SDK and testcontainers use this endpoint."""
        env = {"DOCKER_HOST": self.host}
        if self.cert_path:
            env["DOCKER_CERT_PATH"] = self.cert_path
        if self.tls_verify:
            env["DOCKER_TLS_VERIFY"] = "1"
        elif self.cert_path:
            env["DOCKER_TLS"] = "1"  # the CLI's "TLS without verification"
        return env

    def describe(self) -> str:
        """``unix:///var/run/docker.sock (default socket)``."""
        return f"{self.host} ({self.source})"


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$DOCKER_CONFIG`` or ``~/.docker``."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker"


def context_dir_name(name: str) -> str:
    """The directory name of context ``name`` in the context store (sha256 of the name)."""
    return hashlib.sha256(name.encode()).hexdigest()


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise EngineError(
            f"{path}: cannot read the docker configuration: {exc}",
            hint=f"fix or remove {path} (docker context use default resets the context)",
        ) from None
    if not isinstance(data, dict):
        raise EngineError(f"{path}: expected a JSON object", hint=f"fix or remove {path}")
    return data


def current_context(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(name, where it was chosen)``: DOCKER_CONTEXT, config.json, or the default."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    cfg = config_dir(env) / "config.json"
    name = _read_json(cfg).get("currentContext") or ""
    if name:
        return str(name), str(cfg)
    return "default", "default"


def _from_context(name: str, chosen_by: str, cfg: Path) -> Endpoint:
    digest = context_dir_name(name)
    meta = cfg / "contexts" / "meta" / digest / "meta.json"
    data = _read_json(meta)
    if not data:
        raise EngineError(
            f"docker context {name!r} (chosen by {chosen_by}) does not exist: no {meta}",
            hint="docker context ls; docker context use default (or unset DOCKER_CONTEXT)",
        )
    docker = (data.get("Endpoints") or {}).get("docker") or {}
    host = str(docker.get("Host") or "")
    if not host:
        raise EngineError(
            f"{meta}: docker context {name!r} has no Endpoints.docker.Host",
            hint=f"docker context update {name} --docker host=unix:///path/to/docker.sock",
        )
    tls_dir = cfg / "contexts" / "tls" / digest / "docker"
    cert_path = str(tls_dir) if (tls_dir / "ca.pem").is_file() else ""
    skip = bool(docker.get("SkipTLSVerify"))
    return Endpoint(
        host=host,
        source=f"context {name} ({meta})",
        context=name,
        cert_path=cert_path,
        tls_verify=bool(cert_path) and not skip,
    )


def resolve(environ: Mapping[str, str] | None = None) -> Endpoint:
    """The endpoint the docker CLI would use with ``environ`` (default: this process)."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0", "false")
        return Endpoint(
            host=env["DOCKER_HOST"],
            source="DOCKER_HOST",
            cert_path=env.get("DOCKER_CERT_PATH") or (str(config_dir(env)) if verify else ""),
            tls_verify=verify,
        )
    name, chosen_by = current_context(env)
    if name == "default":
        return Endpoint(host=DEFAULT_HOST, source="default socket")
    return _from_context(name, chosen_by, config_dir(env))


_cache: dict[tuple[str, ...], Endpoint] = {}


def endpoint() -> Endpoint:
    """:func:`resolve` for this process, cached per value of :data:`ENV_KEYS`."""
    key = tuple(os.environ.get(k, "") for k in ENV_KEYS)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = resolve()
    return found


def endpoint_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with the resolved endpoint's variables.

    For subprocesses: the docker CLI and compose then use exactly the engine the SDK uses.
    ``DOCKER_CONTEXT`` is dropped (``DOCKER_HOST`` already decides).
    """
    base = dict(os.environ if environ is None else environ)
    ep = resolve(base) if environ is not None else endpoint()
    base.pop("DOCKER_CONTEXT", None)
    base.update(ep.env())
    return base


def export_endpoint(environ: dict[str, str] | None = None) -> Endpoint:
    """Set ``DOCKER_HOST`` (and TLS variables) in ``environ`` (default ``os.environ``).

    For libraries that read only ``DOCKER_HOST`` (testcontainers, a plain ``docker.from_env``).
    """
    env: dict[str, str] | os._Environ[str] = os.environ if environ is None else environ
    ep = resolve(env)
    env.pop("DOCKER_CONTEXT", None)
    env.update(ep.env())
    return ep


def engine_host() -> str:
    """Address of the engine's host for published ports (127.0.0.1 for a local socket)."""
    try:
        return endpoint().hostname
    except EngineError:
        return _LOOPBACK
