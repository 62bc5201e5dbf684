"""Fault: dockerd restarted while the dev middleware runs.

dockerd is stopped for real (SIGTERM to the pid in /var/run/docker.pid, then wait until the
socket stops answering and the daemon is gone).  While it is down, `dev.status` and `dev.up`
fail cleanly: one message naming the engine and `invoke engine.ensure`, no traceback.  Then
`invoke engine.ensure` starts it again (and a second call changes nothing), `dev.status`
shows the containers' real states after the restart, and `dev.up` reaches healthy again.

This stops every container on the engine, so it runs only where the test process may
restart dockerd: as root, against the local dockerd, and under CI=true (CI runs as root,
and there this must never skip: a reason to skip is a failure) or with
STACK_TEST_RESTART_ENGINE=1 on a machine whose engine nobody else is using.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_support import assert_status_truthful, cli_env, engine_states, invoke

from stack.engine.client import engine_alive
from stack.testing import in_ci

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

OPT_IN = "STACK_TEST_RESTART_ENGINE"
SERVICES = ("db_postgres", "redis", "ssrf_proxy", "pgvector")


def why_not_restartable() -> str | None:
    """Why this process may not restart dockerd here, or None when it may."""
    from stack.engine.client import endpoint
    from stack.engine.ensure import dockerd_pid

    if os.geteuid() != 0:
        return "restarting dockerd needs root"
    if not endpoint().is_local_default:
        return f"the engine is not the local dockerd ({endpoint().describe()})"
    if shutil.which("dockerd") is None:
        return "no dockerd binary on PATH to start again"
    if dockerd_pid() is None:
        return "no live dockerd in /var/run/docker.pid to stop"
    if not in_ci() and os.environ.get(OPT_IN) != "1":
        return (
            "restarts the shared dockerd and so stops every container on it: runs under "
            f"CI=true, or here with {OPT_IN}=1 when nobody else uses this engine"
        )
    return None


@pytest.fixture
def restartable() -> None:
    reason = why_not_restartable()
    if reason and in_ci():
        pytest.fail(f"CI=true: the dockerd restart fault test must run, but {reason}")
    if reason:
        pytest.skip(reason)


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_dockerd(timeout: float = 120) -> int:
    """SIGTERM dockerd; wait until its socket stops answering and the process is gone."""
    from stack.engine.ensure import dockerd_pid

    pid = dockerd_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while engine_alive(timeout=1.0) or not _gone(pid):
        assert time.monotonic() < deadline, f"dockerd (pid {pid}) did not stop"
        time.sleep(0.2)
    return pid


def ensure_engine() -> str:
    """`invoke engine.ensure` with this process's environment: the dockerd it may start
    outlives the test, so it must not inherit the test's temporary HOME."""
    from stack.engine.client import reset_client

    out = invoke(dict(os.environ), "engine.ensure", timeout=180).stdout
    reset_client()  # our cached SDK connection died with the old daemon
    return out


@pytest.fixture
def dev(restartable, tmp_path) -> Iterator[tuple[dict[str, str], str]]:
    from stack.engine import labels

    labels.sweep()
    session = labels.new_session_id()
    project = f"stack-it-faults-engine-{session}"
    (tmp_path / "home").mkdir()
    env = cli_env(session, tmp_path / "home", tmp_path / "state")
    try:
        yield env, project
    finally:
        if not engine_alive():  # never leave the machine without its engine
            ensure_engine()
        invoke(env, "dev.reset", "--yes", "--project", project, check=False)
        labels.remove_session(session)
        assert labels.count_labelled(session=session) == {
            "containers": 0,
            "networks": 0,
            "volumes": 0,
        }
        assert not (tmp_path / "state" / project).exists()


def _started(project: str) -> dict[str, str]:
    from stack.engine.client import client

    api = client().api
    flt = {"label": f"com.docker.compose.project={project}"}
    return {
        c["Labels"]["com.docker.compose.service"]: api.inspect_container(c["Id"])["State"][
            "StartedAt"
        ]
        for c in api.containers(all=True, filters=flt)
    }


def test_dockerd_restart_status_tells_the_truth_and_up_recovers(dev):
    from stack.engine.ensure import DOCKERD_PID

    env, project = dev
    up = json.loads(invoke(env, "dev.up", "--json", "--project", project).stdout)
    assert {r["health"] for r in up if r["service"] in SERVICES} == {"healthy"}
    before = _started(project)
    assert set(SERVICES) <= set(before)

    old_pid = stop_dockerd()
    for args in (("dev.status",), ("dev.up",)):
        down = invoke(env, *args, "--project", project, check=False)
        assert down.returncode == 1, (args, down.stdout, down.stderr)
        assert "Docker engine not reachable at unix://" in down.stderr, (args, down.stderr)
        assert "invoke engine.ensure" in down.stderr, (args, down.stderr)
        assert "running" not in down.stdout, (args, down.stdout)  # no stale table

    started = ensure_engine()
    assert "started dockerd" in started, started
    assert int(Path(DOCKERD_PID).read_text().strip()) != old_pid  # a new daemon
    assert "already running" in ensure_engine()  # idempotent: no second dockerd

    # The real states after the restart (restart policy `unless-stopped`: the engine brings
    # the containers back, each with a new start time), never the pre-restart view.
    rows = assert_status_truthful(env, project)
    after = _started(project)
    states = engine_states(project)
    for name in SERVICES:
        ((state, _),) = states[name]
        assert state != "running" or after[name] != before[name], (name, state)
        assert rows[name]["state"] != "not created", rows[name]

    up = json.loads(invoke(env, "dev.up", "--json", "--project", project).stdout)
    by = {r["service"]: r for r in up}
    for name in SERVICES:
        assert (by[name]["state"], by[name]["health"]) == ("running", "healthy"), by[name]
    rows = assert_status_truthful(env, project)
    assert {rows[s]["state"] for s in SERVICES} == {"running"}
