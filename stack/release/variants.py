"""The deployments `nox -s smoke` checks: one .env per (DB_TYPE, VECTOR_STORE) pair.

Each is the handful of lines a user changes for that pair (for MySQL the bundled server's
host, port and user, as the definitions' comments say), plus a short beat heartbeat so the
"beat ran again" check takes seconds instead of the default minute.
"""

from __future__ import annotations

from pathlib import Path

VARIANTS: dict[str, dict[str, str]] = {
    "postgresql-pgvector": {"DB_TYPE": "postgresql", "VECTOR_STORE": "pgvector"},
    "mysql-chroma": {
        "DB_TYPE": "mysql",
        "VECTOR_STORE": "chroma",
        "DB_HOST": "db_mysql",
        "DB_PORT": "3306",
        "DB_USERNAME": "root",
    },
}
HEARTBEAT = {"CELERY_BEAT_HEARTBEAT_INTERVAL": "5"}


def env_text(name: str) -> str:
    """The .env of variant ``name`` (KeyError naming the known ones otherwise)."""
    if name not in VARIANTS:
        raise KeyError(f"unknown smoke variant {name!r}; known: {', '.join(VARIANTS)}")
    values = {**VARIANTS[name], **HEARTBEAT}
    head = f"# smoke variant {name} (stack/release/variants.py)\n"
    return head + "".join(f"{k}={v}\n" for k, v in values.items())


def write(name: str, directory: str | Path) -> Path:
    """Write variant ``name``'s .env into ``directory``; its path."""
    from stack.fsutil import write_atomic

    path = Path(directory) / f"smoke-{name}.env"
    write_atomic(path, env_text(name))
    return path
