"""The vector store chosen by ``VECTOR_STORE``, through the :mod:`stack.stores` adapters.

Adapters bind one collection at a time and a connection serves one caller at a time, so
the process keeps a small pool of idle adapters per collection (:func:`using`): a caller
checks one out (or connects and calls ``create_collection`` once, when the pool is empty),
uses it alone and gives it back.  A connection, ``create_collection`` and its DDL are thus
paid once per pooled adapter, not once per task.  An adapter whose operation raised is
closed, never pooled again; a reused one that fails is retried once on a fresh connection
(a server restart leaves stale connections behind).  The pool belongs to the process that
filled it: after a fork (prefork pool, gunicorn workers) the child starts empty and never
touches the parent's sockets.  Greenlets and threads are safe: each holds its own adapter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from stack.app import config
from stack.app.embed import DIM

log = logging.getLogger("stack.app.vectors")
T = TypeVar("T")

#: Idle adapters kept per collection, and in all (each holds a server connection; the least
#: recently used collection's are closed first).
MAX_IDLE = 4
MAX_IDLE_TOTAL = 8

_lock = threading.Lock()
_pid = os.getpid()
_idle: OrderedDict[str, list[Any]] = OrderedDict()


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


def _close(store: Any) -> None:
    # closing a broken connection must not hide the real error
    with contextlib.suppress(Exception):
        store.close()


@contextmanager
def open_store(collection: str | None = None) -> Iterator[Any]:
    """A new adapter bound to ``collection`` (created with :data:`DIM` if new), closed
    afterwards (for one-off work; tasks and requests use :func:`using`)."""
    store = connect()
    try:
        if collection is not None:
            store.create_collection(collection, DIM)
        yield store
    finally:
        _close(store)


def _forget_if_forked() -> None:
    """In a forked child: drop the parent's adapters without closing their sockets."""
    global _pid
    if os.getpid() != _pid:
        _idle.clear()
        _pid = os.getpid()


def _checkout(collection: str) -> tuple[Any, bool]:
    """An idle adapter bound to ``collection`` (reused=True) or a new one (reused=False)."""
    with _lock:
        _forget_if_forked()
        idle = _idle.get(collection)
        if idle:
            _idle.move_to_end(collection)
            return idle.pop(), True
    store = connect()
    try:
        store.create_collection(collection, DIM)
    except BaseException:
        _close(store)
        raise
    return store, False


def _checkin(collection: str, store: Any) -> None:
    evicted: list[Any] = []
    with _lock:
        _forget_if_forked()
        idle = _idle.setdefault(collection, [])
        _idle.move_to_end(collection)
        if len(idle) < MAX_IDLE:
            idle.append(store)
        else:
            evicted.append(store)
        while sum(map(len, _idle.values())) > MAX_IDLE_TOTAL:
            oldest = next(iter(_idle))
            evicted.append(_idle[oldest].pop(0))
            if not _idle[oldest]:
                del _idle[oldest]
    for old in evicted:
        _close(old)


def using(collection: str, work: Callable[[Any], T]) -> T:
    """``work(adapter)`` with a pooled adapter bound to ``collection``; ``work`` must be
    safe to repeat (it is retried once on a fresh connection if a reused adapter failed)."""
    for attempt in (1, 2):
        store, reused = _checkout(collection)
        try:
            result = work(store)
        except Exception as exc:
            _close(store)  # never pool an adapter in an unknown state
            if not reused or attempt == 2:
                raise
            log.warning("vector store: a pooled connection failed (%s); reconnecting", exc)
            with _lock:
                stale = _idle.pop(collection, [])  # its siblings are likely stale too
            for old in stale:
                _close(old)
            continue
        _checkin(collection, store)
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def reset(close: bool = True) -> None:
    """Forget every pooled adapter (``close=False`` in a forked child: not its sockets)."""
    global _pid
    with _lock:
        stores = [s for idle in _idle.values() for s in idle]
        _idle.clear()
        _pid = os.getpid()
    if close:
        for store in stores:
            _close(store)


def pooled() -> dict[str, int]:
    """Idle adapters per collection in this process (for tests and debugging)."""
    with _lock:
        _forget_if_forked()
        return {name: len(idle) for name, idle in _idle.items()}


def ping() -> None:
    """A real (cheap) query against the store, on a new connection."""
    with open_store() as store:
        store.ping()
