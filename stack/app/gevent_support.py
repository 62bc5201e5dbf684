"""gRPC under gevent: ``grpc.experimental.gevent.init_gevent()`` *after* the monkey patch.

gRPC clients (pymilvus) deadlock under gevent unless gRPC is told about it once the stdlib is
patched.  Two paths, as the platform does it:

* gunicorn (gevent worker): :mod:`stack.app.gunicorn_conf` subscribes :func:`on_gevent_event`
  to gevent's events, so this runs on ``GeventDidPatchBuiltinModulesEvent`` inside the worker
  (``post_fork`` would be too early: the worker patches after it);
* celery ``-P gevent``: celery patches before importing the app, so ``app.py`` calls
  :func:`init_grpc_gevent` at import time, which acts only when socket is already patched.

psycopg >= 3.1.14 cooperates with gevent natively; redis-py and httpx use patched sockets.
"""

from __future__ import annotations

import os
from typing import Any

_state = {"done": False}


def init_grpc_gevent(*, force: bool = False, trigger: str = "app import") -> bool:
    """Initialise gRPC's gevent support if gevent has patched the stdlib; True once done."""
    if _state["done"]:
        return True
    try:
        from gevent import monkey
    except ImportError:
        return False
    if not force and not monkey.is_module_patched("socket"):
        return False
    try:
        from grpc.experimental import gevent as grpc_gevent
    except ImportError:  # no gRPC client installed: nothing to do
        return False
    grpc_gevent.init_gevent()
    _state["done"] = True
    print(
        f"stack.app: gRPC gevent support initialised on {trigger} (pid {os.getpid()})", flush=True
    )
    return True


def on_gevent_event(event: Any) -> None:
    """gevent event subscriber: initialise gRPC once the builtin modules are patched."""
    from gevent import events

    if isinstance(event, events.GeventDidPatchBuiltinModulesEvent):
        init_grpc_gevent(force=True, trigger="gevent's patch event")


def subscribe() -> None:
    """Add :func:`on_gevent_event` to gevent's subscribers (no-op without gevent)."""
    try:
        from gevent import events
    except ImportError:
        return
    if on_gevent_event not in events.subscribers:
        events.subscribers.append(on_gevent_event)
