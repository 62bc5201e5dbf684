"""Run the Alembic migrations programmatically (``flask upgrade-db``, tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Any:
    """An Alembic Config pointing at ``stack/app/migrations`` (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(revision: str = "head") -> str | None:
    """Migrate the configured database to ``revision``; returns the revision reached."""
    from alembic import command

    command.upgrade(alembic_config(), revision)
    return current_revision()


def current_revision() -> str | None:
    """The database's current Alembic revision (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    from stack.app import db

    with db.engine().connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        return rev


def head_revision() -> str | None:
    """The newest revision in ``migrations/versions``."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head
