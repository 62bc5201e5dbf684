"""The dev state directory: ``<state root>/<project>/`` (default ``.stack/dev/<project>``).

It holds the derived compose file (``compose.yaml``, which carries the real passwords of the
user's ``.env``), a cache of ``docker compose config`` keyed by the digest of its inputs
(``config.json``, interpolated: secrets too) and the record of the last successful
``dev.up`` (``up.json``: container ids and compose config hashes).  Every file is written
with :func:`stack.fsutil.write_private` (0600) and every directory from the top of the state
tree (``.stack``) down to the project's is 0700.  ``dev.down`` and ``dev.reset`` remove the
project's directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from stack.dev.options import DevOptions
from stack.errors import WriteError
from stack.fsutil import private_dir, write_private

CONFIG_CACHE = "config.json"
UP_RECORD = "up.json"


def digest(*parts: object) -> str:
    """sha256 of the JSON form of ``parts`` (keys sorted): a cache key."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def private_tree(opts: DevOptions) -> Path:
    """Create the project's state directory; every level from the top down is 0700."""
    top, leaf = opts.private_top, opts.project_dir
    levels = [top]
    try:
        for part in leaf.relative_to(top).parts:  # .stack, .stack/dev, .stack/dev/<project>
            levels.append(levels[-1] / part)
    except ValueError:  # not below the top (odd state_dir): make the leaf alone private
        levels = [leaf]
    for level in levels:
        private_dir(level)
    return leaf


def write(opts: DevOptions, name: str, text: str) -> Path:
    """Write ``name`` in the project's state directory (private), unless unchanged."""
    path = opts.project_dir / name
    try:
        if path.read_text(encoding="utf-8") == text:
            private_tree(opts)  # still make sure the modes are right
            return path
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise WriteError(f"cannot read {path}: {exc.strerror or exc}") from None
    private_tree(opts)
    write_private(path, text)
    return path


def read_json(opts: DevOptions, name: str) -> Any:
    """A JSON file of the state directory, or ``None`` when absent or unreadable."""
    try:
        return json.loads((opts.project_dir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(opts: DevOptions, name: str, data: Any) -> None:
    """Keys keep their order: a cached compose config must read back exactly as it was."""
    write(opts, name, json.dumps(data, indent=1) + "\n")


def forget(opts: DevOptions, name: str) -> None:
    (opts.project_dir / name).unlink(missing_ok=True)


def remove(opts: DevOptions) -> bool:
    """Remove the project's state directory; True when there was one."""
    path = opts.project_dir
    if not path.exists():
        return False
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise WriteError(
            f"cannot remove {path}: {exc.strerror or exc}",
            hint=f"remove it by hand (`rm -rf {path}`); it holds the .env's secrets",
        ) from None
    return True
