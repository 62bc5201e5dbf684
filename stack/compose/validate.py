"""Validate compose text with the real ``docker compose config`` (no engine needed).

:func:`validate` remembers successes: a text already accepted by the same compose
binary and version, under the same profiles, project directory and environment, is
not validated again (``release.compose --check`` is then nearly free).  The key is a
digest of all of these, so a changed text is always validated again; failures are
never cached; a text that makes compose read other files (``env_file``, ``extends``,
``include``...) is never cached, because those files can change under it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
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
    from stack.dockerapi import endpoint
    from stack.errors import EngineError

    # The engine the SDK uses (DOCKER_HOST / docker context), also for compose; a broken
    # context is ignored here: `compose config` needs no engine and `up` reports it itself.
    with contextlib.suppress(EngineError):
        env.update(endpoint().env())
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


def validate(
    text: str,
    *,
    project_dir: Path,
    name: str = "docker-compose.yaml",
    cache: bool = True,
    env: Mapping[str, str] | None = None,
) -> None:
    """Check ``text`` under every profile set of :data:`PROFILE_SETS` (cached, see above).

    ``env`` is what interpolation sees (e.g. ``--strict-secrets``' placeholder secrets).
    """
    for profiles in PROFILE_SETS:
        key = cache_key(text, project_dir=project_dir, profiles=profiles, name=name, env=env)
        if cache and key is not None and _recalled(key):
            continue
        config(text, project_dir=project_dir, profiles=profiles, name=name, fmt=None, env=env)
        if cache and key is not None:
            _remember(key)


# ----------------------------------------------------------------------------- cache

CACHE_FORMAT = 1
CACHE_ENTRIES = 128
# Keys that make `docker compose config` read another file: its result then depends on
# more than the key can see, so such a text is validated every time.
_READS_FILES = re.compile(r"^[ \t-]*(env_file|label_file|extends|include|file|path)[ \t]*:", re.M)


def cache_key(
    text: str,
    *,
    project_dir: Path,
    profiles: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    name: str = "docker-compose.yaml",
) -> str | None:
    """The validation-cache key of a ``config`` run (``None``: never cache this text)."""
    from stack.compose.cli import find_compose

    if _READS_FILES.search(text):
        return None
    compose = find_compose()
    digest = hashlib.sha256()
    parts = [
        f"stack-validate-{CACHE_FORMAT}",
        text,
        json.dumps(list(compose.argv0)),
        compose.version_str,
        str(Path(project_dir).resolve()),
        name,
        json.dumps(list(profiles)),
        json.dumps(sorted(isolated_env(env).items())),
    ]
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def _cache_dir() -> Path:
    from stack import paths

    return paths.cache_dir() / "compose-config"


def _cache_path(key: str) -> Path:
    return _cache_dir() / f"{key}.ok"


def _recalled(key: str) -> bool:
    """Whether ``key`` was validated before (a hit is touched: pruning drops the oldest)."""
    try:
        os.utime(_cache_path(key))
    except OSError:
        return False
    return True


def _remember(key: str) -> None:
    """Record a success; a cache that cannot be written only costs time next run."""
    from stack.errors import WriteError
    from stack.fsutil import write_atomic

    with contextlib.suppress(WriteError, OSError):
        write_atomic(_cache_path(key), "docker compose config accepted this text\n", parents=True)
        entries = sorted(_cache_dir().glob("*.ok"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-CACHE_ENTRIES]:
            old.unlink(missing_ok=True)
