"""The merge of ``env.sync``: the synced text of a user's env file and why each line changed.

Pure apart from generating fresh secrets for new variables (:func:`plan_sync`).

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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from stack.env import secrets as gen
from stack.env.entries import Entry
from stack.env.model import Definitions, Variable
from stack.env.userfile import UserEnv, definition_line, section_header, variable_block
from stack.errors import Problem, ProblemsError

REMOVED_MARKER = "# [stack env.sync: no longer defined] "


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


def commented_keys(entries: list[Entry], marker: str = REMOVED_MARKER) -> dict[str, int]:
    """``# KEY=...`` lines a user commented out (not those behind ``marker``) -> line."""
    found: dict[str, int] = {}
    for entry in entries:
        if entry.kind != "comment" or entry.text.lstrip().startswith(marker.strip()):
            continue
        match = re.match(r"\s*#\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", entry.text)
        if match:
            found.setdefault(match.group(1), entry.line)
    return found


def ensure_newline(text: str, newline: str) -> str:
    """``text`` ending with a line break (unless empty)."""
    return text if not text or text.endswith("\n") else text + newline


def comment_out(raw: str, newline: str, marker: str = REMOVED_MARKER) -> str:
    """An entry's text commented out behind ``marker`` (every line of it)."""
    lines = raw.splitlines(keepends=True) or [raw]
    out = [marker + lines[0]]
    out.extend("# " + line for line in lines[1:])
    return ensure_newline("".join(out), newline)


def splice(
    entries: list[Entry],
    replaced: Mapping[int, str],
    after: Mapping[int, list[str]],
    newline: str,
) -> str:
    """The text of ``entries`` with the ``replaced`` ones (by index) swapped for new text and
    the blocks of ``after`` inserted behind the entry of that index."""
    pieces: list[str] = []
    for index, entry in enumerate(entries):
        raw = replaced.get(index, entry.raw)
        if index in after:
            raw = ensure_newline(raw, newline) + "".join(after[index])
        pieces.append(raw)
    return "".join(pieces)


def refuse_unparsable(env: UserEnv) -> None:
    """Raise for every unparsable line: text added after broken quoting could be swallowed."""
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


def plan_sync(
    env: UserEnv,
    defs: Definitions,
    record: Mapping[str, str] | None,
    *,
    existing_secrets: Mapping[str, str] | None = None,
) -> SyncPlan:
    """Compute the synced text of ``env`` (pure apart from secret generation)."""
    refuse_unparsable(env)
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
                replaced[index] = comment_out(entry.raw, nl)
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
            replaced[index] = definition_line(var, var.default, ending)
            plan.updated.append((key, old_default, var.default))
        elif entry.value != old_default:
            plan.kept_overrides.append((key, old_default, var.default))

    # 2. New variables: after the last existing variable of their section.
    commented = commented_keys(env.entries)
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

    text = splice(env.entries, replaced, after, nl)
    if new_sections:
        text = ensure_newline(text, nl)
        for section in defs.sections:
            if section.title in new_sections:
                text += section_header(section, nl) + "".join(new_sections[section.title])
    plan.new = text
    return plan
