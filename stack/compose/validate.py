"""Validate compose text with the real ``docker compose config`` (no engine needed)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stack.errors import ComposeError

#: The profile sets every generated file is checked under: the default set and all.
PROFILE_SETS: tuple[tuple[str, ...], ...] = ((), ("*",))


def isolated_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment that cannot leak the caller's variables into interpolation."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for key in ("HOME", "DOCKER_HOST", "DOCKER_CONFIG", "XDG_RUNTIME_DIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return env


def config(
    text: str,
    *,
    project_dir: Path,
    profiles: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    name: str = "docker-compose.yaml",
    fmt: str | None = "json",
) -> Any:
    """Run ``docker compose config`` on ``text`` and return the parsed JSON (or ``None``).

    Interpolation sees only ``env`` (not the caller's environment, not a ``.env``
    beside the file): an empty ``--env-file`` is passed.
    """
    from stack.compose.cli import run_compose

    with tempfile.TemporaryDirectory(prefix="stack-config-") as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        empty = Path(tmp) / "empty.env"
        empty.write_text("", encoding="utf-8")
        args = ["-f", str(path), "--project-directory", str(project_dir)]
        args += ["--env-file", str(empty), "-p", "stack-validate"]
        for profile in profiles:
            args += ["--profile", profile]
        args += ["config", "--format", fmt] if fmt else ["config", "-q"]
        proc = run_compose(args, env=isolated_env(env), check=False)
    if proc.returncode != 0:
        shown = "default profiles" if not profiles else "profiles " + ",".join(profiles)
        raise ComposeError(
            f"docker compose config rejected {name} ({shown}):\n{proc.stderr.strip()}",
            hint="fix the template or the env definitions, then run `invoke release.compose`",
        )
    return json.loads(proc.stdout) if fmt == "json" else None


def validate(text: str, *, project_dir: Path, name: str = "docker-compose.yaml") -> None:
    """Check ``text`` under every profile set of :data:`PROFILE_SETS`."""
    for profiles in PROFILE_SETS:
        config(text, project_dir=project_dir, profiles=profiles, name=name, fmt=None)
