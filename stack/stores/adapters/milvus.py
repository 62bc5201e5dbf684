"""Milvus adapter (pymilvus ``MilvusClient``): VARCHAR ids, JSON metadata, HNSW cosine index.

Full-text search needs Milvus >= 2.5 (BM25); the pinned 2.3.5 has none, so it is NotSupported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stack.errors import NotSupported
from stack.stores.contract import (
    BaseStore,
    Document,
    Hit,
    MetadataValue,
    batched,
    check_collection_name,
    keep,
)

_MAX_TEXT = 65535


def _lit(value: MetadataValue) -> str:
    """A Milvus expression literal (JSON quoting is valid Milvus string syntax)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


class MilvusStore(BaseStore):
    """``VECTOR_STORE=milvus``."""

    store = "milvus"

    def __init__(self, uri: str, token: str = "", **options: Any) -> None:
        super().__init__()
        from pymilvus import MilvusClient

        self._client = MilvusClient(uri=uri, token=token, timeout=30, **options)

    @classmethod
    def from_endpoint(cls, host: str, ports: Mapping[int, int], **options: Any) -> MilvusStore:
        """Connect to the gRPC port mapped from 19530."""
        return cls(f"http://{host}:{ports[19530]}", **options)

    def ping(self) -> None:
        """A real call: list collections."""
        self._client.list_collections()

    def _existing_dim(self, name: str) -> int | None:
        if not self._client.has_collection(name):
            return None
        info = self._client.describe_collection(name)
        for f in info.get("fields", []):
            if f.get("name") == "vector":
                return int(f.get("params", {}).get("dim"))
        return None

    def create_collection(self, name: str, dim: int) -> None:
        """Create with strong consistency (reads see writes) and load it."""
        from pymilvus import DataType, MilvusClient

        check_collection_name(name)
        existing = self._existing_dim(name)
        self._bind(name, dim, existing)
        if existing is not None:
            self._client.load_collection(name)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("text", DataType.VARCHAR, max_length=_MAX_TEXT)
        schema.add_field("meta", DataType.JSON)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
        index = self._client.prepare_index_params()
        index.add_index(
            field_name="vector",
            index_type="HNSW",
            metric_type="COSINE",
            params={"M": 16, "efConstruction": 64},
        )
        self._client.create_collection(
            name, schema=schema, index_params=index, consistency_level="Strong"
        )
        self._client.load_collection(name)

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """Upsert in batches."""
        self._check_docs(docs)
        name = self._bound()
        for batch in batched(docs, batch_size):
            self._client.upsert(
                name,
                [
                    {
                        "id": d.id,
                        "text": d.text,
                        "meta": dict(d.metadata),
                        "vector": [float(x) for x in d.vector],
                    }
                    for d in batch
                ],
            )

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """COSINE metric: Milvus returns the similarity itself as ``distance``."""
        vec = self._check_vector(vector, "the query vector")
        res = self._client.search(
            self._bound(),
            data=[vec],
            limit=int(top_k),
            output_fields=["text", "meta"],
            search_params={"metric_type": "COSINE", "params": {"ef": max(64, int(top_k))}},
        )
        hits = [
            Hit(
                str(r["id"]),
                r["entity"].get("text", ""),
                float(r["distance"]),
                r["entity"].get("meta") or {},
            )
            for r in res[0]
        ]
        return keep(hits, top_k, score_threshold)

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """Not available in Milvus 2.3 (BM25 full text arrived in 2.5)."""
        raise NotSupported(
            "milvus: full-text search is not supported by Milvus 2.3 (needs >= 2.5 with BM25)",
            hint="use search_by_vector, or a store with full text (pgvector, qdrant, ...)",
        )

    def _ids_where(self, expr: str) -> list[str]:
        rows = self._client.query(self._bound(), filter=expr, output_fields=["id"])
        return [str(r["id"]) for r in rows]

    def text_exists(self, text: str) -> bool:
        """``text == "..."``."""
        return bool(self._ids_where(f"text == {_lit(text)}"))

    def id_exists(self, doc_id: str) -> bool:
        """Primary-key lookup."""
        return bool(self._client.get(self._bound(), ids=[doc_id], output_fields=["id"]))

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """Delete by primary keys."""
        if ids:
            self._client.delete(self._bound(), ids=list(ids))

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """Find ids with ``meta["key"] == value``, then delete them by id (works on 2.3)."""
        ids = self._ids_where(f"meta[{json.dumps(key)}] == {_lit(value)}")
        self.delete_by_ids(ids)

    def drop(self) -> None:
        """Drop the collection if it exists."""
        if self.collection is None:
            return
        if self._client.has_collection(self.collection):
            self._client.drop_collection(self.collection)
        self.collection, self.dim = None, None

    def close(self) -> None:
        """Close the client."""
        self._client.close()
