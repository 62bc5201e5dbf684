"""Fault: `invoke release.smoke` killed with SIGKILL (the whole process group: invoke and the
`docker compose up` it runs), so its teardown never runs.

Kill points: while `compose up` creates the containers, and while the checks run (every
container up).  What the killed run leaves (containers, networks, volumes with its owner
labels, and its copy of compose/) is then swept: `invoke engine.ensure --sweep` removes the
engine's side, and the next `release.smoke` of the same project removes the stale copy,
passes and leaves nothing.  (tests/e2e/test_smoke.py covers the next `release.smoke`
sweeping both alone.)

No STACK_EXTRA_LABELS here: they would replace the smoke's owner labels (the killed invoke
process) with this test's, and a live owner is never swept.  The test's own cleanup removes
whatever carries the smoke project's label, whatever happened.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.dev.ports import free_ports
from stack.engine.client import engine_alive
from stack.testing import in_ci

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

ROOT = Path(__file__).resolve().parents[2]
VARIANT = "postgresql-pgvector"  # the default pair, with the short beat heartbeat


def _implemented() -> bool:
    return importlib.util.find_spec("stack.release.smoke") is not None


@pytest.fixture
def smoke(tmp_path) -> Iterator[dict]:
    if not _implemented():
        if in_ci():
            pytest.fail("CI=true: release.smoke not implemented (stack/release/smoke.py)")
        pytest.skip("release.smoke not implemented")
    from stack.engine import labels
    from stack.release import deploy, variants, workdir

    project = f"stack-e2e-smokefault-{labels.new_session_id()}"
    (tmp_path / "home").mkdir()
    copies = tmp_path / "copies"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "STACK_OFFLINE": "1",
        "STACK_SMOKE_DIR": str(copies),  # copies of compose/ here, never beside others'
    }
    for key in ("DOCKER_HOST", "DOCKER_CONFIG", "CI"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.setdefault("DOCKER_CONFIG", str(Path.home() / ".docker"))
    ctx = {
        "project": project,
        "env": env,
        "copies": copies,
        "env_file": variants.write(VARIANT, tmp_path),
    }
    try:
        yield ctx
    finally:
        from stack.engine.client import client

        deploy.remove_labelled(client(), project)
        for path in copies.glob(f"{workdir.PREFIX}*"):
            workdir.remove(path)
        assert deploy.labelled(client(), project) == []


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def _smoke_args(ctx: dict) -> tuple[str, ...]:
    port = str(free_ports(1)[0])
    return ("release.smoke", "--project", ctx["project"], "--port", port, "--env-file")


def run(ctx: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        _argv(*args),
        cwd=ROOT,
        env=ctx["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 0, out
    return proc


def left(ctx: dict) -> dict[str, list[str]]:
    """What carries the smoke project's label, by kind."""
    from stack.engine.client import client
    from stack.release.deploy import LABEL_SMOKE

    c = client()
    flt = {"label": [f"{LABEL_SMOKE}={ctx['project']}"]}
    return {
        "containers": [
            x.name for x in c.containers.list(all=True, filters=flt, ignore_removed=True)
        ],
        "networks": [x.name for x in c.networks.list(filters=flt)],
        "volumes": [x.name for x in c.volumes.list(filters=flt)],
    }


def copies(ctx: dict) -> list[Path]:
    from stack.release import workdir

    return sorted(ctx["copies"].glob(f"{workdir.PREFIX}*"))


def _any_container(ctx: dict) -> bool:
    from stack.engine.client import client

    flt = {"label": f"com.docker.compose.project={ctx['project']}"}
    return bool(client().api.containers(all=True, filters=flt))


def _checking(ctx: dict) -> bool:
    """`compose up -d` is done (nginx runs) and the invoke process is in its checks."""
    from stack.engine.client import client

    flt = {
        "label": [
            f"com.docker.compose.project={ctx['project']}",
            "com.docker.compose.service=nginx",
        ],
        "status": "running",
    }
    return bool(client().api.containers(filters=flt))


KILL_POINTS = {"compose-up": _any_container, "checks": _checking}


def kill_at(ctx: dict, point: str) -> None:
    """Start release.smoke; SIGKILL its process group once the kill point is reached."""
    proc = subprocess.Popen(
        _argv(*_smoke_args(ctx), str(ctx["env_file"])),
        cwd=ROOT,
        env=ctx["env"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    try:
        while not KILL_POINTS[point](ctx):
            assert proc.poll() is None, f"release.smoke ended (rc {proc.returncode}) first"
            assert time.monotonic() < deadline, f"release.smoke never reached {point}"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL  # killed mid-run: no teardown ran
    # Its containers existed at the kill point; its copy of compose/ is left as well.
    assert len(copies(ctx)) == 1


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_smoke_is_swept(smoke, point):
    ctx = smoke
    kill_at(ctx, point)
    stale_copy = copies(ctx)[0]

    out = run(ctx, "engine.ensure", "--sweep").stdout
    # (Another test session sharing the engine may sweep some of them first: they are
    # stale for everyone. So the count is not asserted, only that nothing is left.)
    assert re.search(r"sweep: removed \d+ container\(s\)", out), out
    assert left(ctx) == {"containers": [], "networks": [], "volumes": []}
    assert copies(ctx) == [stale_copy]  # the engine's sweep does not know the copies

    # The next smoke of the same project: its project is free, it removes the stale copy,
    # passes, and tears itself down.
    nxt = run(ctx, *_smoke_args(ctx), str(ctx["env_file"]))
    assert f"removed stale {stale_copy}" in nxt.stdout, nxt.stdout
    assert left(ctx) == {"containers": [], "networks": [], "volumes": []}
    assert copies(ctx) == []
