"""pgvector on a fresh database: concurrent first use must not race on the extension.

``CREATE EXTENSION IF NOT EXISTS vector`` from several sessions at once fails all but one
with ``UniqueViolation ... pg_extension_name_index`` unless the adapter serialises its DDL
(seen with ``CELERY_WORKER_AMOUNT=4`` on a fresh database).
"""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from stack.stores.catalog import PG_DB, PG_PASSWORD, PG_USER

CLIENTS = 8


def _admin(running_store: Any, dbname: str = PG_DB) -> Any:
    import psycopg

    return psycopg.connect(
        host=running_store.host,
        port=running_store.ports[5432],
        user=PG_USER,
        password=PG_PASSWORD,
        dbname=dbname,
        autocommit=True,
    )


def _first_use(running_store: Any, fresh: str) -> list[str]:
    """``CLIENTS`` adapters on database ``fresh`` start at once (half ping first, as /health
    does); the errors they raised."""
    from stack.stores.adapters.pgvector import PgvectorStore

    adapters = [
        PgvectorStore.from_endpoint(
            running_store.host, running_store.ports, user=PG_USER, password=PG_PASSWORD,
            dbname=fresh,
        )
        for _ in range(CLIENTS)
    ]  # fmt: skip
    barrier = threading.Barrier(CLIENTS)

    def create(i: int) -> None:
        barrier.wait(60)
        if i % 2:
            adapters[i].ping()  # ping creates the extension too
        adapters[i].create_collection(f"c{i}_{fresh}", 8)
        assert adapters[i].dim == 8

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(create, i) for i in range(CLIENTS)]
        return [repr(f.exception()) for f in futures if f.exception() is not None]
    finally:
        for a in adapters:
            a.close()


def test_concurrent_first_use_of_a_fresh_database(running_store: Any, store_name: str) -> None:
    if store_name != "pgvector":
        pytest.skip("pgvector only: the extension lives per database")
    for _ in range(3):  # each round on a new database: the race is on the first use
        fresh = f"fresh_{secrets.token_hex(4)}"
        with _admin(running_store) as admin:
            admin.execute(f'CREATE DATABASE "{fresh}"')
        try:
            assert _first_use(running_store, fresh) == [], f"database {fresh}"
        finally:
            with _admin(running_store) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
