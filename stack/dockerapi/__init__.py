"""The Docker engine endpoint (DOCKER_HOST / docker context) and the SDK client for it.

Bottom layer (next to errors/paths): compose, images and engine all use it, so every docker
call of the toolkit -- SDK, CLI, compose, testcontainers -- reaches the same engine.
"""

from stack.dockerapi.endpoint import (
    DEFAULT_HOST,
    DEFAULT_SOCKET,
    Endpoint,
    endpoint,
    endpoint_env,
    engine_host,
    export_endpoint,
    resolve,
)
from stack.dockerapi.sdk import (
    client,
    engine_alive,
    engine_arch,
    engine_info,
    engine_version,
    new_client,
    reset_client,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_SOCKET",
    "Endpoint",
    "client",
    "endpoint",
    "endpoint_env",
    "engine_alive",
    "engine_arch",
    "engine_host",
    "engine_info",
    "engine_version",
    "export_endpoint",
    "new_client",
    "reset_client",
    "resolve",
]
