"""The vector-store catalog: one :class:`StoreSpec` per supported ``VECTOR_STORE`` value.

A spec says which image runs the store (a *name* in :mod:`stack.images.catalog`, whose pin is
the single truth), how testcontainers starts it (the ``testcontainers.community`` module of
testcontainers 4.15), which container port clients talk to, how readiness is decided (the
catalog's own wait: an HTTP health endpoint or ``pg_isready``, always followed by a real query
through the adapter, because a stand-in need not print the log line a module waits for) and
which adapter class speaks to it.

The store's port and health path are not written here: they are the ``x-stack-dev`` hint of
its service in the production template (:mod:`stack.compose.hints`), the same values the
template's healthcheck and the dev middleware use; :attr:`StoreSpec.port` and
:attr:`StoreSpec.wait` read them (lazily, on first use).

Adding a store = one entry in :data:`SPECS` plus one module in ``stack/stores/adapters/``.
Nothing here imports docker, testcontainers or a client library at import time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stack.compose.hints import Hint, for_profile, template_hints
from stack.errors import StoreError

if TYPE_CHECKING:
    from stack.stores.contract import VectorStore


@dataclass(frozen=True)
class Wait:
    """Readiness probe run against the started container.

    ``kind`` is ``"http"`` (GET ``path`` on ``port`` answers 200), ``"exec"`` (``command``
    exits 0 inside the container) or ``"tcp"`` (``port`` accepts a connection).  The adapter's
    ``ping()`` (a real query) always runs afterwards.
    """

    kind: str
    port: int
    path: str = "/"
    command: tuple[str, ...] = ()
    timeout: float = 120.0

    def describe(self) -> str:
        """Human-readable form for messages and docs."""
        if self.kind == "http":
            return f"HTTP GET :{self.port}{self.path} -> 200, then a real query"
        if self.kind == "exec":
            return f"exec {' '.join(self.command)} -> 0, then a real query"
        return f"TCP :{self.port}, then a real query"


@dataclass(frozen=True)
class StoreSpec:
    """Everything the toolkit knows about one vector store."""

    name: str  # the VECTOR_STORE value (= the template profile)
    image: str  # key in stack.images.catalog.IMAGES
    module: str  # "testcontainers.community.<x>:<Class>"
    adapter: str  # "stack.stores.adapters.<x>:<Class>"
    probe: str = "http"  # "http" (the hint's health path), "exec" (pg_isready) or "tcp"
    timeout: float = 120.0
    required: bool = False  # must pass here (a skip fails CI / --require)
    full_text: bool = True  # search_by_full_text supported
    module_kwargs: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    command: str | None = None  # override the module's command, if any
    connect: Mapping[str, Any] = field(default_factory=dict)  # extra adapter kwargs
    adapter_ports: tuple[int, ...] = ()  # further ports the adapter needs mapped (gRPC...)

    def hint(self, all_hints: Mapping[str, Hint] | None = None) -> Hint:
        """The template service's ``x-stack-dev`` hint (default: the repository template)."""
        found = for_profile(template_hints() if all_hints is None else all_hints, self.name)
        if found is None:
            raise StoreError(
                f"{self.name}: no template service with profile {self.name} and an "
                "x-stack-dev port",
                hint="add the service to compose/docker-compose-template.yaml (see "
                "CONTRIBUTING.md, Adding a vector store)",
            )
        if self.probe == "http" and not found.health:
            raise StoreError(
                f"{self.name}: service {found.service} has no x-stack-dev health path",
                hint="add `health: &<name>-health /path` to its x-stack-dev hint",
            )
        return found

    @property
    def port(self) -> int:
        """The container port clients use."""
        return self._port(None)

    def _port(self, all_hints: Mapping[str, Hint] | None) -> int:
        port = self.hint(all_hints).port
        assert port is not None  # for_profile only returns hints with a port
        return port

    @property
    def wait(self) -> Wait:
        """The readiness probe (derived from the template hint)."""
        return self.wait_for()

    def wait_for(self, all_hints: Mapping[str, Hint] | None = None) -> Wait:
        """The readiness probe derived from ``all_hints`` (default: the template's)."""
        hint = self.hint(all_hints)
        port = self._port(all_hints)
        if self.probe == "exec":
            command = ("pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER)
            return Wait("exec", port, command=command, timeout=self.timeout)
        if self.probe == "tcp":
            return Wait("tcp", port, timeout=self.timeout)
        return Wait("http", hint.probe_port or port, hint.health or "/", timeout=self.timeout)

    @property
    def extra_ports(self) -> tuple[int, ...]:
        """Ports mapped besides :attr:`port`: the adapter's, and the health port."""
        probe = self.wait.port
        extra = tuple(p for p in self.adapter_ports if p != self.port)
        return extra if probe in (self.port, *extra) else (*extra, probe)

    def container(self, image_ref: str) -> Any:
        """A not-yet-started testcontainers container for ``image_ref`` (lazy import)."""
        cls = _load(self.module)
        c = cls(image_ref, **dict(self.module_kwargs))
        for key, value in self.env.items():
            c.with_env(key, value)
        if self.command is not None:
            c.with_command(self.command)
        return c

    def adapter_class(self) -> type[VectorStore]:
        """The adapter class (imports its module, not yet the client library)."""
        cls: type[VectorStore] = _load(self.adapter)
        return cls

    def connect_adapter(self, host: str, ports: Mapping[int, int]) -> VectorStore:
        """An adapter instance talking to ``host`` with container->host ``ports`` mapping."""
        return self.adapter_class().from_endpoint(host, ports, **dict(self.connect))


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


PG_USER, PG_PASSWORD, PG_DB = "stack", "stack-test-pw", "stack"

SPECS: dict[str, StoreSpec] = {
    spec.name: spec
    for spec in (
        StoreSpec(
            name="pgvector",
            image="pgvector",
            module="testcontainers.community.postgres:PostgresContainer",
            module_kwargs={
                "username": PG_USER,
                "password": PG_PASSWORD,
                "dbname": PG_DB,
                "driver": None,
            },
            probe="exec",
            adapter="stack.stores.adapters.pgvector:PgvectorStore",
            connect={"user": PG_USER, "password": PG_PASSWORD, "dbname": PG_DB},
            required=True,
        ),
        StoreSpec(
            name="chroma",
            image="chroma",
            module="testcontainers.community.chroma:ChromaContainer",
            adapter="stack.stores.adapters.chroma:ChromaStore",
            required=True,
        ),
        StoreSpec(
            name="milvus",
            image="milvus",
            module="testcontainers.community.milvus:MilvusContainer",
            timeout=180.0,
            adapter="stack.stores.adapters.milvus:MilvusStore",
            required=True,
            full_text=False,  # BM25 full text arrived in Milvus 2.5; the pin is 2.3.5
        ),
        StoreSpec(
            name="qdrant",
            image="qdrant",
            module="testcontainers.community.qdrant:QdrantContainer",
            adapter_ports=(6334,),  # gRPC
            adapter="stack.stores.adapters.qdrant:QdrantStore",
        ),
        StoreSpec(
            name="weaviate",
            image="weaviate",
            module="testcontainers.community.weaviate:WeaviateContainer",
            adapter_ports=(50051,),  # gRPC
            adapter="stack.stores.adapters.weaviate:WeaviateStore",
        ),
        StoreSpec(
            name="elasticsearch",
            image="elasticsearch",
            module="testcontainers.community.elasticsearch:ElasticSearchContainer",
            env={
                "discovery.type": "single-node",
                "xpack.security.enabled": "false",
                "ES_JAVA_OPTS": "-Xms512m -Xmx512m",
            },
            timeout=180.0,
            adapter="stack.stores.adapters.elasticsearch:ElasticsearchStore",
        ),
        StoreSpec(
            name="opensearch",
            image="opensearch",
            module="testcontainers.community.opensearch:OpenSearchContainer",
            module_kwargs={"security_enabled": False},
            env={"OPENSEARCH_JAVA_OPTS": "-Xms512m -Xmx512m"},
            timeout=180.0,
            adapter="stack.stores.adapters.opensearch:OpenSearchStore",
        ),
    )
}

#: Store names in catalog order; nox and pytest both read this constant.
STORES: tuple[str, ...] = tuple(SPECS)

#: Stores that must pass on this machine (a skip fails the run under CI / --require).
REQUIRED: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.required)


def get(name: str) -> StoreSpec:
    """The spec for ``name``; StoreError listing the known stores otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise StoreError(
            f"unknown vector store {name!r}",
            hint=f"use one of: {', '.join(STORES)}",
        ) from None


def select(names: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """Parse a selection (``"a,b"`` or a list; empty/None = all) into catalog order.

    All unknown names are reported at once.
    """
    if names is None:
        return list(STORES)
    items = (
        names.split(",")
        if isinstance(names, str)
        else [part for n in names for part in n.split(",")]
    )
    wanted = [n.strip() for n in items if n.strip()]
    if not wanted:
        return list(STORES)
    unknown = [n for n in wanted if n not in SPECS]
    if unknown:
        raise StoreError(
            f"unknown vector store(s): {', '.join(unknown)}",
            hint=f"use one of: {', '.join(STORES)}",
        )
    return [n for n in STORES if n in wanted]


def adapter_factory(name: str) -> Callable[..., VectorStore]:
    """Shortcut used by :mod:`stack.app`: the adapter's ``from_endpoint`` for ``name``."""
    return get(name).adapter_class().from_endpoint
