"""Alembic environment: the URL comes from the backend settings (``DB_*``), never alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from stack.app import config
from stack.app.models import Base

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Emit SQL for the configured database without connecting (``--sql``)."""
    context.configure(url=config.current().db_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Connect and migrate in one transaction."""
    engine = create_engine(
        config.current().db_url, poolclass=pool.NullPool, connect_args={"connect_timeout": 5}
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
