"""Helpers of the fault tests: the real `invoke` CLI in its own process group (so a SIGKILL
takes `docker compose` down with it), the engine's own view of a project, and the state-dir
check.  Every resource the CLI creates carries this test session's labels
(STACK_EXTRA_LABELS), so even a run killed half-way is swept by the next session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack.dev.ports import free_dev_ports

ROOT = Path(__file__).resolve().parents[2]
# What the state directory may hold (stack/dev/state.py); anything else is debris.
STATE_FILES = {"compose.yaml", "config.json", "up.json"}


def cli_env(session: str, home: Path, state: Path, **extra: str) -> dict[str, str]:
    """The environment of a developer's shell: offline, free ports, a private state root."""
    from stack.engine.labels import session_labels

    own = session_labels(session, purpose="test")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "STACK_OFFLINE": "1",
        "STACK_STATE_DIR": str(state),
        "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in own.items()),
        **free_dev_ports(),
        **extra,
    }
    for key in ("DOCKER_HOST", "DOCKER_CONFIG", "CI"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.setdefault("DOCKER_CONFIG", str(Path.home() / ".docker"))  # the compose CLI plugin
    return env


def invoke(
    env: dict[str, str], *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``invoke ARGS`` to completion; never a traceback, and rc 0 unless ``check=False``."""
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """Start ``invoke ARGS`` as the leader of a new process group (its output discarded)."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until(
    cond: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 180
) -> None:
    """Poll ``cond`` while ``proc`` runs; fail if it ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"the command ended (rc {proc.returncode}) before the kill"
        assert time.monotonic() < deadline, "the kill point was never reached"
        time.sleep(0.02)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group (invoke and the compose it runs), then reap it."""
    import psutil

    assert proc.poll() is None, "nothing left to kill"
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while True:  # the group's other members (compose) are reaped by init
        left = []
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(p.pid) == proc.pid and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(p.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"processes of the killed group survive: {left}"


def compose_containers(project: str) -> list[dict[str, Any]]:
    """Summaries of the compose project's containers, straight from the engine."""
    from stack.engine.client import client

    flt = {"label": f"com.docker.compose.project={project}"}
    return client().api.containers(all=True, filters=flt)


def engine_states(project: str) -> dict[str, list[tuple[str, str]]]:
    """Per service, (state, health) of each of its containers as the engine says, in the
    form of ``dev.status`` (``exited (CODE)``; health ``-`` without a health check)."""
    import docker

    from stack.engine.client import client

    api = client().api
    out: dict[str, list[tuple[str, str]]] = {}
    for summary in compose_containers(project):
        try:
            info = api.inspect_container(summary["Id"])
        except docker.errors.NotFound:
            continue
        st = info["State"]
        state = st["Status"] if st["Status"] != "exited" else f"exited ({st['ExitCode']})"
        health = (st.get("Health") or {}).get("Status") or "-"
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        out.setdefault(service, []).append((state, health))
    return out


def assert_status_truthful(env: dict[str, str], project: str) -> dict[str, dict[str, str]]:
    """``dev.status --json`` shows, for every service, exactly the engine's state and health.

    The engine is asked just before and just after: a health check may finish in between,
    so a row must match one of the two views (and never anything else).
    """
    before = engine_states(project)
    shown = invoke(env, "dev.status", "--json", "--project", project).stdout
    after = engine_states(project)
    rows = {r["service"]: r for r in json.loads(shown)}
    for service, row in rows.items():
        if row["state"] in ("skipped", "image missing"):
            continue
        views = [truth.get(service, []) for truth in (before, after)]
        if row["state"] == "not created":
            assert [] in views, (service, row, views)
            continue
        stale = row["state"].startswith("stale (")
        got = (row["state"].removeprefix("stale (").removesuffix(")") if stale else row["state"],)
        assert any(v == [(*got, row["health"])] for v in views), (service, row, views)
    hidden = (set(before) & set(after)) - set(rows)
    assert not hidden, f"containers the status hides: {hidden}"
    return rows


def assert_state_dir_sound(project_dir: Path) -> None:
    """Only the known state files, complete (parseable), private; no temp-file debris."""
    import yaml

    if not project_dir.exists():
        return
    names = {p.name for p in project_dir.iterdir()}
    assert names <= STATE_FILES, f"debris in {project_dir}: {sorted(names - STATE_FILES)}"
    for name in names:
        path = project_dir / name
        assert path.stat().st_mode & 0o077 == 0, path  # secrets stay private
        text = path.read_text(encoding="utf-8")
        if name.endswith(".json"):
            json.loads(text)
        else:
            assert isinstance(yaml.safe_load(text), dict), path
