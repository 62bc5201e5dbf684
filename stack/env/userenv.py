"""Check a user's ``.env`` against the definitions (``env.check``).

:func:`check_text` is pure and collects every problem of a file at once, each
with file:line.  Reading the file and writing new lines is :mod:`stack.env.userfile`
(its names stay importable from here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.env import rules
from stack.env import secrets as gen
from stack.env.entries import Entry, decode, read_entries
from stack.env.model import NAME_RE, Definitions, Variable
from stack.env.userfile import (
    PLAIN_RE,
    SECTION_RULE,
    UserEnv,
    binding_line,
    definition_line,
    quote_value,
    read_user_env,
    section_header,
    variable_block,
)
from stack.errors import EnvError, Problem, ProblemsError

# Everything importable from here before the split (importers keep this path).
__all__ = [
    "PLAIN_RE",
    "SECTION_RULE",
    "CheckResult",
    "Entry",
    "UserEnv",
    "binding_line",
    "check_env",
    "check_file",
    "check_text",
    "decode",
    "definition_line",
    "quote_value",
    "read_entries",
    "read_user_env",
    "section_header",
    "shipped_secret_defaults",
    "variable_block",
]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking one file."""

    shown: str
    problems: list[Problem]
    checked: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{self.shown}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) "
            f"({self.checked} variable(s) checked)"
        )


def check_file(
    path: Path, defs: Definitions, *, production: bool = False, shown: str | None = None
) -> CheckResult:
    """Check ``path``; every failure (missing file, binary data) becomes a problem."""
    where = shown or str(path)
    try:
        env = read_user_env(path, where)
    except ProblemsError as exc:
        return CheckResult(where, exc.problems)
    except EnvError as exc:
        return CheckResult(where, [Problem(where, exc.message, exc.hint)])
    return check_env(env, defs, production=production)


def check_text(
    text: str, defs: Definitions, shown: str = ".env", *, production: bool = False
) -> CheckResult:
    """Check env ``text`` (pure)."""
    return check_env(UserEnv.from_text(text, Path(shown), shown), defs, production=production)


def _loc(env: UserEnv, entry: Entry | None) -> str:
    return f"{env.shown}:{entry.line}" if entry is not None else env.shown


def check_env(env: UserEnv, defs: Definitions, *, production: bool = False) -> CheckResult:
    """Every problem of ``env`` at once (see ``invoke env.check --help``)."""
    problems: list[Problem] = []
    at = env.shown
    by_name = defs.by_name
    first: dict[str, Entry] = {}
    dup_reported: set[int] = set()
    for entry in env.entries:
        if entry.kind == "error":
            problems.append(
                Problem.at(
                    at,
                    entry.line,
                    f"cannot parse {entry.text.strip()[:60]!r} as KEY=VALUE",
                    "write it as KEY=value (quote values with spaces or #: KEY='a b'), "
                    "or start the line with # to make it a comment",
                )
            )
            continue
        if entry.kind != "binding" or entry.key is None:
            continue
        key = entry.key
        if key in first and entry.line not in dup_reported:
            dup_reported.add(entry.line)
            problems.append(
                Problem.at(
                    at,
                    entry.line,
                    f"duplicate key {key}: also at {at}:{first[key].line}; the last one "
                    f"(line {entry.line}) wins",
                    f"delete one of lines {first[key].line} and {entry.line}",
                )
            )
        first.setdefault(key, entry)
        problems.extend(_binding_problems(env, entry, defs, by_name))
    values = env.values()
    problems.extend(_whole_file_problems(env, defs, values, production))
    checked = len([k for k in values if k in by_name])
    return CheckResult(at, _sorted(problems), checked)


def _sorted(problems: list[Problem]) -> list[Problem]:
    def key(p: Problem) -> tuple[int, int]:
        tail = p.where.rpartition(":")[2]
        return (0 if tail.isdigit() else 1, int(tail) if tail.isdigit() else 0)

    return sorted(problems, key=key)


def _binding_problems(
    env: UserEnv, entry: Entry, defs: Definitions, by_name: Mapping[str, Variable]
) -> list[Problem]:
    at, line, key = env.shown, entry.line, entry.key or ""
    out: list[Problem] = []
    if not NAME_RE.match(key):
        out.append(
            Problem.at(
                at,
                line,
                f"invalid variable name {key[:60]!r}: compose cannot interpolate it",
                "use letters, digits and _ only",
            )
        )
        return out
    if entry.value is None:
        out.append(
            Problem.at(
                at,
                line,
                f"{key} has no `=`: python-dotenv reads it as unset, compose takes it from "
                "the shell",
                f"write {key}= (empty) or {key}=value",
                severity="warning",
            )
        )
        return out
    value = entry.value
    if key not in by_name:
        hints = defs.suggest(key)
        if hints and hints[0] not in env.bindings:
            out.append(
                Problem.at(
                    at,
                    line,
                    f"unknown variable {key}; did you mean {hints[0]}?",
                    f"rename it to {hints[0]} (as it is, {hints[0]} keeps its default)",
                )
            )
        else:
            extra = f" (close to {hints[0]}, which is also set)" if hints else ""
            out.append(
                Problem.at(
                    at,
                    line,
                    f"unknown variable {key}: not in the definitions{extra}; nothing of the "
                    "stack reads it",
                    "delete it, or keep it if your own compose overrides use it",
                    severity="warning",
                )
            )
    else:
        var = by_name[key]
        reason = var.type.check(value)
        if reason:
            out.append(Problem.at(at, line, f"{key}: {reason}", _type_fix(var)))
        if var.required and value == "":
            out.append(Problem.at(at, line, f"{key} is required but empty", _required_fix(var)))
    rhs = entry.text.partition("=")[2].lstrip()
    interpolated = key in by_name and by_name[key].interpolated
    if "$" in value and not rhs.startswith("'") and not interpolated:
        out.append(
            Problem.at(
                at,
                line,
                f"{key}: docker compose expands `$` in unquoted and double-quoted values "
                "(python-dotenv keeps it literal)",
                f"single-quote the value for a literal dollar: {key}='...'",
                severity="warning",
            )
        )
    return out


def _type_fix(var: Variable) -> str:
    if var.type.kind == "enum":
        return f"use one of: {', '.join(var.type.choices)} (default {var.default!r})"
    return f"use a {var.type.kind} value (default {var.default!r})"


def _required_fix(var: Variable) -> str:
    if gen.generated(var):
        return "put a fresh secret there (`invoke env.init --output NEW` generates them)"
    return f"set it (the default is {var.default!r})" if var.default else "set it"


def _whole_file_problems(
    env: UserEnv, defs: Definitions, values: Mapping[str, str], production: bool
) -> list[Problem]:
    """Checks about the effective values: file value, else the shipped default."""
    out: list[Problem] = []
    effective = {v.name: values.get(v.name, v.default) for v in defs}

    def where(name: str) -> str:
        return _loc(env, env.bindings.get(name))

    for var in defs:
        if var.required and var.name not in values and not var.default:
            out.append(
                Problem(
                    env.shown,
                    f"{var.name} is required but missing (its default is empty)",
                    _required_fix(var),
                )
            )
    out.extend(rules.link_problems(defs, effective, values, where))
    out.extend(rules.url_password_problems(defs, effective, values, where))
    bindings = [
        (e.key, e.value, e.line) for e in env.entries if e.kind == "binding" and e.key is not None
    ]
    for var in defs:
        if var.interpolated:
            out.extend(rules.interpolated_problems(var, defs, bindings, env.shown, production))
    if production:
        out.extend(_production_problems(env, defs, values, effective, where))
    return out


def shipped_secret_defaults(defs: Definitions) -> dict[str, list[str]]:
    """Non-empty shipped default of every secret -> the variables that ship it."""
    out: dict[str, list[str]] = {}
    for var in defs.secrets():
        if var.default:
            out.setdefault(var.default, []).append(var.name)
    for var in defs.secrets():
        pw = gen.url_password(var.default)
        if pw and pw not in out:
            out[pw] = [var.name]
    return out


def _production_problems(
    env: UserEnv,
    defs: Definitions,
    values: Mapping[str, str],
    effective: Mapping[str, str],
    where: Callable[[str], str],
) -> list[Problem]:
    out: list[Problem] = []
    shipped = shipped_secret_defaults(defs)
    fix = "generate fresh secrets: `invoke env.init --output .env.new` and copy them over"

    def embedded(name: str, value: str) -> list[Problem]:
        """A URL ``value`` whose password is a shipped default."""
        pw = gen.url_password(value)
        if not (pw and pw in shipped):
            return []
        owners = ", ".join(shipped[pw])
        return [
            Problem(where(name), f"{name} embeds the shipped default password of {owners}", fix)
        ]

    for var in defs.secrets():
        value = effective[var.name]
        state = "set in the file" if var.name in values else "not in the file, so the default"
        if value and value in shipped:
            owners = ", ".join(shipped[value])
            out.append(
                Problem(
                    where(var.name),
                    f"{var.name} ({state}) is a shipped default (the default of {owners}); "
                    "anyone who read the stack's source knows it",
                    fix,
                )
            )
            continue
        if not value and gen.generated(var) and not var.required:  # required: reported above
            out.append(Problem(where(var.name), f"{var.name} ({state}) is empty", fix))
            continue
        out.extend(embedded(var.name, value))
    for var in defs:
        if not var.secret:
            out.extend(embedded(var.name, effective[var.name]))
    return out
