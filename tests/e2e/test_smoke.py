"""`invoke release.smoke` end to end: the committed production file boots, passes, and leaves
nothing behind -- also after a SIGKILL (the next run sweeps it) and on Ctrl-C / SIGTERM.

Every run publishes nginx on a free port (`--port`), its own compose project and
`STACK_SMOKE_DIR` in the test's tmp dir. The `--keep` + browser + `release.down` path is in
test_browser.py; `nox -s smoke` runs both variants.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from stack.dev.ports import free_ports
from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

ROOT = Path(__file__).resolve().parents[2]
CHECK_ROWS = (
    "GET /v1/health = 200",
    "web page = 200",
    "ingest -> index -> search",
    "beat's periodic task ran",
    "init_permissions + storage",
    "api/worker/beat as uid 1001",
)


def _env(tmp: Path, *, owned_by_test: bool = True) -> dict[str, str]:
    env = {**os.environ, "STACK_OFFLINE": "1", "STACK_SMOKE_DIR": str(tmp)}
    env.pop("STACK_EXTRA_LABELS", None)
    if owned_by_test:  # swept with this test session if it is killed
        from stack.engine import labels

        own = labels.session_labels(labels.new_session_id(), purpose="test")
        env["STACK_EXTRA_LABELS"] = ",".join(f"{k}={v}" for k, v in own.items())
    return env


def _smoke_argv(project: str, env_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "invoke", "release.smoke", "--port", str(free_ports(1)[0]),
        "--project", project, "--env-file", str(env_file), "--timeout", "300", *extra,
    ]  # fmt: skip


def _left(project: str) -> list[str]:
    from stack.engine.client import client
    from stack.release.deploy import LABEL_SMOKE

    c = client()
    f = {"label": [f"{LABEL_SMOKE}={project}"]}
    by_compose = {"label": [f"com.docker.compose.project={project}"]}
    return sorted(
        {
            *(x.id for x in c.containers.list(all=True, filters=f, sparse=True)),
            *(x.id for x in c.containers.list(all=True, filters=by_compose, sparse=True)),
            *(x.id for x in c.networks.list(filters=f)),
            *(x.id for x in c.volumes.list(filters=f)),
        }
    )


def _wait_for_containers(project: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _left(project):
            return
        assert proc.poll() is None, "the smoke ended before it created anything"
        time.sleep(0.2)
    raise AssertionError(f"no container of {project} appeared")


def _variant(tmp: Path, name: str = "postgresql-pgvector") -> Path:
    from stack.release import variants

    return variants.write(name, tmp)


def test_bad_flags_stop_before_any_work(tmp_path) -> None:
    env = _env(tmp_path)
    proc = subprocess.run(
        [
            sys.executable, "-m", "invoke", "release.smoke", "--port", "70000",
            "--project", "Not_Valid!", "--env-file", str(tmp_path / "missing.env"),
            "--timeout", "0",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for flag in ("--port", "--project", "--env-file", "--timeout"):
        assert flag in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.glob("stack-smoke-*")) == []
    down = subprocess.run(
        [sys.executable, "-m", "invoke", "release.down", "--project", "stack-e2e-none-here"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert down.returncode == 1
    assert "no smoke deployment 'stack-e2e-none-here' exists" in down.stderr


def test_killed_run_is_swept_and_the_next_run_passes(tmp_path) -> None:
    """SIGKILL leaves containers and the copy; the next run (same project) sweeps them,
    since their owner is gone, then boots, passes every check and removes everything."""
    project = f"stack-e2e-smoke-{uuid.uuid4().hex[:6]}"
    env_file = _variant(tmp_path)
    volumes_before = (ROOT / "compose" / "volumes").exists()
    env = _env(tmp_path, owned_by_test=False)  # owned by the CLI process we kill
    killed = subprocess.Popen(
        _smoke_argv(project, env_file), cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_containers(project, killed)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
    assert _left(project), "the killed run left nothing to sweep"
    assert list(tmp_path.glob("stack-smoke-*")), "the killed run left no copy"

    proc = subprocess.run(
        _smoke_argv(project, env_file), cwd=ROOT, env=_env(tmp_path),
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "sweep of stale resources: removed" in out
    assert "removed stale" in out
    for row in CHECK_ROWS:
        line = next(x for x in proc.stdout.splitlines() if x.startswith(row))
        assert "  ok  " in line, line
    assert "left out (no image here): plugin_daemon" in proc.stdout
    assert "sandbox (langgenius/dify-sandbox" in proc.stdout
    assert "wall time" in proc.stdout and "teardown" in proc.stdout
    assert _left(project) == []
    assert list(tmp_path.glob("stack-smoke-*")) == []
    assert (ROOT / "compose" / "volumes").exists() == volumes_before  # data stayed in the copy


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_removes_everything(tmp_path, sig) -> None:
    project = f"stack-e2e-smoke-{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        _smoke_argv(project, _variant(tmp_path)), cwd=ROOT, env=_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_containers(project, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert f"removed {project}" in out
    assert _left(project) == []
    assert list(tmp_path.glob("stack-smoke-*")) == []
