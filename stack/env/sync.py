"""Write a new ``.env`` (``env.init``) and bring an existing one up to date (``env.sync``).

The recorded previous defaults are :mod:`stack.env.sidecar`; the merge that computes the
synced text, and its line discipline, is :mod:`stack.env.merge`.  This module renders a
fresh file, and reads, merges and writes (atomically, with a backup).  The names of both
stay importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.env import secrets as gen
from stack.env.merge import (
    REMOVED_MARKER,
    SyncPlan,
    comment_out,
    commented_keys,
    ensure_newline,
    plan_sync,
    refuse_unparsable,
    splice,
)
from stack.env.model import Definitions
from stack.env.sidecar import (
    SIDECAR_FORMAT,
    SIDECAR_SUFFIX,
    read_sidecar,
    sidecar_path,
    sidecar_text,
    write_sidecar,
)
from stack.env.userfile import read_user_env, section_header, variable_block
from stack.errors import EnvError
from stack.fsutil import backup, unified_diff, write_atomic

# Everything importable from here before the split (importers keep this path).
__all__ = [
    "ENV_MODE",
    "HEADER",
    "REMOVED_MARKER",
    "SIDECAR_FORMAT",
    "SIDECAR_SUFFIX",
    "InitResult",
    "SyncPlan",
    "SyncResult",
    "comment_out",
    "commented_keys",
    "ensure_newline",
    "init",
    "plan_sync",
    "read_sidecar",
    "refuse_unparsable",
    "render_init",
    "sidecar_path",
    "sidecar_text",
    "splice",
    "sync",
    "write_sidecar",
]

ENV_MODE = 0o600


HEADER = """\
# Environment of the stack, written by `invoke env.init` from env/definitions.env.
#
# Every secret below is freshly generated for this file: keep it private (mode 600),
# never commit it. Check it with `invoke env.check` (`--production` before deploying);
# after an upgrade, `invoke env.sync` adds new variables and keeps your values.
# The reference of every variable: docs/ENV.md.
"""


def render_init(defs: Definitions, values: Mapping[str, str] | None = None) -> str:
    """A complete ``.env``: the definitions in order, ``values`` overriding defaults."""
    values = values or {}
    parts = [HEADER]
    by_name = defs.by_name
    for section in defs.sections:
        parts.append(section_header(section))
        for name in section.names:
            var = by_name[name]
            parts.append(variable_block(var, values.get(name, var.default)))
    return "".join(parts)


@dataclass(frozen=True)
class InitResult:
    """What :func:`init` wrote."""

    path: Path
    generated: tuple[str, ...]
    left_empty: tuple[str, ...]
    backup: Path | None = None


def init(
    defs: Definitions, output: Path, *, force: bool = False, shown: str | None = None
) -> InitResult:
    """Write a fresh env file (mode 600) with newly generated secrets."""
    where = shown or str(output)
    if output.is_dir():
        raise EnvError(f"{where}: is a directory", hint="pass --output PATH to a file")
    saved: Path | None = None
    if output.exists() or output.is_symlink():
        if not force:
            raise EnvError(
                f"{where} already exists; not overwriting it",
                hint=f"`invoke env.sync --path {where}` updates it in place; "
                f"`invoke env.init --output {where} --force` replaces it (keeping a backup)",
            )
        saved = backup(output)
    secrets_ = gen.generate(defs)
    write_atomic(output, render_init(defs, secrets_), mode=ENV_MODE)
    write_atomic(sidecar_path(output), sidecar_text(defs))
    empty = tuple(v.name for v in defs.secrets() if not gen.generated(v))
    return InitResult(output, tuple(secrets_), empty, saved)


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync` did."""

    plan: SyncPlan
    diff: str
    written: bool
    backup: Path | None = None
    record_written: bool = False


def sync(
    defs: Definitions, path: Path, *, dry_run: bool = False, shown: str | None = None
) -> SyncResult:
    """Bring ``path`` up to date with ``defs``; atomic write with a backup."""
    where = shown or str(path)
    env = read_user_env(path, where)
    record, why = read_sidecar(path)
    plan = plan_sync(env, defs, record)
    if why:
        plan.notes.insert(0, why)
    diff = unified_diff(plan.old, plan.new, f"{where} (now)", f"{where} (synced)")
    if dry_run:
        return SyncResult(plan, diff, False)
    saved: Path | None = None
    if plan.changed:
        saved = backup(path)
        write_atomic(path, plan.new)  # keeps the file's own mode
    record_written = write_sidecar(path, defs)
    return SyncResult(plan, diff, plan.changed, saved, record_written)
