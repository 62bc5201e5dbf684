"""Store catalog, selection and the shared adapter checks (no engine needed)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest

from stack.errors import NotSupported, StoreError
from stack.images.catalog import IMAGES
from stack.stores import catalog
from stack.stores.contract import BaseStore, Document, Hit, VectorStore, batched, keep

PROTOCOL_METHODS = [
    name
    for name, _ in inspect.getmembers(VectorStore, predicate=inspect.isfunction)
    if not name.startswith("_")
] + ["from_endpoint"]


def test_stores_constant_covers_the_issue_list() -> None:
    assert set(catalog.STORES) >= {
        "pgvector",
        "chroma",
        "milvus",
        "qdrant",
        "weaviate",
        "elasticsearch",
        "opensearch",
    }
    assert catalog.REQUIRED == ("pgvector", "chroma", "milvus")


@pytest.mark.parametrize("name", catalog.STORES)
def test_spec_points_at_pinned_image_module_and_adapter(name: str) -> None:
    spec = catalog.get(name)
    entry = IMAGES[spec.image]
    assert ":" in entry.ref and not entry.ref.endswith(":latest")
    if spec.required:
        assert entry.standin, f"required store {name} needs an offline stand-in"
    module, _, cls = spec.module.partition(":")
    assert module.startswith("testcontainers.community.")
    assert importlib.util.find_spec(module) is not None  # no import: may need a client lib
    assert cls[0].isupper()
    adapter = spec.adapter_class()
    assert adapter.store == name
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(adapter, m, None))]
    assert not missing, f"{name} adapter lacks {missing}"
    assert spec.port in {5432, 8000, 19530, 6333, 8080, 9200}
    assert spec.wait.describe().endswith("then a real query")


def test_select_parses_commas_lists_and_keeps_catalog_order() -> None:
    assert catalog.select(None) == list(catalog.STORES)
    assert catalog.select("") == list(catalog.STORES)
    assert catalog.select("milvus,pgvector") == ["pgvector", "milvus"]
    assert catalog.select(["chroma", "pgvector,milvus"]) == ["pgvector", "chroma", "milvus"]


def test_select_reports_every_unknown_name_with_the_fix() -> None:
    with pytest.raises(StoreError) as err:
        catalog.select("pgvector,nosuch,other")
    text = str(err.value)
    assert "nosuch" in text and "other" in text and "pgvector, chroma" in text


class _Fake(BaseStore):
    store = "fake"


def test_dimension_mismatch_messages_name_collection_and_sizes() -> None:
    s = _Fake()
    with pytest.raises(StoreError, match="no collection bound"):
        s._check_vector([1.0], "q")
    s._bind("coll", 3, None)
    with pytest.raises(StoreError, match=r"'coll'.*3-dimensional.*document 'x' has 2"):
        s._check_docs([Document("x", "t", [1.0, 2.0])])
    with pytest.raises(StoreError, match="exists with dimension 3, not 4"):
        _Fake()._bind("coll", 4, 3)
    assert issubclass(NotSupported, StoreError)


def test_batched_and_keep() -> None:
    assert [list(b) for b in batched([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    with pytest.raises(StoreError):
        list(batched([1], 0))
    hits = [Hit("a", "", 0.2), Hit("b", "", 0.9), Hit("c", "", 0.5)]
    assert [h.id for h in keep(hits, 2, 0.3)] == ["b", "c"]
