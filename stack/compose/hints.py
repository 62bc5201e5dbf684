"""The ``x-stack-dev`` hints of the production template, read as data (pure but for
:func:`template_hints`, which reads the repository's template once per process).

A hint says, for one service, which container port clients use (``port``), which
definitions variable holds the dev host port (``expose``), the URL scheme (``scheme``),
whether dev may leave it out (``optional``) and, for a vector store, how readiness is
probed: the HTTP path (``health``) on ``health-port`` (default: ``port``).

These are the single source of a store's port and health path.  The template's own
healthcheck takes them through YAML aliases (``port: &qdrant-port "6333"`` ... ``test:
[..., *qdrant-port, *qdrant-health]``), the dev middleware reads the hint, and the vector
store catalog (:mod:`stack.stores.catalog`) derives its ports and waits from it, so a
changed port moves all three.  An aliased port is a YAML string because compose wants
strings in a healthcheck's argv; :class:`Hint` turns it back into a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from stack.errors import TemplateError

HINT_KEY = "x-stack-dev"
KNOWN_KEYS = frozenset({"port", "expose", "scheme", "optional", "health", "health-port"})


@dataclass(frozen=True)
class Hint:
    """One service's ``x-stack-dev`` hint, with the service's image and profiles."""

    service: str
    image: str
    profiles: tuple[str, ...]
    port: int | None = None
    expose: str | None = None
    scheme: str | None = None
    optional: bool = False
    health: str | None = None
    health_port: int | None = None

    @property
    def probe_port(self) -> int | None:
        """The port the health path is asked on."""
        return self.health_port or self.port


def raw_template(text: str) -> dict[str, Any]:
    """The template as YAML data (aliases resolved), its anchor line made an empty map."""
    import yaml

    from stack.compose.render import ANCHOR_RE

    fixed = ANCHOR_RE.sub("x-shared-env: &shared-api-worker-env {}\n", text, count=1)
    data = yaml.safe_load(fixed)
    return data if isinstance(data, dict) else {}


def _port(service: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    text = str(value)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise TemplateError(
            f"service {service}: {HINT_KEY}.{key} is {value!r}, not a port (1-65535)",
            hint="fix compose/docker-compose-template.yaml",
        )
    return int(text)


def hint_of(service: str, svc: Mapping[str, Any]) -> Hint | None:
    """The hint of one template service (``None`` when it has none)."""
    raw = svc.get(HINT_KEY)
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise TemplateError(f"service {service}: {HINT_KEY} must be a mapping")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise TemplateError(
            f"service {service}: unknown {HINT_KEY} key(s) {', '.join(unknown)}",
            hint="known: " + ", ".join(sorted(KNOWN_KEYS)),
        )
    health = raw.get("health")
    if health is not None and not str(health).startswith("/"):
        raise TemplateError(f"service {service}: {HINT_KEY}.health must be a path (/...)")
    return Hint(
        service=service,
        image=str(svc.get("image", "")),
        profiles=tuple(str(p) for p in svc.get("profiles") or ()),
        port=_port(service, "port", raw.get("port")),
        expose=raw.get("expose"),
        scheme=raw.get("scheme"),
        optional=bool(raw.get("optional", False)),
        health=str(health) if health is not None else None,
        health_port=_port(service, "health-port", raw.get("health-port")),
    )


def hints(text: str) -> dict[str, Hint]:
    """Every service's hint, in template order."""
    out: dict[str, Hint] = {}
    for name, svc in (raw_template(text).get("services") or {}).items():
        if isinstance(svc, Mapping):
            hint = hint_of(str(name), svc)
            if hint is not None:
                out[str(name)] = hint
    return out


@cache
def template_hints() -> dict[str, Hint]:
    """The hints of the repository's template (read once per process)."""
    from stack import paths

    return hints(paths.TEMPLATE.read_text(encoding="utf-8"))


def for_profile(all_hints: Mapping[str, Hint], profile: str) -> Hint | None:
    """The service behind ``profile`` that clients talk to (the one with a ``port``)."""
    for hint in all_hints.values():
        if profile in hint.profiles and hint.port is not None:
            return hint
    return None
