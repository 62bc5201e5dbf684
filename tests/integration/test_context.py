"""Engine access through a real second docker context, with the default socket unusable.

Each command runs in a private mount namespace (``unshare --mount``, private propagation)
where ``<tmp>/alt.sock`` is the engine's socket and ``/var/run/docker.sock`` is /dev/null;
the shared engine and every other process keep the real socket.  ``DOCKER_HOST`` is unset
and ``DOCKER_CONFIG`` holds only the context ``alt`` (made by the docker CLI itself), so
everything -- SDK, CLI, compose, testcontainers -- must find the engine through it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.dev.ports import free_ports
from stack.engine import labels
from stack.engine.client import engine_alive
from stack.paths import ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("docker") is None,
        reason="needs root, unshare(1) and the docker CLI for a private mount namespace",
    ),
]

DEFAULT_SOCKET = "/var/run/docker.sock"
PORTS = ["EXPOSE_POSTGRES_PORT", "EXPOSE_REDIS_PORT", "EXPOSE_SSRF_PROXY_PORT"]
# Runs as root inside `unshare --mount`: swap the sockets, then exec the command.
SWAP = (
    'set -e; : > "$STACK_ALT_SOCK"; mount --bind /var/run/docker.sock "$STACK_ALT_SOCK"; '
    'mount --bind /dev/null /var/run/docker.sock; exec "$@"'
)


class AltContext:
    """Runs commands where the engine is only reachable through the context ``alt``."""

    def __init__(self, tmp: Path) -> None:
        self.sock = tmp / "alt.sock"
        self.config = tmp / "docker-config"
        self.config.mkdir()
        plugins = Path.home() / ".docker" / "cli-plugins"
        if plugins.is_dir():  # the docker CLI looks for compose in $DOCKER_CONFIG/cli-plugins
            (self.config / "cli-plugins").symlink_to(plugins)
        cli = ["docker", "--config", str(self.config), "context"]
        subprocess.run(
            [*cli, "create", "alt", "--docker", f"host=unix://{self.sock}"],
            check=True,
            capture_output=True,
        )
        subprocess.run([*cli, "use", "alt"], check=True, capture_output=True)
        self.session = labels.new_session_id()
        own = labels.session_labels(self.session, purpose="test")
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
        }
        self.env.update(
            {
                "DOCKER_CONFIG": str(self.config),
                "STACK_ALT_SOCK": str(self.sock),
                "STACK_OFFLINE": "1",
                "TESTCONTAINERS_RYUK_DISABLED": "true",
                "VECTOR_STORE": "tencent",  # hosted: no vector container for dev.up
                "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in own.items()),
                "PYTHONPATH": str(ROOT),
                "STACK_STATE_DIR": str(tmp / "state"),  # never .stack/dev in the checkout
                **dict(zip(PORTS, map(str, free_ports(len(PORTS))), strict=True)),
            }
        )

    def run(
        self, *argv: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", SWAP, "sh", *argv],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def invoke(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "invoke", *args, check=check)


@pytest.fixture(scope="module")
def alt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AltContext]:
    ctx = AltContext(tmp_path_factory.mktemp("context"))
    try:
        yield ctx
    finally:
        labels.remove_session(ctx.session)


PROBE = (
    "from stack.dockerapi import endpoint, engine_alive, client; "
    "print(endpoint().host, engine_alive(), client().version()['Version'] if engine_alive() "
    "else '-')"
)


def test_default_socket_is_unusable_and_the_context_works(alt: AltContext) -> None:
    bare = {k: v for k, v in alt.env.items() if k != "DOCKER_CONFIG"}
    bare["HOME"] = str(alt.config.parent)  # no ~/.docker there: the default context
    out = alt.run(sys.executable, "-c", PROBE, env=bare).stdout.split()
    assert out == [f"unix://{DEFAULT_SOCKET}", "False", "-"]
    out = alt.run(sys.executable, "-c", PROBE).stdout.split()
    assert out[:2] == [f"unix://{alt.sock}", "True"] and out[2] not in ("", "-")
    # the docker CLI agrees (it reads the same context store)
    cli = alt.run("docker", "info", "--format", "{{.ID}}").stdout.strip()
    assert (
        cli
        and cli
        == subprocess.run(
            ["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )


def test_doctor_and_images_list_through_the_context(alt: AltContext) -> None:
    doctor = alt.invoke("doctor", check=False)
    engine_line = next(line for line in doctor.stdout.splitlines() if " engine " in line)
    assert engine_line.startswith("[ok  ]") and str(alt.sock) in engine_line, doctor.stdout
    assert "[ok  ] compose" in doctor.stdout
    rows = {r["name"]: r for r in json.loads(alt.invoke("images.list", "--json").stdout)}
    assert rows["pgvector"]["present"] == "standin", rows["pgvector"]
    assert rows["postgres"]["present"] == "standin"


def test_dev_up_down_reset_through_the_context(alt: AltContext) -> None:
    project = f"stack-ctx-{alt.session}"
    try:
        up = alt.invoke("dev.up", "--project", project, "--json")
        rows = {r["service"]: r for r in json.loads(up.stdout)}
        assert rows["db_postgres"]["health"] == "healthy", rows
        assert rows["redis"]["health"] == "healthy", rows
        counts = labels.count_labelled(session=alt.session)
        assert counts["containers"] == 3, counts
        alt.invoke("dev.down", "--project", project)
        assert labels.count_labelled(session=alt.session)["containers"] == 0
    finally:
        alt.invoke("dev.reset", "--project", project, "--yes", check=False)
    assert labels.count_labelled(session=alt.session)["volumes"] == 0
    assert not (ROOT / ".stack" / "dev" / project).exists()


def test_one_vdb_store_through_the_context(alt: AltContext) -> None:
    proc = alt.run(
        sys.executable,
        "-m",
        "pytest",
        "tests/vdb",
        "-m",
        "vdb",
        "--stores=pgvector",
        "-k",
        "search_by_vector_puts_exact_document_first",
        "-q",
        "-p",
        "no:cacheprovider",
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "pgvector passed" in proc.stdout, proc.stdout
