"""The outcome of ``env.sync --example`` (:mod:`stack.env.dify_sync`): the merged text, each
decision with its reason, and the report printed from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stack.env.dify_example import Example, ExampleVar, fresh_decision
from stack.env.model import Variable

#: Marks the lines of variables that the new example no longer has (kept, commented out).
REMOVED_MARKER = "# [stack env.sync: not in the new .env.example] "


@dataclass
class DifyPlan:
    """The merged text and the reason for every decision."""

    old: str
    new: str
    base: str | None  # where the old defaults came from (None: unknown)
    kept: list[str] = field(default_factory=list)
    kept_changed: list[tuple[str, str, str]] = field(default_factory=list)  # name, old, new
    followed: list[tuple[str, str, str]] = field(default_factory=list)
    secret_default_changed: list[str] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)  # name, decision
    fresh: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    own: list[str] = field(default_factory=list)
    undecided: list[tuple[str, str]] = field(default_factory=list)  # name, new default
    absent_unknown: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commented: list[tuple[str, int]] = field(default_factory=list)
    restored: list[tuple[str, bool]] = field(default_factory=list)  # name, equals the default
    duplicated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.new != self.old

    def counts(self) -> dict[str, int]:
        """The numbers of the summary line."""
        return {
            "kept": len(self.kept),
            "followed": len(self.followed),
            "added": len(self.added),
            "commented out": len(self.removed),
            "fresh secrets": len(self.fresh),
        }

    def report(self) -> list[str]:
        out = list(self.notes)
        if self.kept:
            out.append("kept your values of: " + ", ".join(self.kept))
        for name, old, new in self.followed:
            out.append(
                f"{name}: default changed {old!r} -> {new!r}; your value was the old "
                "default, so it follows"
            )
        for name, old, new in self.kept_changed:
            out.append(f"{name}: default changed {old!r} -> {new!r}; you changed it, yours is kept")
        for name in self.secret_default_changed:
            out.append(
                f"{name}: shipped secret default changed; your value is left alone "
                "(a new password would lock out existing data)"
            )
        for name in self.duplicated:
            out.append(f"{name}: set more than once, not updated (`invoke env.check` shows where)")
        for name, decision in self.added:
            out.append(f"added {name}: {decision}")
        if self.removed:
            out.append(
                f"no longer in the example, commented out behind {REMOVED_MARKER.strip()!r}: "
                + ", ".join(self.removed)
            )
        if self.own:
            out.append("yours (in neither example), left as they are: " + ", ".join(self.own))
        if self.deleted:
            out.append(
                "in the old example but not in your file, not added back: "
                + ", ".join(self.deleted)
            )
        for name, same in self.restored:
            out.append(
                f"{name} is back in the example: your line, commented out by an earlier sync, "
                "is restored" + ("" if same else " (it differs from the new default: check it)")
            )
        for name, line in self.commented:
            out.append(f"{name} is commented out at line {line}; not added")
        if self.base is None:
            for name, default in self.undecided:
                out.append(
                    f"{name}: differs from the new default {default!r}; kept, because without "
                    "the old defaults an old default cannot be told from your choice"
                )
            if self.absent_unknown:
                out.append(
                    "not in the new example (yours, or removed upstream: pass --base to "
                    "tell), left as they are: " + ", ".join(self.absent_unknown)
                )
        counts = ", ".join(f"{n} {k}" for k, n in self.counts().items())
        out.append(f"summary: {counts}, {len(self.own)} of your own variable(s) kept")
        return out


def origin(
    var: ExampleVar,
    defined: Variable,
    fresh: Mapping[str, str],
    existing: Mapping[str, str],
    example: Example,
) -> tuple[bool, str]:
    """Whether a new variable got a fresh secret, and the decision in words."""
    if var.secret is None:
        return False, "not a secret (no secret-like name, default not a known shipped secret)"
    what = f"secret ({var.secret})"
    leader = defined.follows or defined.url_password
    if var.name not in fresh:
        if fresh_decision(var):
            why = fresh_decision(var)
        elif leader:
            why = f"it must agree with {leader}, which has no value to share: set both"
        else:
            why = "a URL with a password in it: put in the password of the server it points at"
        return False, f"{what}; shipped value kept: {why}"
    if leader and leader in existing:
        how = "the URL gets your password of" if defined.url_password else "takes your value of"
        return False, f"{what}; {how} {leader} (the two must agree)"
    if leader:
        return True, f"{what}; fresh random value, shared with the new {leader}"
    same = [v.name for v in example.variables if v.value == var.value and v.name != var.name]
    hint = (
        f" (shipped with the same default as {', '.join(same[:4])}: if it must agree "
        "with one of them, copy that value)"
        if same
        else ""
    )
    return True, f"{what}; fresh random value{hint}"
