"""Build the Flask app and the Celery app of the reference backend.

:func:`create` returns both; ``stack/app/app.py`` exposes them as ``app`` and ``celery``.
Every error becomes a JSON body (``{"error", "message", "status"}``): client mistakes are
4xx, anything unexpected a 500 whose details go to the log only, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from stack.app import config


def create_app(celery: Any, settings: config.Settings | None = None) -> Any:
    """The WSGI app (routes of :mod:`stack.app.api`, JSON errors, ``flask upgrade-db``)."""
    from flask import Flask, jsonify
    from werkzeug.exceptions import HTTPException

    from stack.app.api import bp
    from stack.app.validation import RequestError

    s = settings or config.current()
    app = Flask("stack.app", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = s.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["celery"] = celery
    app.register_blueprint(bp)
    log = logging.getLogger("stack.app")

    @app.errorhandler(RequestError)
    def _request_error(exc: RequestError) -> Any:
        return jsonify(exc.as_json()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        slug = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if code == 413:
            message = f"the body is larger than UPLOAD_FILE_SIZE_LIMIT ({s.max_body_bytes} bytes)"
        return jsonify({"error": slug, "message": message, "status": code}), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        body = {"error": "internal", "message": "internal error (see the api log)", "status": 500}
        return jsonify(body), 500

    @app.cli.command("upgrade-db")
    def upgrade_db() -> None:
        """Run the database migrations up to the newest revision."""
        import click

        from stack.app import migrate

        try:
            reached = migrate.upgrade()
        except Exception as exc:
            raise click.ClickException(
                f"database migration failed ({s.db_type}): {' '.join(str(exc).split())[:500]}"
                "\n  fix: check DB_HOST/DB_PORT/DB_USERNAME/DB_PASSWORD/DB_DATABASE and that the "
                "database is up (invoke dev.up)"
            ) from None
        click.echo(f"database migrated to revision {reached} (head {migrate.head_revision()})")

    return app


def create() -> tuple[Any, Any]:
    """``(flask_app, celery_app)`` from the process environment."""
    from stack.app.celery_app import make_celery

    s = config.current()
    s.state_dir.mkdir(parents=True, exist_ok=True)  # beat's schedule, the fs storage root
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    celery = make_celery(s)
    return create_app(celery, s), celery
