"""The developer loop end to end, as the README shows it: `invoke dev.up`, `invoke run.migrate`,
`invoke run.all`, ingest a document over HTTP, find it, see beat's periodic task, Ctrl-C.

Each scenario runs under its own compose project on free ports with this session's labels
(STACK_EXTRA_LABELS), a temporary state directory and free DIFY_PORT; everything is
removed at the end (dev.reset), and a leftover container or process fails the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from stack.dev.ports import free_dev_ports
from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "postgresql-pgvector": {"DB_TYPE": "postgresql", "VECTOR_STORE": "pgvector"},
    # For MySQL the .env names the MySQL service, as the platform's docs say; run.* points
    # it at the published port.
    "mysql-chroma": {
        "DB_TYPE": "mysql",
        "VECTOR_STORE": "chroma",
        "DB_HOST": "db_mysql",
        "DB_PORT": "3306",
        "DB_USERNAME": "root",
    },
}


class Stack:
    """One scenario: its environment and the `invoke` CLI bound to its project."""

    def __init__(self, env: dict[str, str], project: str) -> None:
        self.env = env
        self.project = project
        self.base = f"http://127.0.0.1:{env['DIFY_PORT']}"

    def invoke(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args, "--project", self.project],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def start_all(self, log: Path) -> subprocess.Popen[bytes]:
        """`invoke run.all` in its own process group, as a terminal would run it."""
        with log.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "invoke", "run.all", "--project", self.project],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def wait_healthy(self, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                code, body = self.http("GET", "/health")
                if code == 200:
                    return body
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError("api never became healthy:\n" + log.read_text(errors="replace"))


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[str]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(p.cmdline()))
        except psutil.NoSuchProcess:
            continue
    return left


def _wait_for(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(params=list(SCENARIOS))
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    from stack.engine import labels

    labels.sweep()
    session = labels.new_session_id()
    own = labels.session_labels(session, purpose="test")
    home = tmp_path_factory.mktemp("home")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "STACK_OFFLINE": "1",
        "STACK_STATE_DIR": str(tmp_path_factory.mktemp("state")),
        "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in own.items()),
        "DIFY_BIND_ADDRESS": "127.0.0.1",
        "CELERY_BEAT_HEARTBEAT_INTERVAL": "2",
        "SERVER_WORKER_CLASS": "gevent",
        **free_dev_ports("DIFY_PORT"),
        **SCENARIOS[request.param],
    }
    for key in ("DOCKER_HOST", "DOCKER_CONFIG"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.setdefault("DOCKER_CONFIG", str(Path.home() / ".docker"))
    st = Stack(env, f"stack-e2e-run-{session}")
    try:
        yield st
    finally:
        st.invoke("dev.down", check=False)
        containers = labels.count_labelled(session=session)["containers"]
        st.invoke("dev.reset", "--yes", check=False)
        labels.remove_session(session)
        assert containers == 0, "dev.down left containers behind"
        assert labels.count_labelled(session=session) == {
            "containers": 0,
            "networks": 0,
            "volumes": 0,
        }


def test_developer_loop(stack: Stack, tmp_path):
    # Before dev.up, a task fails fast, naming the service and the fix.
    early = stack.invoke("run.migrate", check=False)
    assert early.returncode != 0
    assert "invoke dev.up" in early.stderr and "does not answer" in early.stderr

    stack.invoke("dev.up")
    migrated = stack.invoke("run.migrate")
    assert "upgrade-db" in migrated.stdout + migrated.stderr

    log = tmp_path / "run-all.log"
    proc = stack.start_all(log)
    try:
        health = stack.wait_healthy(proc, log)
        assert health["status"] == "ok", health
        tree = _tree(proc.pid)
        names = " ".join(" ".join(p.cmdline()) for p in tree)
        assert "gunicorn" in names and "celery" in names

        text = "Chroma and pgvector store embeddings; beat schedules the heartbeat."
        code, created = stack.http("POST", "/v1/datasets/notes/documents", {"text": text})
        assert code == 202, created
        doc = created["id"]

        def completed() -> bool:
            code, body = stack.http("GET", f"/v1/datasets/notes/documents/{doc}")
            assert code == 200 and body["status"] != "error", body
            return body["status"] == "completed"

        _wait_for(completed, 60, "the document to be indexed by the worker")
        code, found = stack.http("GET", "/v1/datasets/notes/search?q=heartbeat+embeddings&top_k=3")
        assert code == 200, found
        assert found["results"] and found["results"][0]["document_id"] == doc

        # Beat's periodic task ran (through the worker) and keeps running.
        first = _wait_for(lambda: stack.http("GET", "/health")[1]["beat"]["last_run"], 30, "beat")
        _wait_for(
            lambda: stack.http("GET", "/health")[1]["beat"]["last_run"] not in (None, first),
            30,
            "a second beat run",
        )
        tree = _tree(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        rc = proc.wait(timeout=60)
    out = log.read_text(errors="replace")
    assert rc == 0, out
    assert out.rstrip().splitlines()[-1].startswith("run.all: stopped (SIGINT)"), out
    assert "Traceback" not in out
    assert _alive(tree) == []  # no gunicorn, celery or anything else left


@pytest.mark.parametrize("stack", ["postgresql-pgvector"], indirect=True)
def test_a_killed_worker_stops_the_others(stack: Stack, tmp_path):
    stack.invoke("dev.up")
    stack.invoke("run.migrate")
    log = tmp_path / "run-all.log"
    proc = stack.start_all(log)
    try:
        stack.wait_healthy(proc, log)
        tree = _tree(proc.pid)
        worker = next(p for p in tree if "celery" in p.cmdline() and "worker" in p.cmdline())
        worker.send_signal(signal.SIGKILL)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    out = log.read_text(errors="replace")
    assert rc == 128 + signal.SIGKILL, out
    assert out.rstrip().splitlines()[-1] == (
        "run.all: worker exited on its own with signal SIGKILL; the others were stopped"
    )
    assert _alive(tree) == []
