"""Thin re-export: the endpoint resolution and the cached SDK client live in
:mod:`stack.dockerapi` (the bottom layer), so ``stack.images`` and ``stack.compose`` can use
them too.  Kept so ``from stack.engine.client import client, engine_alive`` keeps working.
"""

from __future__ import annotations

from stack.dockerapi import (
    DEFAULT_SOCKET,
    client,
    endpoint,
    engine_alive,
    engine_version,
    reset_client,
)
from stack.errors import EngineError


def socket_path() -> str | None:
    """Unix socket path of the resolved endpoint (DOCKER_HOST / context), else None."""
    try:
        return endpoint().socket_path
    except EngineError:
        return None


__all__ = [
    "DEFAULT_SOCKET",
    "client",
    "endpoint",
    "engine_alive",
    "engine_version",
    "reset_client",
    "socket_path",
]
