"""Engine ensure (idempotent, never a second dockerd), client, labels and the sweep."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stack.engine import labels
from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]


@pytest.fixture
def dc() -> Any:
    from stack.engine.client import client

    return client()


@pytest.fixture
def dead_owner() -> dict[str, str]:
    """Labels of a session whose owner process has exited."""
    proc = subprocess.Popen(["sleep", "30"])
    lab = labels.session_labels(labels.new_session_id(), purpose="test", pid=proc.pid)
    assert labels.owner_alive(lab)
    proc.kill()
    proc.wait()
    assert not labels.owner_alive(lab)
    return lab


@pytest.fixture
def session(dc: Any) -> Iterator[str]:
    sid = labels.new_session_id()
    yield sid
    labels.remove_session(sid, client=dc)


def test_ensure_is_idempotent_and_fast() -> None:
    from stack.engine.ensure import dockerd_pid, ensure

    pid_before = dockerd_pid()
    info = ensure(install=False)
    assert info.how == "already running"
    assert info.version not in ("", "?") and info.api_version not in ("", "?")
    assert info.compose.version >= (2, 20, 0)
    t0 = time.monotonic()
    again = ensure(install=False)
    elapsed = time.monotonic() - t0
    assert again.how == "already running"
    assert elapsed < 0.3, f"warm ensure took {elapsed:.2f} s"
    assert dockerd_pid() == pid_before  # untouched, no second daemon


def test_engine_alive_does_not_hang_on_a_dead_socket(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    path = tmp_path / "dead.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)  # accepts the connection but never answers
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    t0 = time.monotonic()
    assert engine_alive(timeout=0.5) is False
    assert time.monotonic() - t0 < 2
    srv.close()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    assert engine_alive() is False


def test_client_error_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from stack.engine import client as client_mod
    from stack.errors import EngineError

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    with pytest.raises(EngineError, match=r"invoke engine\.ensure") as err:
        client_mod.client()  # the cached client belongs to another endpoint: not reused
    assert f"unix://{tmp_path}/missing.sock (DOCKER_HOST)" in str(err.value)
    monkeypatch.delenv("DOCKER_HOST")
    assert client_mod.client().ping()  # the default endpoint's client again


def test_session_labels_identify_this_process() -> None:
    lab = labels.session_labels("s1", purpose="dev")
    assert lab[labels.LABEL_PROJECT] == "stack"
    assert lab[labels.LABEL_OWNER_PID] == str(os.getpid())
    assert lab[labels.LABEL_OWNER_START] == labels.process_start_time(os.getpid())
    assert labels.owner_alive(lab)
    # PID reuse: same pid, different start time -> not our owner any more
    assert not labels.owner_alive({**lab, labels.LABEL_OWNER_START: "1"})
    assert lab[labels.LABEL_OWNER_PIDNS] == os.readlink("/proc/self/ns/pid")
    assert abs(float(lab[labels.LABEL_OWNER_STARTED]) - time.time()) < 24 * 3600


# A labelled volume created from inside a new pid namespace (`unshare --pid --fork
# --mount-proc`): the owner is pid 1 there, with its own /proc.  It waits on stdin.
NS_CHILD = """
import sys
from stack.engine.client import client
from stack.engine.labels import session_labels
lab = session_labels(sys.argv[1])
client().volumes.create(f"stack-test-{sys.argv[1]}", labels=lab)
print(lab["org.stack.owner-pid"], lab["org.stack.owner-pidns"], flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)"
)
def test_owner_in_another_pid_namespace_survives_the_sweep_until_it_dies(
    dc: Any, tmp_path: Any
) -> None:
    from stack.paths import ROOT

    sid = labels.new_session_id()
    script = tmp_path / "ns_child.py"
    script.write_text(NS_CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(script), sid],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        pid, ns = child.stdout.readline().split()
        assert pid == "1" and ns != labels.pid_namespace()  # really another namespace
        assert labels.count_labelled(dc, sid)["volumes"] == 1
        labels.sweep(client=dc)
        assert labels.count_labelled(dc, sid)["volumes"] == 1  # live owner: kept
        child.communicate("", timeout=30)  # the owner exits, and its namespace with it
        labels.sweep(client=dc)
        assert labels.count_labelled(dc, sid)["volumes"] == 0  # dead owner: removed
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        labels.remove_session(sid, client=dc)


def test_foreign_host_owner_is_kept_until_the_ttl(
    dc: Any, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = labels.session_labels(session)
    lab[labels.LABEL_OWNER_HOST] = "another-machine"
    lab[labels.LABEL_OWNER_PID] = "999999"  # no such process here: would look dead
    lab[labels.LABEL_OWNER_STARTED] = str(int(time.time()) - 600)
    dc.volumes.create(labels=lab)
    monkeypatch.setenv(labels.TTL_VAR, "3600")
    labels.sweep(client=dc)
    assert labels.count_labelled(dc, session)["volumes"] == 1
    monkeypatch.setenv(labels.TTL_VAR, "60")
    labels.sweep(client=dc)
    assert labels.count_labelled(dc, session)["volumes"] == 0


def test_sweep_removes_only_dead_sessions(
    dc: Any, dead_owner: dict[str, str], session: str
) -> None:
    dead_sid = dead_owner[labels.LABEL_SESSION]
    live = labels.session_labels(session)
    image = _any_local_image(dc)
    for lab in (dead_owner, live):
        net = dc.networks.create(f"stack-test-{lab[labels.LABEL_SESSION]}", labels=lab)
        vol = dc.volumes.create(labels=lab)
        dc.containers.create(
            image,
            ["true"],
            labels=lab,
            network=net.name,
            volumes={vol.name: {"bind": "/v", "mode": "rw"}},
        )
    assert labels.count_labelled(dc, dead_sid) == {"containers": 1, "networks": 1, "volumes": 1}

    report = labels.sweep(client=dc)
    assert len(report.containers) >= 1 and not report.errors
    assert labels.count_labelled(dc, dead_sid) == {"containers": 0, "networks": 0, "volumes": 0}
    assert labels.count_labelled(dc, session) == {"containers": 1, "networks": 1, "volumes": 1}

    gone = labels.remove_session(session, client=dc)
    assert (len(gone.containers), len(gone.networks), len(gone.volumes)) == (1, 1, 1)
    assert labels.count_labelled(dc, session) == {"containers": 0, "networks": 0, "volumes": 0}


def test_concurrent_sweeps_do_not_fail(dc: Any, dead_owner: dict[str, str]) -> None:
    sid = dead_owner[labels.LABEL_SESSION]
    for _ in range(3):
        dc.volumes.create(labels=dead_owner)
        dc.networks.create(f"stack-test-{sid}-{_}", labels=dead_owner)
    reports: list[labels.SweepReport] = []
    threads = [threading.Thread(target=lambda: reports.append(labels.sweep())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not r.errors for r in reports), [r.errors for r in reports]
    assert sum(len(r.volumes) for r in reports) == 3
    assert labels.count_labelled(dc, sid) == {"containers": 0, "networks": 0, "volumes": 0}


def _any_local_image(dc: Any) -> str:
    for img in dc.images.list():
        for tag in img.tags:
            if tag.startswith("stack-standin/"):
                return tag
    pytest.skip("no local image to create containers from (run: invoke images.build)")


def test_sweep_leaves_dev_resources_unless_asked(dc: Any, dead_owner: dict[str, str]) -> None:
    dev = {**dead_owner, labels.LABEL_PURPOSE: "dev"}
    sid = dev[labels.LABEL_SESSION]
    dc.volumes.create(labels=dev)
    labels.sweep(client=dc)
    assert labels.count_labelled(dc, sid)["volumes"] == 1
    report = labels.sweep(client=dc, include_dev=True)
    assert len(report.volumes) >= 1
    assert labels.count_labelled(dc, sid)["volumes"] == 0


def test_ensure_never_starts_an_engine_for_another_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from stack.engine.ensure import dockerd_pid, ensure
    from stack.errors import EngineError

    before = dockerd_pid()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/colima.sock")
    with pytest.raises(EngineError) as err:
        ensure(install=False, wait=1)
    assert f"unix://{tmp_path}/colima.sock (DOCKER_HOST) does not answer" in str(err.value)
    assert "docker context use default" in str(err.value)
    assert dockerd_pid() == before
