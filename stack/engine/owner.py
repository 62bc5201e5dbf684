"""Who owns a labelled resource, and whether that owner is provably gone.

See :mod:`stack.engine.labels` for the scheme.  The owner's pid means something only in the
pid namespace (``org.stack.owner-pidns``) of the kernel boot (``org.stack.owner-host``) that
recorded it; elsewhere the owner counts as alive until the TTL after its wall-clock start.
``/proc`` is read where it exists, psutil answers where it does not (macOS).
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from stack.errors import EngineError

LABEL_OWNER_PID = "org.stack.owner-pid"
LABEL_OWNER_START = "org.stack.owner-start"
LABEL_OWNER_STARTED = "org.stack.owner-started"
LABEL_OWNER_HOST = "org.stack.owner-host"
LABEL_OWNER_PIDNS = "org.stack.owner-pidns"
TTL_VAR = "STACK_SWEEP_TTL"
DEFAULT_TTL = 6 * 3600.0
#: Inode of the initial pid namespace (PROC_PID_INIT_INO): from it every process is visible.
INIT_PIDNS = "pid:[4026531836]"
_PROC = Path("/proc")


def _have_proc() -> bool:
    return (_PROC / "self" / "stat").exists()


def process_start_time(pid: int) -> str | None:
    """Field 22 (starttime, clock ticks since boot) of ``/proc/PID/stat``; None if gone.

    Where there is no ``/proc`` (macOS), psutil's creation time (centiseconds) stands in.
    """
    try:
        with open(_PROC / str(pid) / "stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        if _have_proc():
            return None
        created = _psutil_created(pid)
        return None if created is None else str(int(created * 100))
    # comm (field 2) may contain spaces/parens: split after the last ')'.
    rest = stat.rsplit(")", 1)[-1].split()
    # rest[0] is field 3 (state) -> field 22 is rest[19]
    try:
        return rest[19]
    except IndexError:
        return None


def _psutil_created(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def process_started_epoch(pid: int) -> float | None:
    """When ``pid`` started, as Unix time (psutil); None if it is gone."""
    return _psutil_created(pid)


@cache
def host_identity() -> str:
    """This kernel boot (``/proc/sys/kernel/random/boot_id``), else the host name."""
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return boot or f"host:{platform.node() or socket.gethostname()}"


def pid_namespace(pid: int | str = "self") -> str:
    """``pid:[inode]`` of the pid namespace of ``pid`` (default: ours); "" without /proc."""
    try:
        return os.readlink(_PROC / str(pid) / "ns" / "pid")
    except OSError:
        return ""


def sweep_ttl(environ: Mapping[str, str] | None = None) -> float:
    """Seconds an owner we cannot check counts as alive (``STACK_SWEEP_TTL``, default 6 h)."""
    env = os.environ if environ is None else environ
    raw = env.get(TTL_VAR, "").strip()
    if not raw:
        return DEFAULT_TTL
    try:
        ttl = float(raw)
    except ValueError:
        ttl = -1.0
    if ttl < 0:
        raise EngineError(
            f"{TTL_VAR}={raw!r} is not a number of seconds",
            hint=f"set {TTL_VAR}={int(DEFAULT_TTL)} (6 h, the default) or unset it",
        )
    return ttl


def _within_ttl(labels: Mapping[str, str], now: float, ttl: float) -> bool:
    try:
        started = float(labels.get(LABEL_OWNER_STARTED, ""))
    except ValueError:
        return True  # no wall-clock start: we cannot tell its age, so it stays
    return now - started < ttl


def _nested_pid(ns: str, inner_pid: int) -> str | None:
    """Our pid of the process that is ``inner_pid`` in namespace ``ns``.

    Returns "" when no process of ``ns`` is visible at all, None when ``ns`` has processes
    but none with that pid.  Reads ``/proc/*/ns/pid`` and the ``NSpid`` line of status.
    """
    seen = False
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or pid_namespace(entry.name) != ns:
            continue
        seen = True
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == str(inner_pid):
                return entry.name
    return None if seen else ""


def owner_alive(
    labels: Mapping[str, str], *, now: float | None = None, ttl: float | None = None
) -> bool:
    """True unless the owner recorded in ``labels`` is provably gone (see module docstring).

    Resources without an owner pid (e.g. a long-lived dev stack) count as alive: the sweep
    never removes what it cannot prove to be orphaned.
    """
    pid_text = labels.get(LABEL_OWNER_PID, "")
    if not pid_text:
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    now = time.time() if now is None else now
    ttl = sweep_ttl() if ttl is None else ttl
    recorded = labels.get(LABEL_OWNER_START, "")
    host = labels.get(LABEL_OWNER_HOST)
    ns = labels.get(LABEL_OWNER_PIDNS)
    if host is not None and host != host_identity():
        return _within_ttl(labels, now, ttl)  # another machine/VM/boot: cannot look
    if ns is not None and ns != pid_namespace():
        if not ns or not _have_proc():
            return _within_ttl(labels, now, ttl)
        ours = _nested_pid(ns, pid)
        if ours == "":  # its namespace is gone (we would see it from the initial one) or hidden
            return False if pid_namespace() == INIT_PIDNS else _within_ttl(labels, now, ttl)
        if ours is None:
            return False
        start = process_start_time(int(ours))
        return start is not None and (not recorded or recorded == start)
    start = process_start_time(pid)
    if start is None:
        return False
    return not recorded or recorded == start
