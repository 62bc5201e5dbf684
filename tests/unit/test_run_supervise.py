"""`run.all` supervision (stack.run.supervise) on real, tiny processes: status and clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from stack.run import supervise

SLEEPER = [sys.executable, "-c", "import time\nprint('up', flush=True)\ntime.sleep(60)"]


def _script(tmp_path: Path, procs: str) -> Path:
    path = tmp_path / "sup.py"
    path.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            from stack.run.supervise import Proc, run_all
            SLEEPER = {SLEEPER!r}
            procs = {procs}
            sys.exit(run_all(procs, out=lambda line: print(line, flush=True)))
            """
        )
    )
    return path


def _start(tmp_path: Path, procs: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(_script(tmp_path, procs))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_children(proc: subprocess.Popen[str], names: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        kids = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if "time.sleep" in " ".join(p.cmdline())
        ]
        if len(kids) >= names:
            return kids
        time.sleep(0.05)
    raise AssertionError("children did not start")


def _gone(pids: list[int]) -> bool:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return not alive


def test_ctrl_c_stops_everything_and_exits_0(tmp_path):
    proc = _start(
        tmp_path,
        "[Proc('api', SLEEPER, Path('.'), {'PATH': '/usr/bin'}),"
        " Proc('worker', SLEEPER, Path('.'), {'PATH': '/usr/bin'})]",
    )
    kids = _wait_children(proc, 2)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out.rstrip().splitlines()[-1].startswith("run.all: stopped (SIGINT)")
    assert _gone([k.pid for k in kids])


def test_ctrl_c_during_start_up(tmp_path):
    # The first process sends SIGINT to the supervisor while the others are being started.
    started = time.time()
    ctrl_c = [sys.executable, "-c", "import os, signal; os.kill(os.getppid(), signal.SIGINT)"]
    proc = _start(
        tmp_path,
        f"[Proc('first', {ctrl_c!r}, Path('.'), {{'PATH': '/usr/bin'}}),"
        " Proc('api', SLEEPER, Path('.'), {'PATH': '/usr/bin'}),"
        " Proc('worker', SLEEPER, Path('.'), {'PATH': '/usr/bin'})]",
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert out.rstrip().splitlines()[-1].startswith("run.all: stopped (SIGINT)")
    left = [
        p
        for p in psutil.process_iter(["cmdline", "create_time"])
        if SLEEPER[-1] in (p.info["cmdline"] or []) and p.info["create_time"] >= started - 1
    ]
    assert left == []


def test_one_killed_process_stops_the_others_and_is_named(tmp_path):
    proc = _start(
        tmp_path,
        "[Proc('api', SLEEPER, Path('.'), {'PATH': '/usr/bin'}),"
        " Proc('worker', SLEEPER, Path('.'), {'PATH': '/usr/bin'})]",
    )
    kids = _wait_children(proc, 2)
    victim = kids[0]
    victim.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    last = out.rstrip().splitlines()[-1]
    assert proc.returncode == 128 + signal.SIGKILL, out
    assert "exited on its own with signal SIGKILL" in last
    assert last.split()[1] in ("api", "worker")
    assert _gone([k.pid for k in kids])


def test_exit_code_of_the_first_to_exit(tmp_path):
    failing = [sys.executable, "-c", "import sys, time; time.sleep(0.5); sys.exit(3)"]
    proc = _start(
        tmp_path,
        f"[Proc('api', SLEEPER, Path('.'), {{'PATH': '/usr/bin'}}),"
        f" Proc('beat', {failing!r}, Path('.'), {{'PATH': '/usr/bin'}})]",
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, out
    assert out.rstrip().splitlines()[-1] == (
        "run.all: beat exited on its own with exit code 3; the others were stopped"
    )
    assert "api" in out and "| up" in out  # prefixed lines


def test_an_unexpected_clean_exit_is_still_a_failure():
    assert supervise.status_for(0) == 1
    assert supervise.status_for(-9) == 137
    assert supervise.describe(-15) == "signal SIGTERM"
    assert supervise.describe(2) == "exit code 2"


def test_argv_is_not_run_through_a_shell(tmp_path):
    marker = tmp_path / "marker"
    argv = [sys.executable, "-c", "import sys; print(sys.argv[1:])", f"$(touch {marker})", ";x"]
    proc = _start(tmp_path, f"[Proc('one', {argv!r}, Path('.'), {{'PATH': '/usr/bin'}})]")
    out, _ = proc.communicate(timeout=30)
    assert f"['$(touch {marker})', ';x']" in out
    assert not marker.exists()


def test_the_group_of_a_killed_leader_is_swept(tmp_path):
    # Like a SIGKILLed gunicorn master: its own child stays in its process group.
    parent = [
        sys.executable, "-c",
        "import subprocess, sys, time\n"
        f"subprocess.Popen({SLEEPER!r})\n"
        "print('parent up', flush=True)\n"
        "time.sleep(60)",
    ]  # fmt: skip
    proc = _start(
        tmp_path,
        f"[Proc('api', {parent!r}, Path('.'), {{'PATH': '/usr/bin'}}),"
        " Proc('beat', SLEEPER, Path('.'), {'PATH': '/usr/bin'})]",
    )
    kids = _wait_children(proc, 3)  # api, its child, beat
    leader = next(k for k in kids if "parent up" in " ".join(k.cmdline()))
    leader.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL, out
    assert "run.all: api exited on its own with signal SIGKILL" in out
    assert _gone([k.pid for k in kids]), [k.cmdline() for k in kids]
