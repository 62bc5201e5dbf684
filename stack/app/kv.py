"""The redis the backend uses for its own state (``REDIS_*``, database ``REDIS_DB``).

The heartbeat task records its time here; ``/health`` reads it back.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from stack.app import config

HEARTBEAT_KEY = "stack:beat:heartbeat"
_lock = threading.Lock()
_client: Any = None


def client() -> Any:
    """The process's redis client (its pool reconnects on its own after an outage)."""
    global _client
    with _lock:
        if _client is None:
            import redis

            _client = redis.Redis(**config.current().redis)
        return _client


def record_heartbeat(task_id: str | None = None, at: float | None = None) -> dict[str, Any]:
    """Store the heartbeat's time (epoch seconds) and the task id; returns what was stored."""
    value = {"at": time.time() if at is None else at, "task_id": task_id}
    client().set(HEARTBEAT_KEY, json.dumps(value))
    return value


def last_heartbeat() -> dict[str, Any] | None:
    """The last recorded heartbeat, or None if beat never ran (or the value is unreadable)."""
    raw = client().get(HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "at" in value else None
