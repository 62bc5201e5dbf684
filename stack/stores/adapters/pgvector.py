"""PostgreSQL + pgvector adapter (psycopg 3). One table per collection, HNSW cosine index."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from stack.errors import StoreError
from stack.stores.contract import (
    BaseStore,
    Document,
    Hit,
    MetadataValue,
    batched,
    check_collection_name,
    keep,
)

#: The advisory-lock key of this adapter's DDL (any fixed bigint; the same in every client).
_DDL_LOCK = 0x737461636B_7067  # "stack" "pg"


def _vec(values: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(v)) for v in values) + "]"


class PgvectorStore(BaseStore):
    """``VECTOR_STORE=pgvector``."""

    store = "pgvector"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        import psycopg

        self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)

    @classmethod
    def from_endpoint(
        cls,
        host: str,
        ports: Mapping[int, int],
        *,
        user: str = "postgres",
        password: str = "",
        dbname: str = "postgres",
        **_: Any,
    ) -> PgvectorStore:
        """Connect to ``host`` on the port mapped from 5432."""
        from psycopg.conninfo import make_conninfo

        dsn = make_conninfo(
            host=host, port=ports[5432], user=user, password=password, dbname=dbname
        )
        return cls(dsn)

    @property
    def _table(self) -> str:
        return f"embedding_{self._bound().lower()}"

    def _q(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(sql.format(table=self._table), params)
        return cur.fetchall() if cur.description else []

    def _ddl_lock(self) -> None:
        """Serialise DDL with every other client until the transaction ends: concurrent
        ``CREATE EXTENSION IF NOT EXISTS`` / ``CREATE TABLE IF NOT EXISTS`` race on the
        catalogs' unique indexes (``pg_extension_name_index``) on a fresh database."""
        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))

    def _dim_of(self, table: str) -> int | None:
        row = self._conn.execute(
            "SELECT atttypmod FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
            (table,),
        ).fetchone()
        return int(row[0]) if row else None

    def ping(self) -> None:
        """``SELECT 1`` and make sure the vector extension can be created."""
        with self._conn.transaction():
            self._ddl_lock()
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        self._conn.execute("SELECT 1").fetchone()

    def create_collection(self, name: str, dim: int) -> None:
        """Create the table (and extension, index) or open it if its dimension matches.

        Safe to call concurrently from many clients (one transaction-level advisory lock
        around the DDL)."""
        check_collection_name(name)
        table = f"embedding_{name.lower()}"
        existing = self._dim_of(table)
        if existing is not None:
            self._bind(name, dim, existing)
            return
        self._bind(name, dim, None)  # validates dim before any DDL
        with self._conn.transaction():
            self._ddl_lock()
            existing = self._dim_of(table)  # another client may have created it meanwhile
            if existing is not None:
                self.collection = None
                self._bind(name, dim, existing)
                return
            self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            self._q(
                "CREATE TABLE IF NOT EXISTS {table} (id text PRIMARY KEY, text text NOT NULL, "
                "meta jsonb NOT NULL DEFAULT '{{}}', embedding vector("
                + str(int(dim))
                + ") NOT NULL)"
            )
            self._q(
                "CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} "
                "USING hnsw (embedding vector_cosine_ops)"
            )

    def add(self, docs: Sequence[Document], batch_size: int = 64) -> None:
        """Upsert in batches (one executemany per batch)."""
        self._check_docs(docs)
        sql = (
            f"INSERT INTO {self._table} (id, text, meta, embedding) "
            "VALUES (%s, %s, %s::jsonb, %s::vector) ON CONFLICT (id) DO UPDATE SET "
            "text = EXCLUDED.text, meta = EXCLUDED.meta, embedding = EXCLUDED.embedding"
        )
        for batch in batched(docs, batch_size):
            with self._conn.cursor() as cur:
                cur.executemany(
                    sql,
                    [(d.id, d.text, json.dumps(dict(d.metadata)), _vec(d.vector)) for d in batch],
                )

    def search_by_vector(
        self, vector: Sequence[float], top_k: int = 4, score_threshold: float = 0.0
    ) -> list[Hit]:
        """Cosine distance ``<=>``; score = 1 - distance."""
        vec = self._check_vector(vector, "the query vector")
        rows = self._q(
            "SELECT id, text, meta, embedding <=> %s::vector AS d FROM {table} ORDER BY d LIMIT %s",
            (_vec(vec), int(top_k)),
        )
        hits = [Hit(r[0], r[1], 1.0 - float(r[3]), r[2]) for r in rows]
        return keep(hits, top_k, score_threshold)

    def search_by_full_text(self, query: str, top_k: int = 4) -> list[Hit]:
        """Postgres full text (``simple`` configuration), ranked by ``ts_rank``."""
        rows = self._q(
            "SELECT id, text, meta, ts_rank(to_tsvector('simple', text), q) AS r "
            "FROM {table}, plainto_tsquery('simple', %s) q "
            "WHERE to_tsvector('simple', text) @@ q ORDER BY r DESC LIMIT %s",
            (query, int(top_k)),
        )
        return [Hit(r[0], r[1], float(r[3]), r[2]) for r in rows]

    def text_exists(self, text: str) -> bool:
        """Exact text match."""
        return bool(self._q("SELECT 1 FROM {table} WHERE text = %s LIMIT 1", (text,)))

    def id_exists(self, doc_id: str) -> bool:
        """Primary-key lookup."""
        return bool(self._q("SELECT 1 FROM {table} WHERE id = %s", (doc_id,)))

    def delete_by_ids(self, ids: Sequence[str]) -> None:
        """``DELETE ... WHERE id = ANY(...)``."""
        if ids:
            self._q("DELETE FROM {table} WHERE id = ANY(%s)", (list(ids),))

    def delete_by_metadata_field(self, key: str, value: MetadataValue) -> None:
        """Compare the metadata value as text (``meta->>key``)."""
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        self._q("DELETE FROM {table} WHERE meta->>%s = %s", (key, text))

    def drop(self) -> None:
        """``DROP TABLE IF EXISTS``."""
        if self.collection is None:
            return
        self._q("DROP TABLE IF EXISTS {table}")
        self.collection, self.dim = None, None

    def close(self) -> None:
        """Close the connection."""
        try:
            self._conn.close()
        except Exception as exc:
            raise StoreError(f"pgvector: closing the connection failed: {exc}") from exc
