"""Entry module of the reference backend; every process starts with cwd = ``stack/app``.

* api:       ``gunicorn -c gunicorn_conf.py --bind HOST:PORT ... app:app``
* worker:    ``celery -A app.celery worker -Q <CELERY_QUEUES> -P <pool> -c N``
* beat:      ``celery -A app.celery beat -s <state dir>/celerybeat-schedule``
* migration: ``flask upgrade-db`` (flask finds this file in the cwd)

Kept thin: the code lives in :mod:`stack.app` (see its docstring).  Invalid settings stop the
process with the list of problems (exit 3, which gunicorn treats as a boot error).
"""

import sys

from stack.app.gevent_support import init_grpc_gevent

init_grpc_gevent()  # celery -P gevent has patched the stdlib before importing this module

from stack.errors import StackError  # noqa: E402

try:
    from stack.app.factory import create

    app, celery = create()
except StackError as _exc:
    sys.stderr.write(f"{_exc}\n")
    raise SystemExit(3) from None
