"""The recorded defaults of an env file: the ``<name>.stack-defaults`` sidecar.

``env.sync`` must know which defaults changed for variables the user did not
override.  ``env.init`` and ``env.sync`` record the shipped defaults they wrote against in a
sidecar JSON file next to the env file, ``<name>.stack-defaults`` (for
``.env``: ``.env.stack-defaults``), written atomically.  It holds only the
public shipped defaults, never a user's value.  A value equal to the recorded
(old) default counts as not overridden.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from stack.env.model import Definitions
from stack.fsutil import write_atomic

SIDECAR_SUFFIX = ".stack-defaults"
SIDECAR_FORMAT = 1


def sidecar_path(env_path: Path) -> Path:
    """Where the defaults record of ``env_path`` lives."""
    return env_path.with_name(env_path.name + SIDECAR_SUFFIX)


def sidecar_text(defs: Definitions | Mapping[str, str]) -> str:
    """The defaults record (deterministic JSON) of ``defs`` or of a name -> default map."""
    data = {
        "comment": "Shipped defaults this env file was last written against; "
        "read by `invoke env.sync`. Do not edit.",
        "format": SIDECAR_FORMAT,
        "defaults": defs.defaults() if isinstance(defs, Definitions) else dict(defs),
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def write_sidecar(env_path: Path, defs: Definitions | Mapping[str, str]) -> bool:
    """Record the defaults of ``env_path`` (atomic); ``False`` when already recorded."""
    side = sidecar_path(env_path)
    text = sidecar_text(defs)
    try:
        current = side.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current == text:
        return False
    write_atomic(side, text)
    return True


def read_sidecar(env_path: Path) -> tuple[dict[str, str] | None, str | None]:
    """The recorded defaults (``None`` when absent) and why it was unusable."""
    path = sidecar_path(env_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path.name} is unreadable ({exc}); treating defaults as unknown"
    defaults = data.get("defaults") if isinstance(data, dict) else None
    if not isinstance(defaults, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in defaults.items()
    ):
        return None, f"{path.name} has no valid `defaults` mapping; treating defaults as unknown"
    return dict(defaults), None
