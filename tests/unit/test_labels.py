"""Owner liveness from labels (pure: this process, a dead child, and made-up identities)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from stack.engine import labels as L
from stack.engine import owner
from stack.errors import EngineError


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_own_labels_carry_host_namespace_and_wall_clock_start() -> None:
    lab = L.session_labels("s")
    assert lab[L.LABEL_OWNER_HOST] == L.host_identity() != ""
    assert lab[L.LABEL_OWNER_PIDNS] == L.pid_namespace()
    started = float(lab[L.LABEL_OWNER_STARTED])
    assert started <= time.time() and time.time() - started < 7 * 24 * 3600
    assert L.owner_alive(lab)


def test_dead_owner_here_is_dead(dead_pid: int) -> None:
    lab = {**L.session_labels("s"), L.LABEL_OWNER_PID: str(dead_pid)}
    assert not L.owner_alive(lab)


def test_owner_on_another_host_is_alive_until_the_ttl(dead_pid: int) -> None:
    now = time.time()
    lab = {
        **L.session_labels("s"),
        L.LABEL_OWNER_PID: str(dead_pid),  # would be dead if it were ours
        L.LABEL_OWNER_HOST: "host:ci-runner-7",
        L.LABEL_OWNER_STARTED: str(int(now - 100)),
    }
    assert L.owner_alive(lab, now=now, ttl=3600)
    assert not L.owner_alive(lab, now=now, ttl=50)
    no_clock = {**lab, L.LABEL_OWNER_STARTED: ""}
    assert L.owner_alive(no_clock, now=now, ttl=0)  # age unknown: never removed


def test_invisible_namespace_from_the_initial_one_is_gone() -> None:
    lab = {**L.session_labels("s"), L.LABEL_OWNER_PID: "1", L.LABEL_OWNER_PIDNS: "pid:[1]"}
    if L.pid_namespace() == L.INIT_PIDNS:
        assert not L.owner_alive(lab, ttl=3600)  # every namespace is visible from here
    else:  # a container: a sibling namespace cannot be seen, so the TTL decides
        assert L.owner_alive(lab, ttl=3600)


def test_legacy_labels_without_identity_use_the_local_check(dead_pid: int) -> None:
    lab = L.session_labels("s")
    for key in (L.LABEL_OWNER_HOST, L.LABEL_OWNER_PIDNS, L.LABEL_OWNER_STARTED):
        lab.pop(key)
    assert L.owner_alive(lab)
    assert not L.owner_alive({**lab, L.LABEL_OWNER_PID: str(dead_pid)})
    assert L.owner_alive({L.LABEL_PROJECT: "stack"})  # no owner pid: a dev resource


def test_without_proc_psutil_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead_pid: int
) -> None:
    monkeypatch.setattr(owner, "_PROC", tmp_path / "no-proc")  # as on macOS
    L.host_identity.cache_clear()
    try:
        lab = L.session_labels("s")
        assert lab[L.LABEL_OWNER_PIDNS] == "" and lab[L.LABEL_OWNER_HOST].startswith("host:")
        assert lab[L.LABEL_OWNER_START]  # psutil's creation time stands in for the ticks
        assert L.owner_alive(lab)
        assert not L.owner_alive({**lab, L.LABEL_OWNER_PID: str(dead_pid)})
        assert not L.owner_alive({**lab, L.LABEL_OWNER_START: "1"})  # pid reused
    finally:
        L.host_identity.cache_clear()


def test_ttl_from_the_environment() -> None:
    assert L.sweep_ttl({}) == L.DEFAULT_TTL
    assert L.sweep_ttl({L.TTL_VAR: "90"}) == 90
    for bad in ("soon", "-5"):
        with pytest.raises(EngineError, match=rf"{L.TTL_VAR}='{bad}' is not a number"):
            L.sweep_ttl({L.TTL_VAR: bad})
