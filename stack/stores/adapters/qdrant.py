"""Qdrant adapter (qdrant-client, REST). Point ids are UUIDv5 of the document id (Qdrant only
accepts unsigned ints or UUIDs); the original id, text and metadata live in the payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from stack.stores.contract import (
    BaseStore,
    Document,
    Hit,
    MetadataValue,
    batched,
    check_collection_name,
    keep,
)

_NS = uuid.UUID("6f1c9a62-3f43-4c1e-9b5c-2b8f7f0e4a11")


def _pid(doc_id: str) -> str:
    return str(uuid.uuid5(_NS, doc_id))


def _hit(point: Any, score: float) -> Hit:
    p = point.payload or {}
    return Hit(str(p.get("doc_id", point.id)), p.get("text", ""), score, p.get("metadata") or {})


class QdrantStore(BaseStore):
    """``VECTOR_STORE=qdrant``: cosine distance, full text through a text payload index."""

    store = "qdrant"

    def __init__(self, host: str, port: int, api_key: str | None = None) -> None:
        super().__init__()
        from qdrant_client import QdrantClient

        self._client = QdrantClient(host=host, port=port, api_key=api_key, https=False, timeout=30)

    @classmethod
    def from_endpoint(cls, host: str, ports: Mapping[int, int], **options: Any) -> QdrantStore:
        """Connect to the REST port mapped from 6333."""
        return cls(host, ports[6333], **options)

    def ping(self) -> None:
        """A real call: list collections."""
        self._client.get_collections()

    def create_collection(self, name: str, dim: int) -> None:
        """Create with cosine distance plus keyword/text payload indexes."""
        from qdrant_client import models

        check_collection_name(name)
        existing = None
        if self._client.collection_exists(name):
            vectors = self._client.get_collection(name).config.params.vectors
            existing = int(vectors.size)  # type: ignore[union-attr]
        self._bind(name, dim, existing)
        if existing is not None:
            return
        self._client.create_collection(
            name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
        )
        self._client.create_payload_index(
            name,
            "text",
            field_schema=models.TextIndexParams(
                type=models.TextIndexType.TEXT,
                tokenizer=models.TokenizerType.WORD,
                lowercase=True,
            ),
            wait=True,
        )

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """Upsert in batches, waiting for each to be applied."""
        from qdrant_client import models

        self._check_docs(docs)
        for batch in batched(docs, batch_size):
            self._client.upsert(
                self._bound(),
                points=[
                    models.PointStruct(
                        id=_pid(d.id),
                        vector=[float(x) for x in d.vector],
                        payload={"doc_id": d.id, "text": d.text, "metadata": dict(d.metadata)},
                    )
                    for d in batch
                ],
                wait=True,
            )

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """Cosine similarity as score (``search`` on old clients, ``query_points`` on new)."""
        vec = self._check_vector(vector, "the query vector")
        name = self._bound()
        if hasattr(self._client, "search"):
            points = self._client.search(name, query_vector=vec, limit=int(top_k))
        else:
            points = self._client.query_points(name, query=vec, limit=int(top_k)).points
        return keep([_hit(p, float(p.score)) for p in points], top_k, score_threshold)

    def _scroll(self, flt: Any, limit: int) -> list[Any]:
        points, _ = self._client.scroll(self._bound(), scroll_filter=flt, limit=limit)
        return list(points)

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """``MatchText`` on the text index; score = share of query words present."""
        from qdrant_client import models

        words = [w.lower() for w in query.split() if w]
        if not words:
            return []
        flt = models.Filter(
            should=[
                models.FieldCondition(key="text", match=models.MatchText(text=w)) for w in words
            ]
        )
        hits = []
        for p in self._scroll(flt, max(top_k * 4, 16)):
            text = (p.payload or {}).get("text", "").lower()
            hits.append(_hit(p, sum(1 for w in words if w in text) / len(words)))
        return keep(hits, top_k, 0.0)

    def text_exists(self, text: str) -> bool:
        """Exact match on the text field (narrowed by the text index, checked here)."""
        from qdrant_client import models

        flt = models.Filter(
            must=[models.FieldCondition(key="text", match=models.MatchText(text=text))]
        )
        return any((p.payload or {}).get("text") == text for p in self._scroll(flt, 64))

    def id_exists(self, doc_id: str) -> bool:
        """Retrieve by point id."""
        return bool(self._client.retrieve(self._bound(), ids=[_pid(doc_id)]))

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """Delete points by id."""
        from qdrant_client import models

        if ids:
            self._client.delete(
                self._bound(),
                points_selector=models.PointIdsList(points=[_pid(i) for i in ids]),
                wait=True,
            )

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """Delete by a ``metadata.<key>`` match."""
        from qdrant_client import models

        flt = models.Filter(
            must=[
                models.FieldCondition(
                    key=f"metadata.{key}",
                    match=models.MatchValue(
                        value=value if not isinstance(value, float) else str(value)
                    ),
                )
            ]
        )
        self._client.delete(
            self._bound(), points_selector=models.FilterSelector(filter=flt), wait=True
        )

    def drop(self) -> None:
        """Delete the collection (missing is fine)."""
        if self.collection is None:
            return
        self._client.delete_collection(self.collection)
        self.collection, self.dim = None, None

    def close(self) -> None:
        """Close the client."""
        self._client.close()
