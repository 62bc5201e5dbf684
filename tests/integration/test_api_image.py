"""The api stand-in image (``langgenius/dify-api`` offline): api, worker and worker_beat from
one image, picked by MODE through the one MODE table, on one labelled network with the
middleware stand-ins, named as in the production compose file (db_postgres, redis, pgvector).

Proves: the template's image reference resolves to the stand-in, MODE=api migrates and serves
on 5001 as uid 1001 with curl for the health check, the worker indexes, beat's heartbeat
reaches /health, and one ingest -> search round trip through the published port.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stack.engine.client import engine_alive
from tests.integration.app_support import (
    PG_PASSWORD,
    REDIS_PASSWORD,
    Middleware,
    http,
    start_postgres_redis,
    wait_status,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

# The compose file's names; everything else comes from the definitions' defaults in the image.
ENV = {
    "DB_PASSWORD": PG_PASSWORD,
    "REDIS_PASSWORD": REDIS_PASSWORD,
    "CELERY_BROKER_URL": f"redis://:{REDIS_PASSWORD}@redis:6379/1",
    "PGVECTOR_PASSWORD": PG_PASSWORD,
    "PGVECTOR_USER": "postgres",
    "PGVECTOR_DATABASE": "dify",
    "VECTOR_STORE": "pgvector",
    "CELERY_BEAT_HEARTBEAT_INTERVAL": "1",
}


def _image() -> str:
    """The image the template's ``langgenius/dify-api`` resolves to offline: the stand-in."""
    from stack.images.resolve import resolve_all

    res = resolve_all(["api"], environ={"STACK_OFFLINE": "1"})["api"]
    if res.kind != "standin":
        pytest.skip(f"{res.entry.ref}: {res.remedy or res.kind} (invoke images.build --only api)")
    return res.ref_to_use


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Any]]:
    image = _image()
    with Middleware.open() as mw:
        start_postgres_redis(mw)
        # api and worker share the storage volume, as in the compose file
        storage = mw.client.volumes.create(f"stack-apptest-storage-{mw.session}", labels=mw.labels)
        volumes = {storage.name: {"bind": "/app/api/storage", "mode": "rw"}}
        api = mw.start("api", image, port=5001, environment={**ENV, "MODE": "api"}, volumes=volumes)
        mw.start("worker", image, environment={**ENV, "MODE": "worker"}, volumes=volumes)
        mw.start("worker_beat", image, environment={**ENV, "MODE": "beat"})
        base = f"http://127.0.0.1:{mw.host_port('api', 5001)}"

        def logs() -> str:
            return "\n".join(f"--- {n} ---\n{mw.logs(n)}" for n in ("api", "worker", "worker_beat"))

        def healthy() -> None:
            api.reload()
            assert api.status == "running", "api exited"
            status, body = http("GET", f"{base}/health")
            assert status == 200, body

        wait_until(healthy, 120, logs)
        yield {"mw": mw, "base": base, "logs": logs, "image": image}


def test_modes_run_the_table_commands(deployed: dict[str, Any]) -> None:
    mw = deployed["mw"]
    api_log, worker_log, beat_log = (mw.logs(n) for n in ("api", "worker", "worker_beat"))
    assert "MODE=migration: " in api_log and "flask upgrade-db" in api_log
    assert "migrated to revision 0001" in api_log
    assert "MODE=api: " in api_log and "gunicorn" in api_log and "app:app" in api_log
    assert "MODE=worker: " in worker_log and "-Q dataset,generation" in worker_log
    assert "MODE=beat: " in beat_log and "/app/api/celerybeat-schedule" in beat_log
    assert "gRPC gevent support initialised" in worker_log  # shipped gevent pool


def test_upstream_interface_uid_port_curl(deployed: dict[str, Any]) -> None:
    api = deployed["mw"].containers["api"]
    rc, out = api.exec_run(["id", "-u"])
    assert (rc, out.strip()) == (0, b"1001")
    rc, out = api.exec_run(["curl", "-fsS", "http://localhost:5001/health"])  # template check
    assert rc == 0 and b'"status":"ok"' in out.replace(b" ", b""), out
    rc, out = api.exec_run(["ls", "-ld", "/app/api/storage"])
    assert rc == 0 and b"dify" in out


def test_health_and_one_round_trip(deployed: dict[str, Any]) -> None:
    base = deployed["base"]
    status, health = http("GET", f"{base}/v1/health")
    assert status == 200 and health["down"] == [], health
    wait_until(lambda: _beat_seen(base), 60, deployed["logs"])

    status, body = http(
        "POST", f"{base}/v1/datasets/img/documents", {"text": "Volcanoes erupt molten lava."}
    )
    assert status == 202, body
    http("POST", f"{base}/v1/datasets/img/documents", {"text": "Penguins swim in cold seas."})
    final = wait_status(base, "img", body["id"])
    assert final["status"] == "completed", (final, deployed["logs"]())
    status, found = http("GET", f"{base}/v1/datasets/img/search?q=lava+volcano&top_k=2")
    assert status == 200 and found["results"][0]["document_id"] == body["id"], found
    # the body is in the storage volume path, owned by the image's user
    api = deployed["mw"].containers["api"]
    rc, out = api.exec_run(["sh", "-c", f"cat /app/api/storage/datasets/*/{body['id']}.txt"])
    assert rc == 0 and out == b"Volcanoes erupt molten lava."


def _beat_seen(base: str) -> None:
    beat = http("GET", f"{base}/health")[1]["beat"]
    assert beat["last_run"] is not None, beat


def test_every_mode_stops_cleanly_on_sigterm(deployed: dict[str, Any]) -> None:
    """The program is PID 1 (the entrypoint execs it) and handles docker stop's SIGTERM:
    exit 0 for gunicorn and beat, and Celery's warm shutdown; never the SIGKILL (137)."""
    mw = deployed["mw"]
    for name in ("worker_beat", "worker", "api"):
        ctr = mw.containers[name]
        rc, out = ctr.exec_run(["cat", "/proc/1/cmdline"])
        assert rc == 0 and (b"gunicorn" in out or b"celery" in out), out
        ctr.stop(timeout=20)
        code = ctr.wait(timeout=30)["StatusCode"]
        assert code == 0, f"{name} exited {code}\n{mw.logs(name)}"
