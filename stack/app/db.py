"""The SQLAlchemy engine and sessions of one process (created lazily, after any fork)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stack.app import config

_lock = threading.Lock()
_engine: Any = None
_factory: Any = None


def engine() -> Any:
    """The process's engine (``DB_*`` / ``SQLALCHEMY_*`` settings)."""
    global _engine, _factory
    with _lock:
        if _engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.orm import sessionmaker

            s = config.current()
            _engine = create_engine(s.db_url, **s.engine_options)
            _factory = sessionmaker(_engine, expire_on_commit=False)
        return _engine


@contextmanager
def session() -> Iterator[Any]:
    """A session committed on success, rolled back on error, always closed."""
    engine()
    sess = _factory()
    try:
        yield sess
        sess.commit()
    except BaseException:
        sess.rollback()
        raise
    finally:
        sess.close()


def dispose() -> None:
    """Forget the engine (call in a forked child: pooled connections belong to the parent)."""
    global _engine, _factory
    with _lock:
        if _engine is not None:
            _engine.dispose(close=False)
        _engine, _factory = None, None


def ping() -> None:
    """``SELECT 1`` on a fresh pooled connection."""
    from sqlalchemy import text

    with engine().connect() as conn:
        conn.execute(text("SELECT 1"))
