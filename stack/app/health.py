"""``/health``: the state of each dependency and the time of beat's last periodic run.

Every check is a real round trip (``SELECT 1``, redis ``PING`` on the app's redis and on
the broker, the vector store's ``ping``), run concurrently with short timeouts so a dead
dependency costs seconds, not the client's whole timeout.  200 when all are up, else 503
with ``down`` naming each failing one.  Beat's heartbeat is reported, never fatal (there is
none yet right after a start).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from stack.app import config

_lock = threading.Lock()
_broker: dict[str, Any] = {}


def _broker_ping() -> None:
    url = config.current().broker_url
    if url.startswith(("redis://", "rediss://")):
        with _lock:
            if "client" not in _broker:
                import redis

                _broker["client"] = redis.Redis.from_url(
                    url, socket_timeout=3, socket_connect_timeout=3
                )
        _broker["client"].ping()
        return
    from kombu import Connection

    with Connection(url, connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=1)


def _db_ping() -> None:
    from stack.app import db

    db.ping()


def _redis_ping() -> None:
    from stack.app import kv

    kv.client().ping()


def _store_ping() -> None:
    from stack.app import vectors

    vectors.ping()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _db_ping,
    "redis": _redis_ping,
    "broker": _broker_ping,
    "vector_store": _store_ping,
}


def _run(check: Callable[[], None]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        check()
    except Exception as exc:
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        return {"ok": False, "error": f"{type(exc).__name__}: {text}"}
    return {"ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1)}


def _beat() -> dict[str, Any]:
    from stack.app import kv

    try:
        hb = kv.last_heartbeat()
    except Exception as exc:
        return {"last_run": None, "error": f"{type(exc).__name__}: cannot read the heartbeat"}
    if hb is None:
        return {"last_run": None, "age_seconds": None}
    at = float(hb["at"])
    return {
        "last_run": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
        "age_seconds": round(max(0.0, time.time() - at), 1),
        "task_id": hb.get("task_id"),
        "interval_seconds": config.current().heartbeat_interval,
    }


def report() -> tuple[dict[str, Any], int]:
    """The health document and its HTTP status (200 or 503)."""
    s = config.current()
    with ThreadPoolExecutor(max_workers=len(CHECKS) + 1) as pool:
        futures = {name: pool.submit(_run, fn) for name, fn in CHECKS.items()}
        beat = pool.submit(_beat)
        checks = {name: f.result() for name, f in futures.items()}
        beat_state = beat.result()
    checks["vector_store"]["store"] = s.vector_store
    checks["database"]["type"] = s.db_type
    down = [name for name, c in checks.items() if not c["ok"]]
    body = {
        "status": "down" if down else "ok",
        "down": down,
        "checks": checks,
        "beat": beat_state,
    }
    return body, 503 if down else 200
