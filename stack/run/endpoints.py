"""Rewrite values that name a dev middleware service to its published endpoint (pure).

A ``.env`` made by ``env.init`` holds the container defaults (``DB_HOST=db_postgres``,
``CELERY_BROKER_URL=redis://:pw@redis:6379/1``).  On the host those names do not
resolve; the dev middleware publishes each service on ``127.0.0.1:<EXPOSE_*>``.  The
rule, with no list of variables written anywhere:

* a **URL** value (``scheme://[user:pw@]host[:port]/...``) in any variable whose host is a
  planned service's container name gets ``127.0.0.1`` and the published port (the
  credentials and the path are kept);
* a **bare endpoint** (``host``, ``host:port``, ``host:port/path``) is rewritten the same
  way in variables whose name says they hold one (``*_HOST``, ``*_DSN``, ``*_ENDPOINT``,
  ``*_ADDRESS``, ``*_URI``, ``*_URL``): this keeps ``CELERY_BACKEND=redis`` or
  ``VECTOR_STORE=chroma`` (words, not hosts) untouched;
* the **companion port** ``<PREFIX>_PORT`` of a rewritten ``<PREFIX>_HOST`` (``DB_PORT``,
  ``REDIS_PORT``, ``PGVECTOR_PORT``...) becomes the published port when it holds the
  service's container port;
* a port other than the service's container port is not published in dev: the value is
  kept and the reason reported; a host that names anything else is the user's and kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

HOST = "127.0.0.1"
ENDPOINT_SUFFIXES = ("_HOST", "_DSN", "_ENDPOINT", "_ADDRESS", "_URI", "_URL")

URL_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/?#]*@)?"
    r"(?P<host>[^:/?#@\[\]]+)(?::(?P<port>[0-9]+))?(?P<rest>[/?#].*)?\Z",
    re.S,
)
BARE_RE = re.compile(
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<port>[0-9]+))?(?P<rest>/.*)?\Z", re.S
)


@dataclass(frozen=True)
class Endpoint:
    """A middleware service as the host sees it."""

    service: str
    container_port: int
    host_port: int
    host: str = HOST


@dataclass(frozen=True)
class Rewrite:
    """The outcome for one value: ``value`` is the new value (or the old one, kept)."""

    value: str
    service: str | None = None  # the service the old value named
    changed: bool = False
    note: str = ""


def is_endpoint_name(name: str) -> bool:
    return name.endswith(ENDPOINT_SUFFIXES)


def rewrite(name: str, value: str, endpoints: Mapping[str, Endpoint]) -> Rewrite:
    """Rewrite one value (see the module docstring)."""
    match = URL_RE.match(value)
    prefix = ""
    if match:
        prefix = match["scheme"] + (match["userinfo"] or "")
    elif is_endpoint_name(name):
        match = BARE_RE.match(value)
    if not match or match["host"] not in endpoints:
        return Rewrite(value)
    ep = endpoints[match["host"]]
    port = match["port"]
    if port is not None and int(port) != ep.container_port:
        return Rewrite(
            value,
            ep.service,
            note=f"port {port} of {ep.service} is not published in dev "
            f"(only {ep.container_port} is, on {ep.host}:{ep.host_port}); kept",
        )
    if port is None and not prefix:
        new = ep.host  # a bare host (DB_HOST): its port lives in the companion variable
    else:
        new = f"{prefix}{ep.host}:{ep.host_port}{match['rest'] or ''}"
    return Rewrite(new, ep.service, changed=new != value)


def companion_port(name: str) -> str | None:
    """``DB_PORT`` for ``DB_HOST``; ``None`` for names without the ``_HOST`` suffix."""
    return name[: -len("_HOST")] + "_PORT" if name.endswith("_HOST") else None


def rewrite_all(values: Mapping[str, str], endpoints: Mapping[str, Endpoint]) -> dict[str, Rewrite]:
    """Every rewrite that applies to ``values`` (changed ones and kept-with-a-note ones)."""
    out: dict[str, Rewrite] = {}
    for name, value in values.items():
        result = rewrite(name, value, endpoints)
        if result.service:
            out[name] = result
    for name, result in list(out.items()):
        port_var = companion_port(name)
        if not result.changed or not port_var or port_var not in values:
            continue
        ep = endpoints[result.service or ""]
        if values[port_var].strip() == str(ep.container_port):
            new = str(ep.host_port)
            out[port_var] = Rewrite(new, ep.service, changed=new != values[port_var])
    return out
