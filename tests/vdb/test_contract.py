"""The one contract suite: runs unchanged against every store in the catalog.

Vectors are small (dim 8) and built so that each document's own vector is its nearest
neighbour; every test works in a fresh, uniquely named collection that is dropped afterwards.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from stack.errors import NotSupported, StoreError
from stack.stores.catalog import get
from stack.stores.contract import Document, VectorStore

DIM = 8


def unit(i: int, dim: int = DIM) -> list[float]:
    """A deterministic, well-separated unit vector for document ``i``."""
    v = [math.sin((i + 1) * (k + 1) * 0.7) + (2.0 if k == i % dim else 0.0) for k in range(dim)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


WORDS = ["apple", "banana", "cherry", "durian", "elder", "fig", "grape", "honeydew"]


def corpus(n: int = 20) -> list[Document]:
    """``n`` documents: unique text, two metadata groups, a numeric field."""
    return [
        Document(
            id=f"doc-{i}",
            text=f"{WORDS[i % len(WORDS)]} number {i} in the orchard",
            vector=unit(i),
            metadata={"group": "even" if i % 2 == 0 else "odd", "n": i},
        )
        for i in range(n)
    ]


@pytest.fixture
def store(running_store: Any) -> Iterator[VectorStore]:
    """An adapter bound to a fresh collection of dimension 8."""
    adapter = running_store.connect()
    adapter.create_collection(f"c{secrets.token_hex(4)}", DIM)
    try:
        yield adapter
    finally:
        try:
            adapter.drop()
        finally:
            adapter.close()


@pytest.fixture
def loaded(store: VectorStore) -> VectorStore:
    """The store with the 20-document corpus added in batches of 7."""
    store.add(corpus(), batch_size=7)
    return store


def test_adapter_meets_protocol(store: VectorStore, store_name: str) -> None:
    assert isinstance(store, VectorStore)
    assert store.store == store_name
    assert store.dim == DIM


def test_add_in_batches_then_every_id_exists(loaded: VectorStore) -> None:
    assert all(loaded.id_exists(f"doc-{i}") for i in range(20))
    assert not loaded.id_exists("doc-404")


def test_search_by_vector_puts_exact_document_first(loaded: VectorStore) -> None:
    for i in (0, 7, 13):
        hits = loaded.search_by_vector(unit(i), top_k=3)
        assert 1 <= len(hits) <= 3
        assert hits[0].id == f"doc-{i}"
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        assert hits[0].text == f"{WORDS[i % len(WORDS)]} number {i} in the orchard"
        assert str(hits[0].metadata.get("group")) == ("even" if i % 2 == 0 else "odd")
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_score_threshold_filters(loaded: VectorStore) -> None:
    all_hits = loaded.search_by_vector(unit(3), top_k=10)
    assert len(all_hits) == 10
    strict = loaded.search_by_vector(unit(3), top_k=10, score_threshold=0.999)
    assert [h.id for h in strict] == ["doc-3"]


def test_full_text_or_not_supported(loaded: VectorStore, store_name: str) -> None:
    if not get(store_name).full_text:
        with pytest.raises(NotSupported, match=store_name):
            loaded.search_by_full_text("cherry", top_k=5)
        return
    hits = loaded.search_by_full_text("cherry", top_k=5)
    ids = {h.id for h in hits}
    assert ids, "full-text search found nothing"
    assert ids <= {"doc-2", "doc-10", "doc-18"}
    assert all("cherry" in h.text for h in hits)


def test_text_exists(loaded: VectorStore) -> None:
    assert loaded.text_exists("fig number 5 in the orchard")
    assert not loaded.text_exists("fig number 5 in the")
    assert not loaded.text_exists("nothing like this")


def test_add_overwrites_same_id(loaded: VectorStore) -> None:
    loaded.add([Document("doc-1", "replaced text", unit(1), {"group": "odd"})])
    assert loaded.text_exists("replaced text")
    assert not loaded.text_exists("banana number 1 in the orchard")


def test_delete_by_ids(loaded: VectorStore) -> None:
    loaded.delete_by_ids(["doc-0", "doc-1", "doc-unknown"])
    assert not loaded.id_exists("doc-0")
    assert not loaded.id_exists("doc-1")
    assert loaded.id_exists("doc-2")
    assert all(h.id not in ("doc-0", "doc-1") for h in loaded.search_by_vector(unit(0), top_k=5))


def test_delete_by_metadata_field(loaded: VectorStore) -> None:
    loaded.delete_by_metadata_field("group", "odd")
    assert not any(loaded.id_exists(f"doc-{i}") for i in range(1, 20, 2))
    assert all(loaded.id_exists(f"doc-{i}") for i in range(0, 20, 2))


def test_dimension_mismatch_is_a_clear_error(loaded: VectorStore, running_store: Any) -> None:
    with pytest.raises(StoreError, match=r"dimension mismatch.*8.*3"):
        loaded.add([Document("bad", "bad", [0.1, 0.2, 0.3])])
    with pytest.raises(StoreError, match="dimension mismatch"):
        loaded.search_by_vector([1.0, 0.0])
    other = running_store.connect()
    try:
        with pytest.raises(StoreError, match=r"exists with dimension 8, not 4"):
            other.create_collection(str(loaded.collection), 4)
    finally:
        other.close()


def test_drop_removes_collection(store: VectorStore, running_store: Any) -> None:
    name = str(store.collection)
    store.add(corpus(3))
    store.drop()
    assert store.collection is None
    again = running_store.connect()
    try:
        again.create_collection(name, 4)  # would fail if the dim-8 collection survived
        assert again.dim == 4
        assert not again.id_exists("doc-0")
        again.drop()
    finally:
        again.close()


def test_create_collection_is_safe_concurrently(running_store: Any) -> None:
    """Clients creating the same new collection at once (workers on first use) all bind to it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    name, n = f"c{secrets.token_hex(4)}", 6
    adapters = [running_store.connect() for _ in range(n)]
    barrier = threading.Barrier(n)

    def create(adapter: VectorStore) -> None:
        barrier.wait(60)
        adapter.create_collection(name, DIM)

    try:
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(create, a) for a in adapters]
        errors = [repr(f.exception()) for f in futures if f.exception() is not None]
        assert errors == []
        adapters[0].add(corpus(2))
        assert all(a.collection == name and a.id_exists("doc-1") for a in adapters)
    finally:
        try:
            if adapters[0].collection is not None:
                adapters[0].drop()
        finally:
            for a in adapters:
                a.close()
