"""`--reload` for Celery: the watched command restarts when a Python file of the app changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack.run import modes, runner

pytestmark = pytest.mark.slow


def _lines(proc: subprocess.Popen[str], want: str, count: int, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline and sum(s.strip() == want for s in seen) < count:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
    return seen


def test_a_python_change_restarts_the_worker(tmp_path: Path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "tasks.py").write_text("X = 1\n")
    cmd = modes.Command(
        mode="worker",
        argv=(sys.executable, "-u", "-c", "import time; print('worker up'); time.sleep(60)"),
        cwd=app,
        external_reload=True,
    )
    argv = runner.watched(cmd)
    proc = subprocess.Popen(
        argv, cwd=app, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert "worker up\n" in _lines(proc, "worker up", 1, 20)
        time.sleep(0.5)
        (app / "notes.txt").write_text("not python\n")  # ignored by the Python filter
        (app / "tasks.py").write_text("X = 2\n")
        seen = _lines(proc, "worker up", 1, 20)
        assert "worker up\n" in seen, seen
        assert any("change detected" in s for s in seen), seen
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(20)
