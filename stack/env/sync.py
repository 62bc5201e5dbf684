"""Write a new ``.env`` (``env.init``) and bring an existing one up to date (``env.sync``).

Previous defaults
    ``env.sync`` must know which defaults changed for variables the user did not
    override.  Both commands record the shipped defaults they wrote against in a
    sidecar JSON file next to the env file, ``<name>.stack-defaults`` (for
    ``.env``: ``.env.stack-defaults``), written atomically.  It holds only the
    public shipped defaults, never a user's value.  A value equal to the recorded
    (old) default counts as not overridden.

Line discipline
    Every existing line is kept byte for byte (:attr:`Entry.raw`), except:

    * a non-secret binding whose value equals its old default when that default
      changed: it is rewritten with the new default (reported);
    * a binding of a variable that the previous definitions had and the current
      ones no longer have: commented out behind :data:`REMOVED_MARKER` (reported,
      never deleted).

    New variables go after the last existing variable of their section, or into a
    new section block at the end.  Keys the definitions never had are the user's
    own: left alone and reported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stack.env import secrets as gen
from stack.env.model import Definitions, Variable
from stack.env.parse import Entry
from stack.env.userenv import (
    UserEnv,
    binding_line,
    read_user_env,
    section_header,
    variable_block,
)
from stack.errors import EnvError, Problem, ProblemsError
from stack.fsutil import backup, unified_diff, write_atomic

REMOVED_MARKER = "# [stack env.sync: no longer defined] "
SIDECAR_SUFFIX = ".stack-defaults"
SIDECAR_FORMAT = 1
ENV_MODE = 0o600


def sidecar_path(env_path: Path) -> Path:
    """Where the defaults record of ``env_path`` lives."""
    return env_path.with_name(env_path.name + SIDECAR_SUFFIX)


def sidecar_text(defs: Definitions) -> str:
    """The defaults record (deterministic JSON)."""
    data = {
        "comment": "Shipped defaults this env file was last written against; "
        "read by `invoke env.sync`. Do not edit.",
        "format": SIDECAR_FORMAT,
        "defaults": defs.defaults(),
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


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


# --------------------------------------------------------------------------- init


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


# --------------------------------------------------------------------------- sync


@dataclass
class SyncPlan:
    """The new text of an env file and the reasons for every change."""

    old: str
    new: str
    added: list[str] = field(default_factory=list)
    added_secrets: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    updated: list[tuple[str, str, str]] = field(default_factory=list)  # name, old, new
    kept_overrides: list[tuple[str, str, str]] = field(default_factory=list)  # name, old, new
    secret_default_changed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    commented_out: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    record: dict[str, str] | None = None

    @property
    def changed(self) -> bool:
        return self.new != self.old

    def report(self) -> list[str]:
        """Human-readable lines describing the plan."""
        out: list[str] = list(self.notes)
        if self.added:
            out.append(f"added {len(self.added)} new variable(s): {', '.join(self.added)}")
        if self.added_secrets:
            out.append(f"  fresh secrets generated for: {', '.join(self.added_secrets)}")
        for name, old, new in self.updated:
            out.append(
                f"default of {name} changed {old!r} -> {new!r}; your value was the old "
                "default (not overridden), so it now holds the new default"
            )
        for name, old, new in self.kept_overrides:
            out.append(
                f"default of {name} changed {old!r} -> {new!r}; you override it, your value is kept"
            )
        for name in self.secret_default_changed:
            out.append(
                f"shipped default of secret {name} changed; your value is left alone "
                "(changing a password would lock out existing data)"
            )
        if self.removed:
            out.append(
                f"no longer defined, commented out (kept, marked "
                f"{REMOVED_MARKER.strip()!r}): {', '.join(self.removed)}"
            )
        if self.unknown:
            out.append(
                f"not in the definitions (your own, or typos: see `invoke env.check`), "
                f"left as they are: {', '.join(self.unknown)}"
            )
        for name, line in self.commented_out:
            out.append(f"{name} is commented out at line {line}; not re-added")
        return out


def _commented_keys(entries: list[Entry]) -> dict[str, int]:
    found: dict[str, int] = {}
    for entry in entries:
        if entry.kind != "comment" or entry.text.lstrip().startswith(REMOVED_MARKER.strip()):
            continue
        match = re.match(r"\s*#\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", entry.text)
        if match:
            found.setdefault(match.group(1), entry.line)
    return found


def _ensure_newline(text: str, newline: str) -> str:
    return text if not text or text.endswith("\n") else text + newline


def _comment_out(raw: str, newline: str) -> str:
    lines = raw.splitlines(keepends=True) or [raw]
    out = [REMOVED_MARKER + lines[0]]
    out.extend("# " + line for line in lines[1:])
    return _ensure_newline("".join(out), newline)


def plan_sync(
    env: UserEnv,
    defs: Definitions,
    record: Mapping[str, str] | None,
    *,
    existing_secrets: Mapping[str, str] | None = None,
) -> SyncPlan:
    """Compute the synced text of ``env`` (pure apart from secret generation)."""
    errors = [e for e in env.entries if e.kind == "error"]
    if errors:
        raise ProblemsError(
            f"{env.shown}: cannot sync a file with unparsable lines (new lines appended "
            "after them could be swallowed by the broken quoting)",
            [
                Problem.at(
                    env.shown,
                    e.line,
                    f"cannot parse {e.text.strip()[:60]!r} as KEY=VALUE",
                    "fix or delete the line (`invoke env.check` lists every problem)",
                )
                for e in errors
            ],
        )
    nl = env.newline
    by_name = defs.by_name
    plan = SyncPlan(env.text, env.text, record=dict(record) if record is not None else None)
    if record is None:
        plan.notes.append(
            "no record of previous defaults: cannot tell which defaults changed this time "
            "(recorded now for the next sync)"
        )
    values = env.values()
    counts: dict[str, int] = {}
    for entry in env.entries:
        if entry.kind == "binding" and entry.key:
            counts[entry.key] = counts.get(entry.key, 0) + 1

    # 1. Rewrite existing lines where needed (never a user's own value).
    replaced: dict[int, str] = {}  # index into env.entries -> new raw
    for index, entry in enumerate(env.entries):
        if entry.kind != "binding" or not entry.key or entry.value is None:
            continue
        key = entry.key
        if key not in by_name:
            if record is not None and key in record:
                replaced[index] = _comment_out(entry.raw, nl)
                if key not in plan.removed:
                    plan.removed.append(key)
            elif key not in plan.unknown:
                plan.unknown.append(key)
            continue
        var = by_name[key]
        old_default = record.get(key) if record is not None else None
        if old_default is None or old_default == var.default:
            continue
        if var.secret:
            if key not in plan.secret_default_changed:
                plan.secret_default_changed.append(key)
            continue
        if entry.value == old_default and counts[key] == 1:
            ending = entry.raw[len(entry.raw.rstrip("\r\n")) :] or nl
            replaced[index] = binding_line(key, var.default, ending)
            plan.updated.append((key, old_default, var.default))
        elif entry.value != old_default:
            plan.kept_overrides.append((key, old_default, var.default))

    # 2. New variables: after the last existing variable of their section.
    commented = _commented_keys(env.entries)
    missing: list[Variable] = []
    for var in defs:
        if var.name in env.bindings:
            continue
        if var.name in commented:
            plan.commented_out.append((var.name, commented[var.name]))
            continue
        missing.append(var)
    fresh = gen.generate(defs, [v.name for v in missing], existing_secrets or values)
    last_in_section: dict[str, int] = {}  # section title -> index of its last binding
    for index, entry in enumerate(env.entries):
        if entry.kind == "binding" and entry.key in by_name:
            last_in_section[by_name[entry.key].section] = index
    after: dict[int, list[str]] = {}
    new_sections: dict[str, list[str]] = {}
    for var in missing:
        value = fresh.get(var.name, var.default)
        block = variable_block(var, value, nl)
        plan.added.append(var.name)
        if var.name in fresh and var.secret:
            plan.added_secrets.append(var.name)
        if var.section in last_in_section:
            after.setdefault(last_in_section[var.section], []).append(block)
        else:
            new_sections.setdefault(var.section, []).append(block)

    pieces: list[str] = []
    for index, entry in enumerate(env.entries):
        raw = replaced.get(index, entry.raw)
        if index in after:
            raw = _ensure_newline(raw, nl) + "".join(after[index])
        pieces.append(raw)
    text = "".join(pieces)
    if new_sections:
        text = _ensure_newline(text, nl)
        for section in defs.sections:
            if section.title in new_sections:
                text += section_header(section, nl) + "".join(new_sections[section.title])
    plan.new = text
    return plan


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
    side = sidecar_path(path)
    new_record = sidecar_text(defs)
    try:
        current = side.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    record_written = current != new_record
    if record_written:
        write_atomic(side, new_record)
    return SyncResult(plan, diff, plan.changed, saved, record_written)
