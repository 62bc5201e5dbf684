"""OpenSearch adapter (opensearch-py): ``knn_vector`` (cosinesimil, lucene HNSW) + ``match``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stack.stores.adapters.elasticsearch import _KEYWORD_TEMPLATE, _META, _TEXT, SearchEngineStore


class OpenSearchStore(SearchEngineStore):
    """``VECTOR_STORE=opensearch`` (security plugin disabled in tests)."""

    store = "opensearch"

    def __init__(self, host: str, port: int, **options: Any) -> None:
        super().__init__()
        from opensearchpy import OpenSearch

        self._client = OpenSearch(
            hosts=[{"host": host, "port": port}], use_ssl=False, timeout=30, **options
        )

    @classmethod
    def from_endpoint(cls, host: str, ports: Mapping[int, int], **options: Any) -> OpenSearchStore:
        """Connect over HTTP to the port mapped from 9200."""
        return cls(host, ports[9200], **options)

    def _settings(self) -> dict[str, Any]:
        return {"number_of_shards": 1, "number_of_replicas": 0, "index": {"knn": True}}

    def _mapping(self, dim: int) -> dict[str, Any]:
        return {
            "dynamic_templates": _KEYWORD_TEMPLATE,
            "properties": {
                "text": _TEXT,
                "metadata": _META,
                "vector": {
                    "type": "knn_vector",
                    "dimension": int(dim),
                    "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                },
            },
        }

    def _knn(self, vec: list[float], top_k: int) -> dict[str, Any]:
        return {"size": top_k, "query": {"knn": {"vector": {"vector": vec, "k": top_k}}}}
