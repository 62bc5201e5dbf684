"""Settings of the reference backend, read from the environment.

Every value comes from a variable of ``env/definitions.env`` (the single definition of each
fact); a variable missing from the environment falls back to its default there, so nothing
is defaulted twice.  Pure apart from reading the definitions file: :func:`load` takes the
environment as a mapping, and every problem is collected and raised once
(:class:`stack.errors.ProblemsError`), naming the variable and the fix.

Local state (relative ``OPENDAL_FS_ROOT``, the beat schedule) lives in the *state dir*:
``STACK_RUN_STATE_DIR`` when set (the image sets ``/app/api``, the upstream working directory),
otherwise ``<repo>/.stack/run`` (ignored by git) -- never among the sources.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from stack.errors import Problem, ProblemsError

#: The queue of each task; every one must be listed in CELERY_QUEUES (no implicit queue).
TASK_QUEUES: dict[str, str] = {
    "stack.index_document": "dataset",
    "stack.cleanup": "dataset",
    "stack.heartbeat": "dataset",
}
#: Tasks beat schedules (the names of TASK_QUEUES entries).
BEAT_TASKS: tuple[str, ...] = ("stack.cleanup", "stack.heartbeat")
#: Vector stores the reference backend can drive (through stack.stores adapters).
SUPPORTED_STORES: tuple[str, ...] = ("pgvector", "chroma", "milvus")
_TRUE = {"1", "true", "yes", "on"}


@lru_cache(maxsize=1)
def definition_defaults() -> dict[str, str]:
    """Defaults of every definitions variable ({} when the definitions are absent).

    Read with python-dotenv's parser only (values are literal): the backend must start even
    while a definitions annotation is being edited; ``env.check`` validates the rest.
    """
    from dotenv import dotenv_values

    from stack import paths

    out: dict[str, str] = {}
    for path in sorted(paths.ENV_DIR.glob("*.env")):
        values = dotenv_values(path, interpolate=False)
        out.update({k: v or "" for k, v in values.items() if k not in out})
    return out


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``STACK_RUN_STATE_DIR`` or ``<repo>/.stack/run`` (not created here)."""
    from stack import paths

    env = os.environ if environ is None else environ
    raw = env.get("STACK_RUN_STATE_DIR", "").strip()
    return Path(raw).expanduser().resolve() if raw else paths.ROOT / ".stack" / "run"


@dataclass(frozen=True)
class Settings:
    """Everything the backend processes need, validated."""

    db_type: str
    db_url: str  # SQLAlchemy URL with the password (never logged)
    engine_options: dict[str, Any]
    redis: dict[str, Any]  # redis.Redis(**redis)
    broker_url: str
    result_backend: str
    broker_use_ssl: bool
    queues: tuple[str, ...]
    heartbeat_interval: int
    cleanup_days: int
    vector_store: str
    store_options: dict[str, Any]
    index_prefix: str
    fs_root: Path
    state_dir: Path
    max_body_bytes: int
    log_level: str = "INFO"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def default_queue(self) -> str:
        """Where an unrouted task goes: the first listed queue (there is no implicit one)."""
        return self.queues[0]


class _Reader:
    def __init__(self, environ: Mapping[str, str], defaults: Mapping[str, str]) -> None:
        self.env, self.defaults = environ, defaults
        self.problems: list[Problem] = []

    def text(self, name: str) -> str:
        if name in self.env:
            return self.env[name]
        return self.defaults.get(name, "")

    def bad(self, name: str, what: str, fix: str | None = None) -> None:
        self.problems.append(
            Problem(f"env {name}", what, fix or f"set {name} in .env (see docs/ENV.md)")
        )

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        raw = self.text(name).strip()
        try:
            value = int(raw)
        except ValueError:
            self.bad(name, f"must be an integer, got {raw!r}")
            return minimum or 0
        if minimum is not None and value < minimum:
            self.bad(name, f"must be >= {minimum}, got {value}")
        return value

    def boolean(self, name: str) -> bool:
        raw = self.text(name).strip().lower()
        if raw not in _TRUE | {"0", "false", "no", "off", ""}:
            self.bad(name, f"must be true or false, got {raw!r}")
        return raw in _TRUE


def parse_queues(raw: str) -> tuple[str, ...]:
    """``"a, b,,a"`` -> ``("a", "b")`` (order kept, duplicates and blanks dropped)."""
    return tuple(dict.fromkeys(q.strip() for q in raw.split(",") if q.strip()))


def queue_problems(queues: tuple[str, ...]) -> list[Problem]:
    """One problem per routed queue missing from ``queues``, naming the tasks that use it."""
    listed = ", ".join(queues) or "(empty)"
    missing: dict[str, list[str]] = {}
    for task, queue in TASK_QUEUES.items():
        if queue not in queues:
            missing.setdefault(queue, []).append(task)
    return [
        Problem(
            "env CELERY_QUEUES",
            f"queue {queue!r} (used by {', '.join(tasks)}) is not listed (CELERY_QUEUES={listed})",
            f"add {queue} to CELERY_QUEUES in .env",
        )
        for queue, tasks in missing.items()
    ]


def _db_url(r: _Reader) -> tuple[str, str]:
    from sqlalchemy.engine import URL

    db_type = r.text("DB_TYPE").strip()
    common: dict[str, Any] = {
        "username": r.text("DB_USERNAME"),
        "password": r.text("DB_PASSWORD"),
        "host": r.text("DB_HOST"),
        "port": r.integer("DB_PORT", minimum=1),
        "database": r.text("DB_DATABASE"),
    }
    if db_type == "postgresql":
        query = {"sslmode": r.text("DB_SSL_MODE") or "disable"}
        url = URL.create("postgresql+psycopg", query=query, **common)
    elif db_type == "mysql":
        url = URL.create("mysql+pymysql", query={"charset": "utf8mb4"}, **common)
    else:
        r.bad("DB_TYPE", f"must be postgresql or mysql, got {db_type!r}")
        return db_type, ""
    return db_type, url.render_as_string(hide_password=False)


def _store_options(r: _Reader, store: str) -> dict[str, Any]:
    if store == "pgvector":
        return {
            "host": r.text("PGVECTOR_HOST"),
            "port": r.integer("PGVECTOR_PORT", minimum=1),
            "user": r.text("PGVECTOR_USER"),
            "password": r.text("PGVECTOR_PASSWORD"),
            "dbname": r.text("PGVECTOR_DATABASE"),
        }
    if store == "chroma":
        options: dict[str, Any] = {
            "host": r.text("CHROMA_HOST"),
            "port": r.integer("CHROMA_PORT", minimum=1),
        }
        if r.text("CHROMA_AUTH_CREDENTIALS"):
            options["chroma_client_auth_provider"] = r.text("CHROMA_AUTH_PROVIDER")
            options["chroma_client_auth_credentials"] = r.text("CHROMA_AUTH_CREDENTIALS")
        return options
    if store == "milvus":
        options = {"uri": r.text("MILVUS_URI"), "token": r.text("MILVUS_TOKEN")}
        if not options["token"] and r.text("MILVUS_USER"):
            options["user"] = r.text("MILVUS_USER")
            options["password"] = r.text("MILVUS_PASSWORD")
        if r.text("MILVUS_DATABASE"):
            options["db_name"] = r.text("MILVUS_DATABASE")
        return options
    r.bad(
        "VECTOR_STORE",
        f"{store!r} is not supported by the reference backend",
        f"use one of: {', '.join(SUPPORTED_STORES)}",
    )
    return {}


def load(
    environ: Mapping[str, str] | None = None, defaults: Mapping[str, str] | None = None
) -> Settings:
    """Validated settings from ``environ`` (default ``os.environ``); ProblemsError otherwise."""
    env = os.environ if environ is None else environ
    r = _Reader(env, definition_defaults() if defaults is None else defaults)
    db_type, db_url = _db_url(r)
    engine_options = {
        "pool_size": r.integer("SQLALCHEMY_POOL_SIZE", minimum=1),
        "max_overflow": r.integer("SQLALCHEMY_MAX_OVERFLOW", minimum=0),
        "pool_recycle": r.integer("SQLALCHEMY_POOL_RECYCLE"),
        "pool_timeout": r.integer("SQLALCHEMY_POOL_TIMEOUT", minimum=1),
        "pool_pre_ping": r.boolean("SQLALCHEMY_POOL_PRE_PING"),
        "pool_use_lifo": r.boolean("SQLALCHEMY_POOL_USE_LIFO"),
        "echo": r.boolean("SQLALCHEMY_ECHO"),
        "connect_args": {"connect_timeout": 5},
    }
    redis_options: dict[str, Any] = {
        "host": r.text("REDIS_HOST"),
        "port": r.integer("REDIS_PORT", minimum=1),
        "username": r.text("REDIS_USERNAME") or None,
        "password": r.text("REDIS_PASSWORD") or None,
        "db": r.integer("REDIS_DB", minimum=0),
        "ssl": r.boolean("REDIS_USE_SSL"),
        "socket_timeout": 3,
        "socket_connect_timeout": 3,
    }
    broker = r.text("CELERY_BROKER_URL").strip()
    if not broker:
        r.bad("CELERY_BROKER_URL", "is empty", "set CELERY_BROKER_URL=redis://:<pw>@<host>:6379/1")
    backend_kind = r.text("CELERY_BACKEND").strip()
    if backend_kind == "redis":
        result_backend = broker
    elif backend_kind == "database":
        result_backend = f"db+{db_url}"
    else:
        r.bad("CELERY_BACKEND", f"must be redis or database, got {backend_kind!r}")
        result_backend = ""
    queues = parse_queues(r.text("CELERY_QUEUES"))
    r.problems.extend(queue_problems(queues))
    store = r.text("VECTOR_STORE").strip()
    store_options = _store_options(r, store)
    storage_type, scheme = r.text("STORAGE_TYPE").strip(), r.text("OPENDAL_SCHEME").strip()
    if storage_type != "opendal":
        r.bad(
            "STORAGE_TYPE", f"the reference backend stores files with opendal, not {storage_type!r}"
        )
    if scheme != "fs":
        r.bad("OPENDAL_SCHEME", f"the reference backend supports the fs scheme, not {scheme!r}")
    sdir = state_dir(env)
    root = Path(r.text("OPENDAL_FS_ROOT").strip() or "storage").expanduser()
    settings = Settings(
        db_type=db_type,
        db_url=db_url,
        engine_options=engine_options,
        redis=redis_options,
        broker_url=broker,
        result_backend=result_backend,
        broker_use_ssl=r.boolean("BROKER_USE_SSL"),
        queues=queues,
        heartbeat_interval=r.integer("CELERY_BEAT_HEARTBEAT_INTERVAL", minimum=1),
        cleanup_days=r.integer("CELERY_BEAT_SCHEDULER_TIME", minimum=1),
        vector_store=store,
        store_options=store_options,
        index_prefix=r.text("VECTOR_INDEX_NAME_PREFIX").strip() or "Vector_index",
        fs_root=root if root.is_absolute() else sdir / root,
        state_dir=sdir,
        max_body_bytes=r.integer("UPLOAD_FILE_SIZE_LIMIT", minimum=1) * 1024 * 1024,
        log_level=(r.text("LOG_LEVEL").strip() or "INFO").upper(),
    )
    if r.problems:
        raise ProblemsError("reference backend: invalid settings", r.problems)
    return settings


_CURRENT: Settings | None = None


def current() -> Settings:
    """The process-wide settings (loaded once from ``os.environ``)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = load()
    return _CURRENT
