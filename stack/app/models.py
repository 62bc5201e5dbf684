"""The backend's tables (SQLAlchemy 2 declarative); the schema is owned by ``migrations/``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Document states, in the order indexing moves through them (or to ``error``).
QUEUED, INDEXING, COMPLETED, ERROR = "queued", "indexing", "completed", "error"
STATUSES = (QUEUED, INDEXING, COMPLETED, ERROR)


def now() -> datetime:
    """Timezone-naive UTC (both Postgres and MySQL store it as is)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    """A random UUID as text (portable across Postgres and MySQL)."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is what the migrations describe."""


class Dataset(Base):
    """A named collection of documents, created on first use; one vector collection each."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=now)

    def collection(self, prefix: str) -> str:
        """The vector collection name: ``<prefix>_<id hex>_Node`` (portable to every store)."""
        return f"{prefix}_{uuid.UUID(self.id).hex}_Node"


class Document(Base):
    """One submitted document; its body lives in the file storage, its chunks in the store."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=QUEUED)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False, default=now)

    def as_json(self, dataset: str) -> dict[str, object]:
        """The public representation (``GET .../documents/<id>``)."""
        return {
            "id": self.id,
            "dataset": dataset,
            "status": self.status,
            "error": self.error,
            "size": self.size,
            "chunks": self.chunks,
            "created_at": self.created_at.isoformat() + "Z",
            "updated_at": self.updated_at.isoformat() + "Z",
        }
