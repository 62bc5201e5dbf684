"""Pure image-reference parsing and registry-mirror rewriting (no docker needed).

``postgres:15-alpine`` is ``docker.io/library/postgres:15-alpine``; ``minio/minio:X`` is
``docker.io/minio/minio:X``; ``quay.io/coreos/etcd:v3.5.5`` lives on ``quay.io``.  A mirror
mapping ``{"docker.io": "mirror.local:5000/dockerhub"}`` rewrites Docker Hub refs to
``mirror.local:5000/dockerhub/library/postgres:15-alpine`` and leaves other registries alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from stack.errors import ImageError

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
ENV_VAR = "STACK_REGISTRY_MIRRORS"


class Ref(NamedTuple):
    """A parsed image reference."""

    registry: str
    path: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_ref(ref: str) -> Ref:
    """Split ``ref`` into registry, repository path, tag and digest (Docker's rules)."""
    text = ref.strip()
    if not text or any(ch.isspace() for ch in text):
        raise ImageError(f"invalid image reference {ref!r}")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not digest:
            raise ImageError(f"invalid image reference {ref!r}: empty digest")
    first, sep, remainder = text.partition("/")
    if sep and _looks_like_registry(first):
        registry, rest = first, remainder
    else:
        registry, rest = DOCKER_HUB, text
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not tag:
            raise ImageError(f"invalid image reference {ref!r}: empty tag")
    if not rest:
        raise ImageError(f"invalid image reference {ref!r}: empty repository")
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in rest:
            rest = f"library/{rest}"
    return Ref(registry, rest, tag, digest)


def rewrite(ref: str, mirrors: Mapping[str, str]) -> str:
    """``ref`` pulled through the mirror for its registry; unchanged if none is mapped."""
    if not mirrors:
        return ref
    parsed = parse_ref(ref)
    prefix = mirrors.get(parsed.registry)
    if not prefix:
        return ref
    text = f"{prefix.rstrip('/')}/{parsed.path}"
    if parsed.tag:
        text += f":{parsed.tag}"
    if parsed.digest:
        text += f"@{parsed.digest}"
    return text


def parse_mirrors(value: str, *, source: str = ENV_VAR) -> dict[str, str]:
    """Parse ``"docker.io=host/prefix,quay.io=host2"`` (commas or whitespace separate)."""
    result: dict[str, str] = {}
    bad: list[str] = []
    for item in value.replace("\n", ",").replace(" ", ",").split(","):
        item = item.strip()
        if not item:
            continue
        registry, sep, prefix = item.partition("=")
        registry, prefix = registry.strip(), prefix.strip().rstrip("/")
        if not sep or not registry or not prefix or "/" in registry or "://" in prefix:
            bad.append(item)
            continue
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
        result[registry] = prefix
    if bad:
        raise ImageError(
            f"{source}: malformed entr{'y' if len(bad) == 1 else 'ies'} "
            + ", ".join(repr(b) for b in bad),
            hint=f"use {source}=docker.io=mirror.example:5000/dockerhub,quay.io=mirror.example/quay"
            " (registry host = mirror prefix, no scheme)",
        )
    return result


def mirrors_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Mirror mapping from ``STACK_REGISTRY_MIRRORS`` in ``environ`` (empty if unset)."""
    return parse_mirrors(environ.get(ENV_VAR, ""))
