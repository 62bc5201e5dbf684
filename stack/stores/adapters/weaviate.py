"""Weaviate adapter (weaviate-client v4). A collection is a class named ``Stack_<name>``; the
dimension is recorded in the class description; BM25 gives full-text search.
"""

from __future__ import annotations

import json
import re
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


def _class_name(name: str) -> str:
    return "Stack_" + name.lower()


def _uuid(doc_id: str) -> str:
    from weaviate.util import generate_uuid5

    return str(generate_uuid5(doc_id))


class WeaviateStore(BaseStore):
    """``VECTOR_STORE=weaviate``: no vectorizer, cosine HNSW, metadata as a JSON string."""

    store = "weaviate"

    def __init__(self, host: str, http_port: int, grpc_port: int) -> None:
        super().__init__()
        import weaviate

        self._client = weaviate.connect_to_local(host=host, port=http_port, grpc_port=grpc_port)
        self._col: Any = None

    @classmethod
    def from_endpoint(cls, host: str, ports: Mapping[int, int], **_: Any) -> WeaviateStore:
        """Connect to the ports mapped from 8080 (HTTP) and 50051 (gRPC)."""
        return cls(host, ports[8080], ports[50051])

    def ping(self) -> None:
        """Ready check plus a real schema call."""
        if not self._client.is_ready():
            raise ConnectionError("weaviate not ready")
        self._client.collections.list_all(simple=True)

    def create_collection(self, name: str, dim: int) -> None:
        """Create the class (text, doc_id, meta, group-by-able metadata keys as JSON)."""
        from weaviate.classes.config import Configure, DataType, Property, VectorDistances

        check_collection_name(name)
        cls_name = _class_name(name)
        existing = None
        if self._client.collections.exists(cls_name):
            desc = self._client.collections.get(cls_name).config.get().description or ""
            m = re.search(r"dim=(\d+)", desc)
            existing = int(m.group(1)) if m else None
        self._bind(name, dim, existing)
        if existing is None and not self._client.collections.exists(cls_name):
            self._client.collections.create(
                cls_name,
                description=f"stack collection dim={int(dim)}",
                vectorizer_config=Configure.Vectorizer.none(),
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE
                ),
                properties=[
                    Property(name="doc_id", data_type=DataType.TEXT),
                    Property(name="text", data_type=DataType.TEXT),
                    Property(name="meta", data_type=DataType.TEXT),
                    Property(name="meta_kv", data_type=DataType.TEXT_ARRAY),
                ],
            )
        self._col = self._client.collections.get(cls_name)

    def _collection(self) -> Any:
        self._bound()
        return self._col

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """insert_many in batches (deterministic UUIDs make re-adds overwrite)."""
        from weaviate.classes.data import DataObject

        self._check_docs(docs)
        col = self._collection()
        for batch in batched(docs, batch_size):
            objs = [
                DataObject(
                    uuid=_uuid(d.id),
                    vector=[float(x) for x in d.vector],
                    properties={
                        "doc_id": d.id,
                        "text": d.text,
                        "meta": json.dumps(dict(d.metadata)),
                        "meta_kv": [f"{k}={v}" for k, v in d.metadata.items()],
                    },
                )
                for d in batch
            ]
            self.delete_by_ids([d.id for d in batch])
            res = col.data.insert_many(objs)
            if res.errors:
                raise RuntimeError(f"weaviate insert failed: {res.errors}")

    def _hit(self, obj: Any, score: float) -> Hit:
        p = obj.properties
        return Hit(p.get("doc_id", ""), p.get("text", ""), score, json.loads(p.get("meta") or "{}"))

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """near_vector; score = 1 - cosine distance."""
        from weaviate.classes.query import MetadataQuery

        vec = self._check_vector(vector, "the query vector")
        res = self._collection().query.near_vector(
            near_vector=vec, limit=int(top_k), return_metadata=MetadataQuery(distance=True)
        )
        hits = [self._hit(o, 1.0 - float(o.metadata.distance)) for o in res.objects]
        return keep(hits, top_k, score_threshold)

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """BM25 on the text property."""
        from weaviate.classes.query import MetadataQuery

        res = self._collection().query.bm25(
            query=query,
            query_properties=["text"],
            limit=int(top_k),
            return_metadata=MetadataQuery(score=True),
        )
        return [self._hit(o, float(o.metadata.score or 0.0)) for o in res.objects]

    def _where(self, prop: str, value: Any) -> list[Any]:
        from weaviate.classes.query import Filter

        if prop == "meta_kv":
            flt = Filter.by_property("meta_kv").contains_any([value])
        else:
            flt = Filter.by_property(prop).equal(value)
        return list(self._collection().query.fetch_objects(filters=flt, limit=1000).objects)

    def text_exists(self, text: str) -> bool:
        """Filter on text, equality checked here (text is tokenized server-side)."""
        return any(o.properties.get("text") == text for o in self._where("text", text))

    def id_exists(self, doc_id: str) -> bool:
        """Object lookup by deterministic UUID."""
        return bool(self._collection().data.exists(_uuid(doc_id)))

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """Delete objects by UUID (missing ones are ignored)."""
        col = self._collection()
        for i in ids:
            col.data.delete_by_id(_uuid(i))

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """Delete objects whose ``meta_kv`` holds ``key=value``."""
        from weaviate.classes.query import Filter

        self._collection().data.delete_many(
            where=Filter.by_property("meta_kv").contains_any([f"{key}={value}"])
        )

    def drop(self) -> None:
        """Delete the class (missing is fine)."""
        if self.collection is None:
            return
        self._client.collections.delete(_class_name(self.collection))
        self.collection, self.dim, self._col = None, None, None

    def close(self) -> None:
        """Close the client."""
        self._client.close()
