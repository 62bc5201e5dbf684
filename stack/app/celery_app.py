"""The Celery app: broker ``CELERY_BROKER_URL``, results per ``CELERY_BACKEND``, queues and
routes from ``CELERY_QUEUES`` (no implicit ``celery`` queue), the beat schedule.

:func:`celery_config` is pure (unit-tested); :func:`make_celery` builds the app and registers
the tasks of :mod:`stack.app.tasks`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stack.app import config


def beat_schedule(s: config.Settings) -> dict[str, dict[str, Any]]:
    """The periodic tasks: cleanup every CELERY_BEAT_SCHEDULER_TIME days, the heartbeat
    every CELERY_BEAT_HEARTBEAT_INTERVAL seconds; each sent to its routed queue."""
    return {
        "cleanup": {
            "task": "stack.cleanup",
            "schedule": timedelta(days=s.cleanup_days),
            "options": {"queue": config.TASK_QUEUES["stack.cleanup"]},
        },
        "heartbeat": {
            "task": "stack.heartbeat",
            "schedule": timedelta(seconds=s.heartbeat_interval),
            "options": {
                "queue": config.TASK_QUEUES["stack.heartbeat"],
                "expires": s.heartbeat_interval,  # a stale heartbeat is worth nothing
            },
        },
    }


def celery_config(s: config.Settings) -> dict[str, Any]:
    """Celery settings (lowercase names) for ``s``; queues are exactly ``s.queues``."""
    from kombu import Queue

    cfg: dict[str, Any] = {
        "broker_url": s.broker_url,
        "result_backend": s.result_backend,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "task_queues": tuple(Queue(q, routing_key=q) for q in s.queues),
        "task_default_queue": s.default_queue,
        "task_create_missing_queues": False,
        "task_routes": {task: {"queue": q} for task, q in config.TASK_QUEUES.items()},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": timedelta(days=1),
        # a broker or result store that is down fails a request in seconds, not after the
        # default 20 reconnects (then the api answers 503 broker_unavailable)
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0.2},
        "result_backend_transport_options": {
            "retry_policy": {"max_retries": 2, "interval_start": 0.2, "interval_max": 0.5}
        },
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "beat_schedule": beat_schedule(s),
        "timezone": "UTC",
        "enable_utc": True,
    }
    if s.result_backend.startswith("db+"):
        cfg["database_engine_options"] = {"pool_pre_ping": True}
        cfg["database_create_tables_at_setup"] = True
    if s.broker_use_ssl:
        import ssl

        cfg["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_NONE}
    return cfg


def make_celery(s: config.Settings | None = None) -> Any:
    """The Celery app with the backend's tasks registered."""
    from celery import Celery
    from celery.signals import worker_process_init

    from stack.app import db, tasks, vectors

    app = Celery("stack")
    app.conf.update(celery_config(s or config.current()))
    tasks.register(app)

    @worker_process_init.connect(weak=False)
    def _after_fork(**_: Any) -> None:
        db.dispose()  # a prefork child must not reuse the parent's pooled connections
        vectors.reset(close=False)  # nor its vector-store connections

    return app
