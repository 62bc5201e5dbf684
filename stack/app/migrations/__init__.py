"""Versioned Alembic migrations of the reference backend (``flask upgrade-db`` runs them)."""
