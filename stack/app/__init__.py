"""The reference backend: the api (Flask under gunicorn), the Celery worker and beat.

It is what ``invoke run.*`` runs on the host and what the ``stack-standin/api`` image runs in
place of ``langgenius/dify-api``.  Processes start from this package's directory
(``stack/app/``, cwd for every MODE), where :mod:`app` (``stack/app/app.py``) holds the WSGI
``app`` and the Celery app ``celery``::

    gunicorn -c stack/app/gunicorn_conf.py --bind HOST:PORT ... app:app   # MODE=api
    celery -A app.celery worker -Q <CELERY_QUEUES> -P <CELERY_WORKER_CLASS> -c N
    celery -A app.celery beat -s <state dir>/celerybeat-schedule
    flask upgrade-db                                                         # migrations

Modules: :mod:`config` (settings from the environment, defaults from the definitions),
:mod:`db` + :mod:`models` + ``migrations/`` (SQLAlchemy 2, versioned Alembic),
:mod:`celery_app` + :mod:`tasks` (queues, routes, beat schedule, indexing),
:mod:`embed` (splitter, deterministic embedder), :mod:`storage` (OpenDAL fs),
:mod:`vectors` (the ``stack.stores`` adapter for ``VECTOR_STORE``), :mod:`health`,
:mod:`validation` + :mod:`api` (HTTP contract), :mod:`gevent_support`, :mod:`gunicorn_conf`.
"""
