"""The smoke deployment's project directory: a temporary copy of ``compose/``.

The copy holds the committed ``docker-compose.yaml`` byte for byte, the directories it mounts
(nginx, ssrf_proxy, ...), the chosen ``.env`` and the override; the containers' bind-mounted
data (``./volumes/...``) therefore lands in the copy, never in ``compose/volumes/``.

A marker file (``.stack-smoke.json``) records the compose project and the ownership labels,
so that a directory left behind by a killed run is removed by the next run
(:func:`sweep`: its owner is provably gone) and a ``--keep`` one is found by
``release.down`` (:func:`kept`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack import paths
from stack.errors import WriteError

PREFIX = "stack-smoke-"
MARKER = ".stack-smoke.json"
#: Never copied: data of a local deployment, the stand-in recipes, generator leftovers.
_IGNORE = ("volumes", "images", ".env", "*.bak", "*.bak.*", "__pycache__")


@dataclass(frozen=True)
class Workdir:
    """One copy: its directory, compose project and labels."""

    path: Path
    project: str
    labels: dict[str, str]

    @property
    def compose_file(self) -> Path:
        return self.path / paths.GENERATED_COMPOSE.name

    @property
    def override_file(self) -> Path:
        return self.path / "docker-compose.smoke.yaml"

    @property
    def env_file(self) -> Path:
        return self.path / ".env"


def root() -> Path:
    """Where copies are made (``STACK_SMOKE_DIR``, else the system temporary directory)."""
    return Path(os.environ.get("STACK_SMOKE_DIR") or tempfile.gettempdir())


def create(project: str, labels: Mapping[str, str], env_text: str | None) -> Workdir:
    """Copy ``compose/`` (without data) into a new private directory and mark it."""
    base = root()
    try:
        base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{project}-", dir=base))
        wd = Workdir(path, project, dict(labels))
        (path / MARKER).write_text(
            json.dumps({"project": project, "labels": wd.labels}, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        shutil.copytree(
            paths.COMPOSE_DIR,
            path,
            ignore=shutil.ignore_patterns(*_IGNORE),
            dirs_exist_ok=True,
            symlinks=True,
        )
        if env_text is not None:
            wd.env_file.write_text(env_text, encoding="utf-8")
            wd.env_file.chmod(0o600)  # the user's secrets
    except OSError as exc:
        raise WriteError(
            f"cannot make the smoke's copy of {paths.COMPOSE_DIR} under {base}: {exc}",
            hint="set STACK_SMOKE_DIR to a writable directory",
        ) from None
    return wd


def remove(path: Path) -> str | None:
    """Delete a copy (data written by the containers included); the error text, if any."""
    errors: list[str] = []
    shutil.rmtree(path, onerror=lambda _f, p, exc: errors.append(f"{p}: {exc[1]}"))
    if path.exists():
        return f"could not remove {path}: " + "; ".join(errors[:3])
    return None


def _markers() -> list[tuple[Path, dict[str, object]]]:
    found = []
    for marker in sorted(root().glob(f"{PREFIX}*/{MARKER}")):
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found.append((marker.parent, data))
    return found


def kept(project: str) -> list[Path]:
    """Copies of compose project ``project`` (``--keep`` ones, or one in use)."""
    return [p for p, data in _markers() if data.get("project") == project]


def sweep() -> list[str]:
    """Remove copies whose owner process is provably gone; what was removed (or failed)."""
    from stack.engine.owner import owner_alive

    done = []
    for path, data in _markers():
        labels = data.get("labels")
        if not isinstance(labels, dict) or owner_alive({str(k): str(v) for k, v in labels.items()}):
            continue
        done.append(remove(path) or f"removed stale {path}")
    return done
