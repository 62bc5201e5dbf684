"""The reference backend end to end: real gunicorn, celery worker and beat processes started
with the MODE table's argv from ``stack/app``, against labelled postgres, redis and vector
store containers (stand-ins, never pulled).

Proves: migrations, ingest -> queued/indexing -> completed -> search finds it ranked first,
the 4xx error contract, beat's heartbeat reaching /health, /health 503 naming redis while it
is stopped (and 200 again after), indexing failures ending in ``error`` with the reason, the
periodic cleanup, MySQL with the database result backend, and the gevent api + worker against
milvus (gRPC) and chroma.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.engine.client import engine_alive
from tests.integration.app_support import (
    Backend,
    Middleware,
    host_env,
    http,
    standin,
    start_postgres_redis,
    wait_status,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

DOCS = {
    "cats": "Cats are small carnivorous mammals. A cat purrs and chases mice in the garden.",
    "rockets": "Rockets burn liquid fuel and oxygen to reach orbit around the planet Earth.",
    "bread": "Bread is baked from flour, water, yeast and salt in a hot oven every morning.",
}


def _start(env: dict[str, str], logdir: Path) -> Backend:
    from stack.dev.ports import free_ports

    (port,) = free_ports(1)
    backend = Backend({**env, "DIFY_PORT": str(port)}, logdir)
    migrated = backend.run("migration")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "migrated to revision 0001" in migrated.stdout
    for mode in ("api", "worker", "beat"):
        backend.start(mode)
    base = f"http://127.0.0.1:{port}"
    backend.env["BASE"] = base

    def healthy() -> None:
        status, body = http("GET", f"{base}/health")
        assert status == 200, body

    wait_until(healthy, 90, backend.logs)
    return backend


@pytest.fixture(scope="module")
def pg_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """postgres + redis + pgvector containers and api/worker/beat on the host (gevent)."""
    tmp = tmp_path_factory.mktemp("app")
    with Middleware.open() as mw:
        ports = start_postgres_redis(mw)
        env = host_env(ports, tmp / "state")
        backend = _start(env, tmp)
        try:
            yield {"mw": mw, "backend": backend, "base": backend.env["BASE"], "tmp": tmp}
        finally:
            backend.stop()


def test_migration_is_versioned_and_idempotent(pg_stack: dict[str, Any]) -> None:
    again = pg_stack["backend"].run("migration")
    assert again.returncode == 0, again.stderr
    assert "migrated to revision 0001 (head 0001)" in again.stdout


def test_ingest_index_and_search(pg_stack: dict[str, Any]) -> None:
    base = pg_stack["base"]
    ids = {}
    for key, text in DOCS.items():
        status, body = http("POST", f"{base}/v1/datasets/kb1/documents", {"text": text})
        assert status == 202, body
        assert body["status"] == "queued"
        ids[key] = body["id"]
    for doc_id in ids.values():
        final = wait_status(base, "kb1", doc_id)
        assert final["status"] == "completed", final
        assert final["chunks"] >= 1 and final["error"] is None
        assert set(final["seen"]) <= {"queued", "indexing", "completed"}
    status, body = http("GET", f"{base}/v1/datasets/kb1/search?q=a+cat+chasing+mice&top_k=3")
    assert status == 200, body
    results = body["results"]
    assert results[0]["document_id"] == ids["cats"]
    assert len(results) == 3
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    assert "purrs" in results[0]["text"]
    status, body = http("GET", f"{base}/v1/datasets/kb1/search?q=orbit+fuel&top_k=1")
    assert status == 200 and [r["document_id"] for r in body["results"]] == [ids["rockets"]]
    # the body was kept in the file storage under the state dir, not in the repository
    stored = list((pg_stack["tmp"] / "state" / "storage").rglob(f"{ids['bread']}.txt"))
    assert len(stored) == 1 and stored[0].read_text() == DOCS["bread"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("GET", f"/v1/datasets/kb1/documents/{uuid.UUID(int=0)}", None, 404, "not_found"),
        ("GET", "/v1/datasets/kb1/documents/not-a-uuid", None, 404, "not_found"),
        ("GET", "/v1/datasets/never-used/search?q=x", None, 404, "not_found"),
        ("POST", "/v1/datasets/kb1/documents", {"text": "   "}, 400, "empty_text"),
        ("POST", "/v1/datasets/kb1/documents", {"txt": "x"}, 400, "invalid_body"),
        ("POST", "/v1/datasets/kb1/documents", b"{not json", 400, "malformed_json"),
        ("POST", "/v1/datasets/kb1/documents", b"x" * (2**20 + 1), 413, "request_entity_too_large"),
        ("POST", "/v1/datasets/bad%20name/documents", {"text": "x"}, 400, "invalid_dataset"),
        ("GET", "/v1/datasets/kb1/search", None, 400, "missing_query"),
        ("GET", "/v1/datasets/kb1/search?q=x&top_k=zero", None, 400, "invalid_top_k"),
        ("GET", "/v1/nowhere", None, 404, "not_found"),
    ],
)  # fmt: skip
def test_bad_requests_get_json_4xx(
    pg_stack: dict[str, Any], method: str, path: str, payload: Any, status: int, code: str
) -> None:
    url = pg_stack["base"] + path
    if isinstance(payload, bytes):
        got, body = http(method, url, raw=payload)
    else:
        got, body = http(method, url, payload)
    assert got == status, body
    assert isinstance(body, dict) and body["error"] == code and body["message"], body
    assert "Traceback" not in str(body)


def test_health_reports_every_dependency_and_beat(pg_stack: dict[str, Any]) -> None:
    base = pg_stack["base"]
    for path in ("/health", "/v1/health"):
        status, body = http("GET", base + path)
        assert status == 200, body
        assert body["down"] == []
        assert set(body["checks"]) == {"database", "redis", "broker", "vector_store"}
        assert all(c["ok"] for c in body["checks"].values())
        assert body["checks"]["vector_store"]["store"] == "pgvector"

    # beat schedules the heartbeat every second; a worker runs it; /health shows it advance
    def beat_ran_twice() -> None:
        first = http("GET", f"{base}/health")[1]["beat"]
        assert first["last_run"] is not None, first
        wait_until(
            lambda: _assert_newer(http("GET", f"{base}/health")[1]["beat"], first["last_run"]), 20
        )

    wait_until(beat_ran_twice, 60, pg_stack["backend"].logs)


def _assert_newer(beat: dict[str, Any], than: str) -> None:
    assert beat["last_run"] and beat["last_run"] > than, beat


def test_health_names_redis_while_it_is_down(pg_stack: dict[str, Any]) -> None:
    base = pg_stack["base"]
    redis = pg_stack["mw"].containers["redis"]
    redis.stop(timeout=5)
    try:
        status, body = http("GET", f"{base}/health")
        assert status == 503, body
        assert "redis" in body["down"] and "broker" in body["down"], body
        assert "database" not in body["down"] and "vector_store" not in body["down"]
        assert body["checks"]["redis"]["error"]
        # the broker is that redis: a document is refused with a JSON 503, marked error
        status, body = http("POST", f"{base}/v1/datasets/kb3/documents", {"text": "later"})
        assert (status, body["error"]) == (503, "broker_unavailable"), body
    finally:
        redis.start()
    assert pg_stack["mw"].host_port("redis", 6379) == int(pg_stack["backend"].env["REDIS_PORT"])
    wait_until(lambda: _assert_status(f"{base}/health", 200), 60, pg_stack["backend"].logs)
    # api and worker reconnect on their own: the next document goes through
    status, body = http("POST", f"{base}/v1/datasets/kb3/documents", {"text": "after the outage"})
    assert status == 202, body
    assert wait_status(base, "kb3", body["id"])["status"] == "completed"


def test_indexing_failure_ends_in_error_with_the_reason(pg_stack: dict[str, Any]) -> None:
    base = pg_stack["base"]
    store = pg_stack["mw"].containers["pgvector"]
    store.stop(timeout=5)
    try:
        status, body = http("POST", f"{base}/v1/datasets/kb2/documents", {"text": "lost words"})
        assert status == 202, body  # accepted: the database and the broker are up
        final = wait_status(base, "kb2", body["id"])
        assert final["status"] == "error", final
        assert "OperationalError" in final["error"] and "connect" in final["error"], final
        status, health = http("GET", f"{base}/health")
        assert status == 503 and health["down"] == ["vector_store"], health
    finally:
        store.start()
    wait_until(lambda: _assert_status(f"{base}/health", 200), 60, pg_stack["backend"].logs)


def test_cleanup_task_removes_orphaned_bodies(pg_stack: dict[str, Any]) -> None:
    """stack.cleanup (beat's daily task) runs on the worker through the dataset queue."""
    from stack.app import config
    from stack.app.celery_app import make_celery

    storage = pg_stack["tmp"] / "state" / "storage" / "datasets"
    orphan = storage / str(uuid.uuid4()) / f"{uuid.uuid4()}.txt"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("no row refers to me")
    kept = sorted(storage.rglob("*.txt"))
    assert len(kept) > 1
    client = make_celery(config.load(pg_stack["backend"].env))
    try:
        result = client.send_task("stack.cleanup").get(timeout=60)
    finally:
        client.close()
    assert result["orphaned_bodies"] == 1, result
    assert not orphan.exists()
    assert sorted(storage.rglob("*.txt")) == [p for p in kept if p != orphan]


def _assert_status(url: str, want: int) -> None:
    status, body = http("GET", url)
    assert status == want, body


#: Per store: (container port, the variables pointing the backend at the published port).
STORE_ENV = {
    "milvus": (19530, lambda port: {"MILVUS_URI": f"http://127.0.0.1:{port}"}),
    "chroma": (8000, lambda port: {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port)}),
}


@pytest.mark.parametrize("store", list(STORE_ENV))
def test_gevent_api_and_worker_against_each_store(tmp_path: Path, store: str) -> None:
    """SERVER_WORKER_CLASS=gevent and CELERY_WORKER_CLASS=gevent (the shipped defaults) with
    pymilvus (gRPC: needs gRPC's gevent support after the monkey patch) and chromadb-client."""
    ref = standin(store)
    port, variables = STORE_ENV[store]
    with Middleware.open() as mw:
        ports = start_postgres_redis(mw, pgvector=False)
        mw.start(store, ref, port=port)
        env = host_env(
            ports, tmp_path / "state", VECTOR_STORE=store, **variables(mw.host_port(store, port))
        )
        assert env["SERVER_WORKER_CLASS"] == "gevent" and env["CELERY_WORKER_CLASS"] == "gevent"
        try:
            backend = _start(env, tmp_path)
        except BaseException:
            print(mw.logs(store))
            raise
        try:
            base = backend.env["BASE"]
            status, body = http("POST", f"{base}/v1/datasets/s1/documents", {"text": DOCS["cats"]})
            assert status == 202, body
            http("POST", f"{base}/v1/datasets/s1/documents", {"text": DOCS["rockets"]})
            final = wait_status(base, "s1", body["id"], timeout=120)
            assert final["status"] == "completed", (final, backend.logs())
            status, found = http("GET", f"{base}/v1/datasets/s1/search?q=cat+purrs")
            assert status == 200 and found["results"][0]["document_id"] == body["id"], found
            health = http("GET", f"{base}/v1/health")[1]
            assert health["checks"]["vector_store"]["ok"] is True
            assert health["checks"]["vector_store"]["store"] == store
            # gRPC was told about gevent in both: by gunicorn_conf's subscriber to gevent's
            # patch event in the api, at app import (after celery's patch) in the worker
            assert "gRPC gevent support initialised on gevent's patch event" in backend.log("api")
            assert "gRPC gevent support initialised on app import" in backend.log("worker")
        finally:
            backend.stop()


def test_mysql_with_database_result_backend(tmp_path: Path) -> None:
    """DB_TYPE=mysql (PyMySQL) and CELERY_BACKEND=database: the schema migrates on MySQL and
    task results land in the database (celery_taskmeta)."""
    import pymysql

    from tests.integration.app_support import PG_PASSWORD

    with Middleware.open() as mw:
        mw.start(
            "db_mysql",
            standin("mysql"),
            port=3306,
            environment={"MYSQL_ROOT_PASSWORD": PG_PASSWORD, "MYSQL_DATABASE": "dify"},
        )
        ports = start_postgres_redis(mw)
        mysql_port = mw.host_port("db_mysql", 3306)

        def connect() -> Any:
            return pymysql.connect(
                host="127.0.0.1", port=mysql_port, user="root", password=PG_PASSWORD,
                database="dify", connect_timeout=2,
            )  # fmt: skip

        wait_until(lambda: connect().close(), 60, lambda: mw.logs("db_mysql"))
        env = host_env(
            ports,
            tmp_path / "state",
            DB_TYPE="mysql",
            DB_PORT=str(mysql_port),
            DB_USERNAME="root",
            CELERY_BACKEND="database",
        )
        backend = _start(env, tmp_path)
        try:
            base = backend.env["BASE"]
            status, body = http("POST", f"{base}/v1/datasets/my/documents", {"text": DOCS["bread"]})
            assert status == 202, body
            assert wait_status(base, "my", body["id"])["status"] == "completed"
            status, found = http("GET", f"{base}/v1/datasets/my/search?q=flour+yeast")
            assert found["results"][0]["document_id"] == body["id"], found
            with connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT version_num FROM alembic_version")
                assert cur.fetchone() == ("0001",)
                cur.execute("SELECT status FROM documents WHERE id = %s", (body["id"],))
                assert cur.fetchone() == ("completed",)

            # a task whose result is kept: stored by the worker, read back through the database
            from stack.app import config
            from stack.app.celery_app import make_celery

            client = make_celery(config.load(backend.env))
            try:
                outcome = client.send_task("stack.cleanup")
                assert outcome.get(timeout=60)["orphaned_bodies"] == 0
            finally:
                client.close()
            with connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT status FROM celery_taskmeta WHERE task_id = %s", (outcome.id,))
                assert cur.fetchone() == ("SUCCESS",)
        finally:
            backend.stop()
