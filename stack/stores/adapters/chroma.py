"""Chroma adapter over HTTP only (``chromadb-client``; never the embedded server)."""

from __future__ import annotations

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


class ChromaStore(BaseStore):
    """``VECTOR_STORE=chroma``: cosine space; the dimension is kept in collection metadata."""

    store = "chroma"

    def __init__(self, host: str, port: int, **settings: Any) -> None:
        super().__init__()
        import chromadb
        from chromadb.config import Settings

        self._client = chromadb.HttpClient(
            host=host, port=port, settings=Settings(anonymized_telemetry=False, **settings)
        )
        self._col: Any = None

    @classmethod
    def from_endpoint(cls, host: str, ports: Mapping[int, int], **options: Any) -> ChromaStore:
        """Connect to the port mapped from 8000."""
        return cls(host, ports[8000], **options)

    def ping(self) -> None:
        """Heartbeat plus a real list call."""
        self._client.heartbeat()
        self._client.list_collections(limit=1)

    def create_collection(self, name: str, dim: int) -> None:
        """get_or_create with ``hnsw:space=cosine``; the existing dimension is checked."""
        check_collection_name(name)
        col = self._client.get_or_create_collection(
            name, metadata={"hnsw:space": "cosine", "dim": int(dim)}
        )
        existing = (col.metadata or {}).get("dim")
        self._bind(name, dim, int(existing) if existing is not None else None)
        self._col = col

    def _collection(self) -> Any:
        self._bound()
        return self._col

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """Upsert in batches."""
        self._check_docs(docs)
        col = self._collection()
        for batch in batched(docs, batch_size):
            col.upsert(
                ids=[d.id for d in batch],
                embeddings=[[float(x) for x in d.vector] for d in batch],
                documents=[d.text for d in batch],
                metadatas=[dict(d.metadata) or None for d in batch],
            )

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """Cosine distance; score = 1 - distance."""
        vec = self._check_vector(vector, "the query vector")
        res = self._collection().query(
            query_embeddings=[vec],
            n_results=int(top_k),
            include=["documents", "metadatas", "distances"],
        )
        hits = [
            Hit(i, t or "", 1.0 - float(d), m or {})
            for i, t, m, d in zip(
                res["ids"][0],
                res["documents"][0],
                res["metadatas"][0],
                res["distances"][0],
                strict=False,
            )
        ]
        return keep(hits, top_k, score_threshold)

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """Documents containing any query word (``$contains``); score = share of words hit."""
        words = [w for w in query.split() if w]
        if not words:
            return []
        where: dict[str, Any] = (
            {"$contains": words[0]}
            if len(words) == 1
            else {"$or": [{"$contains": w} for w in words]}
        )
        res = self._collection().get(where_document=where, include=["documents", "metadatas"])
        hits = []
        for i, t, m in zip(res["ids"], res["documents"], res["metadatas"], strict=False):
            text = t or ""
            score = sum(1 for w in words if w in text) / len(words)
            hits.append(Hit(i, text, score, m or {}))
        return keep(hits, top_k, 0.0)

    def text_exists(self, text: str) -> bool:
        """``$contains`` narrows on the server, equality is checked here."""
        res = self._collection().get(where_document={"$contains": text}, include=["documents"])
        return any(t == text for t in res["documents"] or [])

    def id_exists(self, doc_id: str) -> bool:
        """Lookup by id."""
        return bool(self._collection().get(ids=[doc_id], include=[])["ids"])

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """Delete by ids."""
        if ids:
            self._collection().delete(ids=list(ids))

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """Delete ``where={key: value}``."""
        self._collection().delete(where={key: value})

    def drop(self) -> None:
        """Delete the collection (missing is fine)."""
        if self.collection is None:
            return
        try:
            self._client.delete_collection(self.collection)
        except Exception as exc:
            if "does not exist" not in str(exc) and "not found" not in str(exc).lower():
                raise
        self.collection, self.dim, self._col = None, None, None
