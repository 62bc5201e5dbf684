"""gunicorn settings of the api (``gunicorn -c stack/app/gunicorn_conf.py ... app:app``).

The MODE table passes bind, workers, worker class, connections and timeout on the command
line; this file only adds what flags cannot: gRPC's gevent support, initialised when the
gevent worker has patched the stdlib -- the platform's ``post_patch`` hook, a subscriber to
gevent's ``GeventDidPatchBuiltinModulesEvent`` (``post_fork`` runs before the patch); see
:mod:`stack.app.gevent_support`.
"""

from stack.app.gevent_support import subscribe

subscribe()

# Access log to stdout like upstream; errors to stderr.
accesslog = "-"
errorlog = "-"
# Let the reload/stop path finish in-flight requests quickly.
graceful_timeout = 10
