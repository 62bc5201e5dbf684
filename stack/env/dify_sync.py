"""Carry a platform checkout's ``.env`` from one Dify-format release to the next.

``invoke env.sync --path ENV --example NEW [--base OLD]`` is a three-way merge of the
user's file with the old defaults (the base) and the new ones (the example):

* a value the user changed from the base default is kept byte for byte;
* a value still equal to the base default follows a changed default: the line becomes
  the new example's line (reported).  Secrets never follow (a new shipped password
  would lock out existing data); they are reported;
* a variable new in the example is added after its predecessor in the example, with the
  comment and blank lines above it there; a new secret gets a fresh value
  (:mod:`stack.env.dify_example` documents the rule and what is left to the user);
* a variable the base had and the example no longer has is commented out behind
  :data:`REMOVED_MARKER`, never deleted;
* every other line (the user's own variables and comments) stays where it is, and a base
  variable the user deleted is not added back.

The base is ``--base OLD_EXAMPLE``, else the defaults recorded next to the file by
``env.init`` or an earlier sync (``<name>.stack-defaults``, the format of
:mod:`stack.env.sync`), else unknown: then a value that differs from the new default
cannot be told from a deliberate choice, so it is kept and listed.  Each sync records the
example's defaults, so the next upgrade needs no ``--base``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.env import secrets as gen
from stack.env.dify_example import Example, ExampleVar, read_example
from stack.env.dify_plan import REMOVED_MARKER, DifyPlan, origin
from stack.env.parse import Entry, read_dify_env, read_entries
from stack.env.sync import (
    comment_out,
    commented_keys,
    ensure_newline,
    read_sidecar,
    refuse_unparsable,
    sidecar_path,
    splice,
    write_sidecar,
)
from stack.env.userenv import UserEnv, binding_line, read_user_env
from stack.errors import Problem
from stack.fsutil import backup, unified_diff, write_atomic


def plan_dify_sync(
    env: UserEnv,
    new: Example,
    base: Mapping[str, str] | None,
    *,
    base_from: str | None = None,
    dify_values: Mapping[str, str] | None = None,
) -> DifyPlan:
    """Merge ``env`` with ``new`` against ``base`` (pure apart from secret generation).

    ``dify_values`` are the user's values read with Dify's rules (as the examples are):
    a line copied from an example compares equal even where strict dotenv reads it
    differently (a `` #`` inside an unquoted value).
    """
    refuse_unparsable(env)
    nl = env.newline
    known = new.by_name
    dify_values = dify_values or {}
    plan = DifyPlan(env.text, env.text, base_from if base is not None else None)
    if base is None:
        plan.notes.append(
            "no old defaults (no --base, no record beside the file): a value that differs "
            "from the new default cannot be told from your own choice, so every value is "
            "kept (listed below); a real run records the new defaults for the next sync"
        )
    counts = Counter(e.key for e in env.entries if e.kind == "binding" and e.key)
    replaced: dict[int, str] = {}
    anchors: dict[str, int] = {}
    for index, entry in enumerate(env.entries):
        if entry.kind != "binding" or not entry.key or entry.value is None:
            continue
        key, var = entry.key, known.get(entry.key)
        anchors[key] = index
        if var is None:
            if base is not None and key in base:
                replaced[index] = comment_out(entry.raw, nl, REMOVED_MARKER)
                _add(plan.removed, key)
            else:
                _add(plan.own if base is not None else plan.absent_unknown, key)
            continue
        if counts[key] > 1:
            _add(plan.duplicated, key)
            continue
        values = {entry.value}
        if entry.raw.count("\n") <= 1 and key in dify_values:  # one physical line
            values.add(dify_values[key])
        old = base.get(key) if base is not None else None
        if old is None:  # no base, or the user had it before the example did
            if var.value in values:
                continue
            if base is None and var.secret is None:  # a secret never follows anyway
                plan.undecided.append((key, var.value))
            else:
                plan.kept.append(key)
            continue
        if old not in values:
            plan.kept.append(key)
            if old != var.value and var.value not in values:
                plan.kept_changed.append((key, old, var.value))
        elif old != var.value:
            if var.secret is not None:
                plan.secret_default_changed.append(key)
                continue
            ending = entry.raw[len(entry.raw.rstrip("\r\n")) :] or nl
            replaced[index] = var.raw + ending
            plan.followed.append((key, old, var.value))

    commented = commented_keys(env.entries, REMOVED_MARKER)
    removed_before = _removed_lines(env.entries)
    missing: list[ExampleVar] = []
    for var in new.variables:
        if var.name in env.bindings:
            continue
        if var.name in removed_before:
            index, raw, value = removed_before[var.name]
            replaced[index], anchors[var.name] = raw, index
            plan.restored.append((var.name, value == var.value))
        elif base is not None and var.name in base:
            plan.deleted.append(var.name)
        elif var.name in commented:
            plan.commented.append((var.name, commented[var.name]))
        else:
            missing.append(var)
    definitions = new.definitions()
    existing = env.values()
    fresh = gen.generate(definitions, [v.name for v in missing], existing)

    after: dict[int, list[str]] = {}
    at_end: list[str] = []
    missing_names = {v.name for v in missing}
    anchor: int | None = None
    for var in new.variables:
        if var.name in anchors:
            anchor = anchors[var.name]
            continue
        if var.name not in missing_names:
            continue
        line = binding_line(var.name, fresh[var.name], "") if var.name in fresh else var.raw
        lines = var.block
        if anchor is not None:
            anchor, lines = _skip_shared(env.entries, anchor, lines)
        block = nl.join([*lines, line]) + nl
        (after.setdefault(anchor, []) if anchor is not None else at_end).append(block)
        is_fresh, decision = origin(var, definitions[var.name], fresh, existing, new)
        plan.added.append((var.name, decision))
        if is_fresh:
            plan.fresh.append(var.name)

    text = splice(env.entries, replaced, after, nl)
    if at_end:
        text = ensure_newline(text, nl) + "".join(at_end)
    plan.new = text
    return plan


def _skip_shared(
    entries: list[Entry], start: int, block: tuple[str, ...]
) -> tuple[int, tuple[str, ...]]:
    """Move an insertion point past the comment paragraphs of ``block`` that the user's file
    already has right after entry ``start`` (a section header both files share), dropping
    them from ``block``.  The last paragraph, the variable's own comment, always stays."""
    paragraphs: list[list[str]] = [[]]
    for text in block:
        if not text.strip() and any(t.strip() for t in paragraphs[-1]):
            paragraphs.append([])
        paragraphs[-1].append(text)
    pos = start
    while len(paragraphs) > 1:
        comments = [t.strip() for t in paragraphs[0] if t.strip()]
        first = pos + 1
        while first < len(entries) and entries[first].kind == "blank":
            first += 1
        window = entries[first : first + len(comments)]
        if not comments or [e.text.strip() for e in window if e.kind == "comment"] != comments:
            break
        pos = first + len(comments) - 1
        paragraphs.pop(0)
    return pos, tuple(t for paragraph in paragraphs for t in paragraph)


def _removed_lines(entries: list[Entry]) -> dict[str, tuple[int, str, str]]:
    """Lines an earlier sync commented out behind the marker: key -> (entry index, the line
    restored, its value), for the ones that read back as one binding."""
    found: dict[str, tuple[int, str, str]] = {}
    for index, entry in enumerate(entries):
        if entry.kind != "comment" or not entry.raw.startswith(REMOVED_MARKER):
            continue
        raw = entry.raw.removeprefix(REMOVED_MARKER)
        parsed = read_entries(raw)
        if len(parsed) == 1 and parsed[0].kind == "binding" and parsed[0].value is not None:
            found.setdefault(parsed[0].key or "", (index, raw, parsed[0].value))
    return found


def _add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


@dataclass(frozen=True)
class DifySyncResult:
    """What :func:`sync` did."""

    plan: DifyPlan
    diff: str
    warnings: list[Problem]
    written: bool
    backup: Path | None = None
    record_written: bool = False


def sync(
    path: Path,
    example: Path,
    *,
    base: Path | None = None,
    dry_run: bool = False,
    shown: str | None = None,
    example_shown: str | None = None,
    base_shown: str | None = None,
) -> DifySyncResult:
    """Merge the env file ``path`` with ``example``; atomic write with a backup.

    ``--dry-run`` computes the same plan and diff and writes nothing at all.
    """
    where = shown or str(path)
    env = read_user_env(path, where)
    new = read_example(example, example_shown)
    warnings = list(new.warnings)
    notes: list[str] = []
    if base is not None:
        old = read_example(base, base_shown)
        warnings.extend(old.warnings)
        defaults: dict[str, str] | None = old.defaults()
        base_from = f"--base {old.shown}"
    else:
        defaults, why = read_sidecar(path)
        base_from = f"the defaults recorded in {sidecar_path(path).name}"
        if why:
            notes.append(why)
    found, _ = read_dify_env(path, where)  # its problems are env.check's to report
    plan = plan_dify_sync(
        env, new, defaults, base_from=base_from, dify_values={v.name: v.value for v in found}
    )
    if plan.base is not None:
        notes.append(f"old defaults: {plan.base}")
    plan.notes[:0] = notes
    diff = unified_diff(plan.old, plan.new, f"{where} (now)", f"{where} (synced)")
    if dry_run:
        return DifySyncResult(plan, diff, warnings, False)
    saved: Path | None = None
    if plan.changed:
        saved = backup(path)
        write_atomic(path, plan.new)  # keeps the file's mode and owner, writes through links
    recorded = write_sidecar(path, new.defaults())
    return DifySyncResult(plan, diff, warnings, plan.changed, saved, recorded)
