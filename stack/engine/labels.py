"""Labels on every container, network and volume we create, and the sweep of stale ones.

Scheme: ``org.stack.project=stack`` marks ownership; ``org.stack.session`` groups one test
run / dev session.  The owner is identified by:

* ``org.stack.owner-pid`` -- its pid, as its own pid namespace numbers it;
* ``org.stack.owner-start`` -- its start in clock ticks since boot (``/proc/PID/stat`` field
  22; guards against pid reuse) and ``org.stack.owner-started`` -- its start as Unix time
  (wall clock, for the TTL below; psutil where ``/proc`` is absent);
* ``org.stack.owner-host`` + ``org.stack.owner-pidns`` -- where that pid means something: the
  kernel boot (``boot_id``; the host name where there is none) and the pid namespace.

A resource whose owner is provably gone is stale and may be removed by any later run.  Owners
in *another* host or pid namespace (a CI job in another container sharing the engine, a
macOS host, a VM) cannot be checked from here: they count as alive until ``STACK_SWEEP_TTL``
seconds (default 6 h) after ``owner-started`` -- Docker labels cannot change after creation,
so there can be no heartbeat label.  The exception: a namespace of this same boot that is a
descendant of ours (we see its processes, e.g. ``unshare --pid``) is checked exactly.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from stack.engine.owner import (
    DEFAULT_TTL,
    INIT_PIDNS,
    LABEL_OWNER_HOST,
    LABEL_OWNER_PID,
    LABEL_OWNER_PIDNS,
    LABEL_OWNER_START,
    LABEL_OWNER_STARTED,
    TTL_VAR,
    host_identity,
    owner_alive,
    pid_namespace,
    process_start_time,
    process_started_epoch,
    sweep_ttl,
)

LABEL_PROJECT = "org.stack.project"
PROJECT_VALUE = "stack"
LABEL_SESSION = "org.stack.session"
LABEL_PURPOSE = "org.stack.purpose"

__all__ = [
    "DEFAULT_TTL",
    "INIT_PIDNS",
    "LABEL_OWNER_HOST",
    "LABEL_OWNER_PID",
    "LABEL_OWNER_PIDNS",
    "LABEL_OWNER_START",
    "LABEL_OWNER_STARTED",
    "LABEL_PROJECT",
    "LABEL_PURPOSE",
    "LABEL_SESSION",
    "PROJECT_VALUE",
    "TTL_VAR",
    "SweepReport",
    "count_labelled",
    "host_identity",
    "new_session_id",
    "owner_alive",
    "pid_namespace",
    "process_start_time",
    "remove_session",
    "session_labels",
    "sweep",
    "sweep_ttl",
]


def new_session_id() -> str:
    """Short unique id for one session: time-ordered prefix plus randomness."""
    return f"{int(time.time()):x}-{secrets.token_hex(4)}"


def session_labels(session: str, purpose: str = "test", pid: int | None = None) -> dict[str, str]:
    """Labels for a resource owned by ``pid`` (default: this process) in ``session``.

    ``pid`` is numbered in *our* pid namespace, so ours is the namespace recorded.
    """
    pid = os.getpid() if pid is None else pid
    started = process_started_epoch(pid)
    return {
        LABEL_PROJECT: PROJECT_VALUE,
        LABEL_SESSION: session,
        LABEL_OWNER_PID: str(pid),
        LABEL_OWNER_START: process_start_time(pid) or "",
        LABEL_OWNER_STARTED: "" if started is None else str(int(started)),
        LABEL_OWNER_HOST: host_identity(),
        LABEL_OWNER_PIDNS: pid_namespace(),
        LABEL_PURPOSE: purpose,
    }


@dataclass
class SweepReport:
    """What a sweep removed (names) and what it failed to remove."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Number of removed resources."""
        return len(self.containers) + len(self.networks) + len(self.volumes)

    def __str__(self) -> str:
        text = (
            f"removed {len(self.containers)} container(s), {len(self.networks)} network(s), "
            f"{len(self.volumes)} volume(s)"
        )
        if self.errors:
            text += f"; {len(self.errors)} error(s): " + "; ".join(self.errors)
        return text


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from stack.engine.client import client as get_client

    return get_client()


def _filters(session: str | None) -> dict[str, list[str]]:
    labels = [f"{LABEL_PROJECT}={PROJECT_VALUE}"]
    if session:
        labels.append(f"{LABEL_SESSION}={session}")
    return {"label": labels}


def _labels_of(obj: Any) -> dict[str, str]:
    attrs = getattr(obj, "attrs", {}) or {}
    labels = attrs.get("Labels")
    if labels is None:
        labels = (attrs.get("Config") or {}).get("Labels")
    return dict(labels or {})


def _remove(kind: str, items: list[Any], report: SweepReport, bucket: list[str]) -> None:
    import docker.errors

    for item in items:
        name = getattr(item, "name", None) or getattr(item, "id", "?")
        try:
            if kind == "container":
                item.remove(force=True, v=True)  # also its anonymous volumes
            elif kind == "volume":
                item.remove(force=True)
            else:
                item.remove()
        except docker.errors.NotFound:
            continue  # a concurrent sweep got there first
        except docker.errors.APIError as exc:
            report.errors.append(f"{kind} {name}: {exc.explanation or exc}")
            continue
        bucket.append(str(name))


def _collect(client: Any, session: str | None, select: Any) -> tuple[list, list, list]:
    import docker.errors

    f = _filters(session)
    # ignore_removed: a container removed between the list and its inspect (a concurrent
    # session's sweep or `compose down`) is skipped instead of raising NotFound.
    found = client.containers.list(all=True, filters=f, ignore_removed=True)
    containers = [c for c in found if select(c)]
    networks = [n for n in client.networks.list(filters=f) if select(n)]
    volumes = []
    for v in client.volumes.list(filters=f):
        try:
            if select(v):
                volumes.append(v)
        except docker.errors.NotFound:
            continue
    return containers, networks, volumes


def _sweep_with(client: Any, session: str | None, select: Any) -> SweepReport:
    report = SweepReport()
    containers, networks, volumes = _collect(client, session, select)
    _remove("container", containers, report, report.containers)
    _remove("network", networks, report, report.networks)
    _remove("volume", volumes, report, report.volumes)
    return report


def sweep(
    *, keep_session: str | None = None, client: Any = None, include_dev: bool = False
) -> SweepReport:
    """Remove stack-labelled containers, networks, volumes whose owner process is gone.

    Containers go first (force), then networks, then volumes. Resources of ``keep_session``
    and of live owners are left alone; "not found" races with concurrent sweeps are ignored.
    Long-lived dev resources (``org.stack.purpose=dev``) outlive the command that created
    them and are only swept with ``include_dev=True`` (``dev.down``/``dev.reset`` own them).
    """
    c = _client(client)
    ttl, now = sweep_ttl(), time.time()

    def stale(obj: Any) -> bool:
        labels = _labels_of(obj)
        if keep_session and labels.get(LABEL_SESSION) == keep_session:
            return False
        if labels.get(LABEL_PURPOSE) == "dev" and not include_dev:
            return False
        return not owner_alive(labels, now=now, ttl=ttl)

    return _sweep_with(c, None, stale)


def remove_session(session: str, client: Any = None) -> SweepReport:
    """Remove every labelled container, network and volume of ``session``."""
    if not session:
        raise ValueError("remove_session needs a session id")
    return _sweep_with(_client(client), session, lambda _obj: True)


def count_labelled(client: Any = None, session: str | None = None) -> dict[str, int]:
    """Number of stack-labelled containers/networks/volumes (optionally of one session)."""
    c = _client(client)
    containers, networks, volumes = _collect(c, session, lambda _obj: True)
    return {"containers": len(containers), "networks": len(networks), "volumes": len(volumes)}
