"""The vector store chosen by ``VECTOR_STORE``, through the :mod:`stack.stores` adapters.

Adapters bind one collection at a time, so each operation opens its own adapter
(:func:`open_store`) instead of sharing one between greenlets or threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stack.app import config
from stack.app.embed import DIM


def connect(settings: config.Settings | None = None) -> Any:
    """A new, unbound adapter for the configured store (connection settings from the env)."""
    from stack.stores.catalog import get

    s = settings or config.current()
    cls: Any = get(s.vector_store).adapter_class()
    o = dict(s.store_options)
    if s.vector_store == "pgvector":
        return cls.from_endpoint(
            o["host"], {5432: o["port"]}, user=o["user"], password=o["password"], dbname=o["dbname"]
        )
    if s.vector_store == "chroma":
        host, port = o.pop("host"), o.pop("port")
        return cls.from_endpoint(host, {8000: port}, **o)
    # milvus: the URI as given (MILVUS_URI), plus token / user+password / db_name
    uri, token = o.pop("uri"), o.pop("token")
    return cls(uri, token, **o)


@contextmanager
def open_store(collection: str | None = None) -> Iterator[Any]:
    """An adapter bound to ``collection`` (created with :data:`DIM` if new), closed afterwards."""
    store = connect()
    try:
        if collection is not None:
            store.create_collection(collection, DIM)
        yield store
    finally:
        # closing a broken connection must not hide the real error
        with contextlib.suppress(Exception):
            store.close()


def ping() -> None:
    """A real (cheap) query against the store."""
    with open_store() as store:
        store.ping()
