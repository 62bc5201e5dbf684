"""A strict release file (`release.compose --strict-secrets`) on the real engine.

The deployer's path, with the real CLI and compose: render the strict file, try to start it
without secrets (compose refuses before creating anything and names the variable), write a
`.env` with `invoke env.init`, start again with it. Started are ``redis`` and ``db_postgres``
of the strict file itself (its interpolation, environment and command), on their stand-in
images through an override that also adds the session labels; nothing is published (the
production file publishes only nginx), so the checks run inside the containers: the fresh
password works and the shipped default is rejected. Always brought down with ``down -v``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.engine.client import engine_alive
from tests.integration.template_support import standin_for, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

SERVICES = ("redis", "db_postgres")


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    from stack import paths

    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(path, interpolate=False).items()}


class Deployment:
    """The strict file + a stand-in override in a project directory of the test's own."""

    def __init__(self, name: str, directory: Path, strict_file: Path, override: Path) -> None:
        self.name = name
        self.directory = directory
        self.files = ["-f", str(strict_file), "-f", str(override)]

    def compose(self, *args: str, env_file: Path | None = None) -> subprocess.CompletedProcess:
        from stack.compose.cli import run_compose
        from stack.compose.validate import isolated_env

        argv = [*self.files, "-p", self.name, "--project-directory", str(self.directory)]
        if env_file is not None:
            argv += ["--env-file", str(env_file)]
        return run_compose([*argv, *args], env=isolated_env(), check=False, timeout=300)

    def container(self, service: str) -> Any:
        from stack.engine.client import client

        (found,) = client().containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.name}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        return found

    def exec(self, service: str, argv: list[str], env: dict[str, str] | None = None) -> Any:
        rc, out = self.container(service).exec_run(argv, environment=env or {})
        return rc, out.decode(errors="replace")

    def logs(self, service: str) -> str:
        proc = self.compose("logs", "--no-color", "--tail", "40", service)
        return proc.stdout + proc.stderr


def override(strict: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """Stand-in images, no restarts and the session labels on everything compose creates."""
    services = {
        name: {"image": standin_for(strict["services"][name]["image"]), "restart": "no"}
        | {"labels": labels}
        for name in SERVICES
    }
    return {
        "services": services,
        "networks": {name: {"labels": labels} for name in strict.get("networks") or {}},
        "volumes": {name: {"labels": labels} for name in strict.get("volumes") or {}},
    }


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Deployment, Path]]:
    from stack.engine import labels

    labels.sweep()
    sid = labels.new_session_id()
    lab = labels.session_labels(sid, purpose="test")
    strict_file = tmp_path / "docker-compose.strict.yaml"
    made = invoke("release.compose", "--strict-secrets", "--output", str(strict_file))
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"{strict_file} written" in made.stdout
    document = yaml.safe_load(strict_file.read_text(encoding="utf-8"))
    path = tmp_path / "standins.override.yaml"
    path.write_text(json.dumps(override(document, lab), indent=1), encoding="utf-8")
    project_dir = tmp_path / "deploy"
    project_dir.mkdir()
    dep = Deployment(f"stack-strict-{sid}", project_dir, strict_file, path)
    env_file = tmp_path / "deploy.env"
    try:
        yield dep, env_file
    finally:
        # `down` interpolates the file too: without the values it would refuse as `up` does
        dep.compose(
            "down",
            "-v",
            "--remove-orphans",
            "-t",
            "2",
            env_file=env_file if env_file.exists() else None,
        )
        labels.remove_session(sid)
        assert labels.count_labelled(session=sid) == {"containers": 0, "networks": 0, "volumes": 0}


def test_strict_file_refuses_without_secrets_and_starts_with_env_init(deployment) -> None:
    from stack.engine import labels

    dep, env_file = deployment
    up = ["up", "-d", "--pull", "never", "--no-build", "--no-deps"]

    refused = dep.compose(*up, *SERVICES)
    assert refused.returncode != 0
    assert "required variable" in refused.stderr and "is missing a value" in refused.stderr
    assert "invoke env.init" in refused.stderr, refused.stderr
    named = refused.stderr.split("required variable ", 1)[1].split()[0]
    from stack.env.parse import load_definitions

    defs = load_definitions()
    assert defs[named].secret, f"{named} is named but is not a secret"
    sid = dep.name.removeprefix("stack-strict-")
    assert labels.count_labelled(session=sid) == {"containers": 0, "networks": 0, "volumes": 0}

    made = invoke("env.init", "--output", str(env_file))
    assert made.returncode == 0, made.stdout + made.stderr
    values = dotenv(env_file)
    started = dep.compose(*up, "--wait", "--wait-timeout", "120", *SERVICES, env_file=env_file)
    assert started.returncode == 0, started.stderr + dep.logs("db_postgres") + dep.logs("redis")

    # redis: the generated password is the one it requires; the shipped default is refused
    redis_pw, shipped = values["REDIS_PASSWORD"], defs["REDIS_PASSWORD"].default
    assert redis_pw and redis_pw != shipped
    rc, out = dep.exec("redis", ["redis-cli", "ping"])  # REDISCLI_AUTH from the strict file
    assert (rc, out.strip()) == (0, "PONG"), out
    rc, out = dep.exec("redis", ["redis-cli", "--no-auth-warning", "-a", shipped, "ping"])
    assert "PONG" not in out and ("WRONGPASS" in out or "NOAUTH" in out or "invalid" in out), out

    # postgres: the container got the generated password; a login over TCP proves it
    db_pw = values["DB_PASSWORD"]
    ctr_env = dict(e.split("=", 1) for e in dep.container("db_postgres").attrs["Config"]["Env"])
    assert ctr_env["POSTGRES_PASSWORD"] == db_pw != defs["DB_PASSWORD"].default
    user = values.get("DB_USERNAME") or "postgres"

    def login(password: str) -> tuple[int, str]:
        argv = ["psql", "-h", "127.0.0.1", "-U", user, "-d", "postgres", "-tAc", "select 42"]
        return dep.exec("db_postgres", argv, {"PGPASSWORD": password})

    rc, out = wait_for(lambda: _ok(login(db_pw)), "postgres login", lambda: dep.logs("db_postgres"))
    assert out.strip() == "42"
    rc, out = login(defs["DB_PASSWORD"].default)
    assert rc != 0 and "password authentication failed" in out, out


def _ok(result: tuple[int, str]) -> tuple[int, str]:
    assert result[0] == 0, result[1]
    return result
