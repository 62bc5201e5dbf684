"""The contract every vector-store adapter meets, and the helpers adapters share.

An adapter is bound to one collection at a time: :meth:`VectorStore.create_collection` creates
it (or opens an existing one of the same dimension) and binds it; every other operation acts
on the bound collection.  Scores are similarities where higher is better (cosine: ``1 - d``).
Operations a store does not offer raise :class:`stack.errors.NotSupported`; a vector of the
wrong length raises :class:`stack.errors.StoreError` naming the collection and both sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from stack.errors import StoreError

MetadataValue = str | int | float | bool


@dataclass(frozen=True)
class Document:
    """One stored item: a unique id, its text, its embedding and flat metadata."""

    id: str
    text: str
    vector: Sequence[float]
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A search result: the document's id, text, metadata and its score (higher = closer)."""

    id: str
    text: str
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """What the toolkit needs from a vector store."""

    store: str  # the VECTOR_STORE name
    collection: str | None
    dim: int | None

    @classmethod
    def from_endpoint(cls, host: str, ports: Mapping[int, int], **options: Any) -> VectorStore:
        """Connect to a server at ``host``; ``ports`` maps container ports to host ports."""
        ...

    def ping(self) -> None:
        """Run a real (cheap) query; raise if the server cannot serve yet."""
        ...

    def create_collection(self, name: str, dim: int) -> None:
        """Create (or open, if it exists with the same dim) ``name`` and bind to it."""
        ...

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """Insert or overwrite ``docs`` in batches of ``batch_size``."""
        ...

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """The ``top_k`` nearest documents with score >= ``score_threshold``, best first."""
        ...

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """Documents matching ``query`` by text; NotSupported where the store cannot."""
        ...

    def text_exists(self, text: str) -> bool:
        """True if a document with exactly this text is stored."""
        ...

    def id_exists(self, doc_id: str) -> bool:
        """True if a document with this id is stored."""
        ...

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """Remove the documents with these ids (unknown ids are ignored)."""
        ...

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """Remove every document whose metadata ``key`` equals ``value``."""
        ...

    def drop(self) -> None:
        """Drop the bound collection (no error if already gone) and unbind."""
        ...

    def close(self) -> None:
        """Release client resources."""
        ...


_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,62}$")


def check_collection_name(name: str) -> str:
    """Names portable to every store: a letter, then 2-62 letters, digits or ``_``."""
    if not _NAME_RE.match(name):
        raise StoreError(
            f"invalid collection name {name!r}",
            hint="use a letter, then 2-62 letters, digits or '_'",
        )
    return name


class BaseStore:
    """Shared state and checks; adapters subclass it and implement the store calls."""

    store = "base"

    def __init__(self) -> None:
        self.collection: str | None = None
        self.dim: int | None = None

    # -- helpers ---------------------------------------------------------------
    def _bound(self) -> str:
        if self.collection is None:
            raise StoreError(
                f"{self.store}: no collection bound", hint="call create_collection(name, dim)"
            )
        return self.collection

    def _bind(self, name: str, dim: int, existing_dim: int | None) -> None:
        if dim <= 0:
            raise StoreError(f"{self.store}: dimension must be positive, got {dim}")
        if existing_dim is not None and existing_dim != dim:
            raise StoreError(
                f"{self.store}: collection {name!r} exists with dimension {existing_dim}, "
                f"not {dim}",
                hint="use the embedding model the collection was created with, or drop it",
            )
        self.collection, self.dim = name, dim

    def _check_vector(self, vector: Sequence[float], what: str) -> list[float]:
        name = self._bound()
        if self.dim is not None and len(vector) != self.dim:
            raise StoreError(
                f"{self.store}: dimension mismatch in collection {name!r}: it holds "
                f"{self.dim}-dimensional vectors, {what} has {len(vector)}",
                hint="embed with the model the collection was created with",
            )
        return [float(x) for x in vector]

    def _check_docs(self, docs: Sequence[Document]) -> None:
        for doc in docs:
            self._check_vector(doc.vector, f"document {doc.id!r}")

    def close(self) -> None:
        """Default: nothing to release."""

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` (size must be >= 1)."""
    if size < 1:
        raise StoreError(f"batch_size must be >= 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def keep(hits: list[Hit], top_k: int, score_threshold: float) -> list[Hit]:
    """Filter by threshold, sort best first, cut to ``top_k``."""
    chosen = [h for h in hits if h.score >= score_threshold]
    chosen.sort(key=lambda h: h.score, reverse=True)
    return chosen[:top_k]
