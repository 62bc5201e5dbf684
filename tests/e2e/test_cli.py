"""End to end through the real `invoke` CLI, as a developer types it.

The dev middleware runs under its own compose project on free ports; every resource
carries this test session's labels (via STACK_EXTRA_LABELS), so a killed run is swept.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.dev.ports import free_ports
from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

ROOT = Path(__file__).resolve().parents[2]
PORTS = ["EXPOSE_POSTGRES_PORT", "EXPOSE_REDIS_PORT", "EXPOSE_SSRF_PROXY_PORT"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Iterator:
    from stack.engine import labels

    labels.sweep()
    session = labels.new_session_id()
    own = labels.session_labels(session, purpose="test")
    project = f"stack-e2e-{session}"
    home = tmp_path_factory.mktemp("home")
    state = tmp_path_factory.mktemp("state")  # never .stack/dev in the checkout
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "STACK_OFFLINE": "1",
        "STACK_STATE_DIR": str(state),
        "VECTOR_STORE": "tencent",  # a hosted store: no vector container, keeps it quick
        "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in own.items()),
        **dict(zip(PORTS, map(str, free_ports(len(PORTS))), strict=True)),
    }
    for key in ("DOCKER_HOST", "DOCKER_CONFIG"):
        if key in os.environ:
            env[key] = os.environ[key]
    if "DOCKER_CONFIG" not in env:
        env["DOCKER_CONFIG"] = str(Path.home() / ".docker")  # keep the compose CLI plugin

    def run(
        *args: str, check: bool = True, project: str = project
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args, "--project", project],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    try:
        yield run, env, session
    finally:
        run("dev.reset", "--yes", check=False)
        labels.remove_session(session)
        assert not (state / project).exists()
        assert not (ROOT / ".stack" / "dev" / project).exists()
        assert labels.count_labelled(session=session) == {
            "containers": 0,
            "networks": 0,
            "volumes": 0,
        }


def test_up_status_logs_down_reset(cli):
    from stack.engine import labels

    run, env, session = cli
    project = f"stack-e2e-{session}"
    up = run("dev.up", "--json")
    rows = {r["service"]: r for r in json.loads(up.stdout)}
    compose_file = Path(env["STACK_STATE_DIR"]) / project / "compose.yaml"
    assert stat.S_IMODE(compose_file.stat().st_mode) == 0o600  # it holds the passwords
    assert stat.S_IMODE(compose_file.parent.stat().st_mode) == 0o700
    assert {rows[s]["health"] for s in ("db_postgres", "redis", "ssrf_proxy")} == {"healthy"}
    assert rows["db_postgres"]["url"].endswith(f":{env['EXPOSE_POSTGRES_PORT']}/dify")
    assert "ready in" in up.stderr  # progress went to stderr, JSON alone on stdout

    counts = labels.count_labelled(session=session)
    assert counts["containers"] == 3 and counts["volumes"] == 2, counts  # ssrf_proxy: no data

    status = json.loads(run("dev.status", "--json").stdout)
    assert [r["state"] for r in status if r["service"] == "redis"] == ["running"]

    logs = run("dev.logs", "--service", "redis")
    assert "Ready to accept connections" in logs.stdout

    bad = run("dev.logs", "--service", "nope", check=False)
    assert bad.returncode != 0 and "--service: error: 'nope' is not one of" in bad.stderr
    other = run("dev.logs", "--service", "milvus-standalone", check=False)  # known, not selected
    assert other.returncode != 0 and "in the current selection" in other.stderr, other.stderr

    # Nothing to act on is an error that names the dev middleware that does exist.
    for action in ("dev.logs", "dev.down", "dev.reset"):
        nope = run(action, check=False, project=f"stack-e2e-{session}-nope")
        assert nope.returncode == 1, (action, nope.stdout, nope.stderr)
        assert f"no dev middleware named stack-e2e-{session}-nope exists" in nope.stderr
        assert project in nope.stderr.split("existing dev middleware:")[1]

    run("dev.down")
    assert labels.count_labelled(session=session)["containers"] == 0
    assert labels.count_labelled(session=session)["volumes"] == 2  # data is kept
    assert not compose_file.parent.exists()  # the state (with its secrets) is gone
    table = run("dev.status").stdout
    assert "db_postgres" in table and "not created" in table
    stopped = run("dev.logs", check=False)
    assert stopped.returncode == 1 and "it is stopped" in stopped.stderr
    again = run("dev.down")  # a stopped project: fine, and said so
    assert "was not running" in again.stdout

    no_yes = run("dev.reset", check=False)  # stdin is not a terminal
    assert no_yes.returncode == 2 and "re-run with --yes" in no_yes.stderr
    assert labels.count_labelled(session=session)["volumes"] == 2  # nothing deleted

    reset = run("dev.reset", "--yes")
    assert "removed 2 data volume(s)" in reset.stdout
    assert labels.count_labelled(session=session)["volumes"] == 0


def test_bad_project_name_is_refused_before_any_work(cli):
    run, _, _ = cli
    proc = run("dev.up", check=False, project="Bad Name!")
    assert proc.returncode == 1
    assert "--project: error: 'Bad Name!' is not a valid compose project name" in proc.stderr
    assert "APIError" not in proc.stderr and "settings (flags" not in proc.stdout


def test_release_compose_on_a_dify_format_repository(tmp_path):
    (tmp_path / "docker-compose-template.yaml").write_text(
        "x-shared-env: &shared-api-worker-env\n"
        "services:\n  api:\n    image: langgenius/dify-api:1.11.4\n"
        "    environment:\n      <<: *shared-api-worker-env\n      MODE: api\n"
    )
    (tmp_path / ".env.example").write_text("# example\nLOG_LEVEL=INFO\nA=1 # note\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    if "DOCKER_CONFIG" not in os.environ:
        env["DOCKER_CONFIG"] = str(Path.home() / ".docker")
    args = [sys.executable, "-m", "invoke", "release.compose"]
    args += ["--template", str(tmp_path / "docker-compose-template.yaml")]
    args += ["--env-file", str(tmp_path / ".env.example")]
    first = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert ".env.example:3: warning: A: ` #` is kept" in first.stderr
    out = (tmp_path / "docker-compose.yaml").read_text()
    assert "  LOG_LEVEL: ${LOG_LEVEL:-INFO}\n" in out
    check = subprocess.run([*args, "--check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert check.returncode == 0 and "is up to date" in check.stdout
    (tmp_path / "docker-compose.yaml").write_text(out.replace("MODE: api", "MODE: x"))
    stale = subprocess.run([*args, "--check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert stale.returncode == 1 and "+      MODE: api" in stale.stdout
