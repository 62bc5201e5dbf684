"""The per-process adapter pool of the reference backend (``stack.app.vectors.using``).

A fake adapter stands in for the store: these tests are about when connections are opened,
reused, dropped and never shared (across threads or a fork), not about any store.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from stack.app import vectors


class FakeStore:
    """Counts connects and create_collection calls; fails while ``broken`` is set."""

    made: ClassVar[list[FakeStore]] = []

    def __init__(self) -> None:
        self.collection: str | None = None
        self.creates = 0
        self.closed = False
        self.broken = False
        self.busy = threading.Lock()
        FakeStore.made.append(self)

    def create_collection(self, name: str, dim: int) -> None:
        self.creates += 1
        self.collection = name

    def work(self, value: Any = None) -> Any:
        if self.closed or self.broken:
            raise ConnectionError("server closed the connection unexpectedly")
        if not self.busy.acquire(blocking=False):
            raise AssertionError("one adapter used by two callers at once")
        try:
            return value
        finally:
            self.busy.release()

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    FakeStore.made = []
    vectors.reset(close=False)
    monkeypatch.setattr(vectors, "connect", lambda settings=None: FakeStore())
    yield
    vectors.reset(close=False)


def test_one_connection_and_one_create_collection_for_many_tasks() -> None:
    for n in range(5):
        assert vectors.using("coll_a", lambda s, n=n: s.work(n)) == n
    assert len(FakeStore.made) == 1 and FakeStore.made[0].creates == 1
    assert vectors.pooled() == {"coll_a": 1}


def test_each_collection_gets_its_own_bound_adapter() -> None:
    assert vectors.using("coll_a", lambda s: s.collection) == "coll_a"
    assert vectors.using("coll_b", lambda s: s.collection) == "coll_b"
    assert vectors.using("coll_a", lambda s: s.collection) == "coll_a"
    assert len(FakeStore.made) == 2
    assert vectors.pooled() == {"coll_a": 1, "coll_b": 1}


def test_a_stale_pooled_connection_is_replaced_and_the_work_retried() -> None:
    vectors.using("coll_a", lambda s: s.work())
    FakeStore.made[0].broken = True  # e.g. the store restarted
    assert vectors.using("coll_a", lambda s: s.work("ok")) == "ok"
    first, second = FakeStore.made
    assert first.closed and not second.closed and second.creates == 1
    assert vectors.pooled() == {"coll_a": 1}


def test_a_fresh_connection_that_fails_raises_and_is_not_pooled() -> None:
    def fail(store: Any) -> None:
        store.broken = True
        store.work()

    with pytest.raises(ConnectionError):
        vectors.using("coll_a", fail)
    assert len(FakeStore.made) == 1 and FakeStore.made[0].closed
    assert vectors.pooled() == {}


def test_a_failure_on_the_retry_is_raised_not_retried_forever() -> None:
    vectors.using("coll_a", lambda s: s.work())

    def always_fail(store: Any) -> None:
        raise ConnectionError("the store is down")

    with pytest.raises(ConnectionError, match="down"):
        vectors.using("coll_a", always_fail)
    assert len(FakeStore.made) == 2 and all(s.closed for s in FakeStore.made)
    assert vectors.pooled() == {}


def test_concurrent_callers_never_share_an_adapter() -> None:
    n = 6
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def hold(store: Any) -> None:
        with store.busy:  # a shared adapter: the second holder blocks, the barrier breaks
            barrier.wait(10)

    def run() -> None:
        try:
            vectors.using("coll_a", hold)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert len(FakeStore.made) == n  # all held at once: one adapter each
    assert vectors.pooled() == {"coll_a": vectors.MAX_IDLE}  # the rest were closed
    assert sum(s.closed for s in FakeStore.made) == n - vectors.MAX_IDLE


def _in_child(conn: Any) -> None:
    before = vectors.pooled()
    vectors.using("coll_a", lambda s: s.work())
    conn.send((before, len(FakeStore.made), [s.closed for s in FakeStore.made]))


def test_a_forked_child_starts_empty_and_leaves_the_parents_connection_alone() -> None:
    vectors.using("coll_a", lambda s: s.work())
    parent_conn, child_conn = multiprocessing.get_context("fork").Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_in_child, args=(child_conn,))
    proc.start()
    before, made, closed = parent_conn.recv()
    proc.join(20)
    assert before == {}  # the parent's adapter is not visible in the child
    assert made == 2 and closed == [False, False]  # a new one; the parent's was not closed
    assert vectors.pooled() == {"coll_a": 1} and not FakeStore.made[0].closed


def test_idle_connections_are_capped_oldest_collection_first() -> None:
    names = [f"coll_{i}" for i in range(vectors.MAX_IDLE_TOTAL + 2)]
    for name in names:
        vectors.using(name, lambda s: s.work())
    kept = vectors.pooled()
    assert sum(kept.values()) == vectors.MAX_IDLE_TOTAL
    assert list(kept) == names[2:]  # the two least recently used were closed
    assert [s.closed for s in FakeStore.made[:3]] == [True, True, False]
