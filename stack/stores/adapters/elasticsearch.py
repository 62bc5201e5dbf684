"""Elasticsearch adapter (elasticsearch-py 8.x): dense_vector (cosine) kNN, ``match`` full text.

:class:`SearchEngineStore` holds the logic shared with OpenSearch; subclasses supply the client
and the index mapping / kNN query, which differ between the two.
"""

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


class SearchEngineStore(BaseStore):
    """Common Elasticsearch/OpenSearch behaviour: one index per collection, ``_id`` = doc id."""

    store = "search-engine"
    _client: Any

    def _index(self) -> str:
        return f"stack_{self._bound().lower()}"

    def _mapping(self, dim: int) -> dict[str, Any]:
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        return {"number_of_shards": 1, "number_of_replicas": 0}

    def _knn(self, vec: list[float], top_k: int) -> dict[str, Any]:
        raise NotImplementedError

    def _dim_of(self, mapping: Mapping[str, Any]) -> int | None:
        props = mapping.get("mappings", {}).get("properties", {})
        vec = props.get("vector", {})
        d = vec.get("dims", vec.get("dimension"))
        return int(d) if d is not None else None

    def ping(self) -> None:
        """Cluster health (a real request)."""
        self._client.cluster.health(wait_for_status="yellow", timeout="5s")

    def create_collection(self, name: str, dim: int) -> None:
        """Create the index (or open it when the dimension matches)."""
        check_collection_name(name)
        index = f"stack_{name.lower()}"
        existing = None
        if self._client.indices.exists(index=index):
            existing = self._dim_of(self._client.indices.get_mapping(index=index)[index])
        self._bind(name, dim, existing)
        if existing is None:
            self._client.indices.create(
                index=index, body={"settings": self._settings(), "mappings": self._mapping(dim)}
            )

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """Bulk index in batches, refreshing so reads see the writes."""
        self._check_docs(docs)
        index = self._index()
        for batch in batched(docs, batch_size):
            body: list[dict[str, Any]] = []
            for d in batch:
                body.append({"index": {"_index": index, "_id": d.id}})
                body.append(
                    {
                        "text": d.text,
                        "metadata": dict(d.metadata),
                        "vector": [float(x) for x in d.vector],
                    }
                )
            res = self._client.bulk(body=body, refresh=True)
            if res.get("errors"):
                raise RuntimeError(f"{self.store}: bulk indexing failed: {res}")

    def _hits(self, res: Mapping[str, Any], score: Any = None) -> list[Hit]:
        out = []
        for h in res["hits"]["hits"]:
            src = h.get("_source", {})
            s = float(h["_score"]) if score is None else score(float(h["_score"]))
            out.append(Hit(h["_id"], src.get("text", ""), s, src.get("metadata") or {}))
        return out

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """kNN; the engines' cosine score (1 + cos) / 2 is mapped back to cos."""
        vec = self._check_vector(vector, "the query vector")
        res = self._client.search(index=self._index(), body=self._knn(vec, int(top_k)))
        return keep(self._hits(res, lambda s: 2.0 * s - 1.0), top_k, score_threshold)

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """BM25 ``match`` on the text field."""
        res = self._client.search(
            index=self._index(), body={"size": int(top_k), "query": {"match": {"text": query}}}
        )
        return self._hits(res)

    def _count(self, query: dict[str, Any]) -> int:
        return int(self._client.count(index=self._index(), body={"query": query})["count"])

    def text_exists(self, text: str) -> bool:
        """Exact match on the keyword sub-field."""
        return self._count({"term": {"text.raw": text}}) > 0

    def id_exists(self, doc_id: str) -> bool:
        """Document existence by ``_id``."""
        return bool(self._client.exists(index=self._index(), id=doc_id))

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """delete_by_query on ``_id``."""
        if ids:
            self._client.delete_by_query(
                index=self._index(), body={"query": {"ids": {"values": list(ids)}}}, refresh=True
            )

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """delete_by_query on ``metadata.<key>`` (keyword)."""
        self._client.delete_by_query(
            index=self._index(),
            body={"query": {"term": {f"metadata.{key}": value}}},
            refresh=True,
        )

    def drop(self) -> None:
        """Delete the index (missing is fine)."""
        if self.collection is None:
            return
        self._client.indices.delete(index=self._index(), ignore_unavailable=True)
        self.collection, self.dim = None, None

    def close(self) -> None:
        """Close the transport."""
        self._client.close()


_TEXT = {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 8191}}}
_META = {"type": "object", "dynamic": True}
_KEYWORD_TEMPLATE = [{"meta_strings": {"path_match": "metadata.*", "mapping": {"type": "keyword"}}}]


class ElasticsearchStore(SearchEngineStore):
    """``VECTOR_STORE=elasticsearch`` (server 8.x; use an 8.x client)."""

    store = "elasticsearch"

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__()
        from elasticsearch import Elasticsearch

        self._client = Elasticsearch(url, request_timeout=30, **options)

    @classmethod
    def from_endpoint(
        cls, host: str, ports: Mapping[int, int], **options: Any
    ) -> ElasticsearchStore:
        """Connect over HTTP to the port mapped from 9200."""
        return cls(f"http://{host}:{ports[9200]}", **options)

    def _mapping(self, dim: int) -> dict[str, Any]:
        return {
            "dynamic_templates": _KEYWORD_TEMPLATE,
            "properties": {
                "text": _TEXT,
                "metadata": _META,
                "vector": {
                    "type": "dense_vector",
                    "dims": int(dim),
                    "index": True,
                    "similarity": "cosine",
                },
            },
        }

    def _knn(self, vec: list[float], top_k: int) -> dict[str, Any]:
        return {
            "size": top_k,
            "knn": {
                "field": "vector",
                "query_vector": vec,
                "k": top_k,
                "num_candidates": max(50, top_k * 10),
            },
        }
