"""Which settings apply to the dev middleware, and where each one comes from.

Precedence, highest first: command-line flags, the process environment, the
repository's ``.env``, the shared definitions' defaults.  Only variables the
definitions know are taken from the environment (``PATH`` never becomes a
setting); a ``.env`` key the definitions do not know is kept too (the user may
use it in their own tooling) but reported by ``invoke env.check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.env.model import Definitions
from stack.errors import Problem, ProblemsError


@dataclass(frozen=True)
class Setting:
    """One resolved value and its origin (``flag``, ``environment``, ``.env:12``, ``default``)."""

    name: str
    value: str
    source: str


@dataclass(frozen=True)
class Settings:
    """All resolved values, by name."""

    items: Mapping[str, Setting]

    def __getitem__(self, name: str) -> str:
        return self.items[name].value

    def get(self, name: str, default: str = "") -> str:
        item = self.items.get(name)
        return item.value if item else default

    def source(self, name: str) -> str:
        item = self.items.get(name)
        return item.source if item else "unset"

    def values(self) -> dict[str, str]:
        return {name: item.value for name, item in self.items.items()}

    def overridden(self) -> list[Setting]:
        """Settings that do not come from the definitions' defaults."""
        return [s for s in self.items.values() if s.source != "default"]


def read_dotenv(path: Path) -> dict[str, tuple[str, int]]:
    """Values of a user's ``.env`` (strict dotenv rules, literal values) with line numbers.

    Unparsable lines and duplicate keys stop the dev tasks (``env.check`` reports more).
    """
    from stack.env.userenv import read_user_env

    user = read_user_env(path, path.name)
    values: dict[str, tuple[str, int]] = {}
    problems: list[Problem] = []
    for entry in user.entries:
        if entry.kind == "error":
            problems.append(
                Problem.at(user.shown, entry.line, f"cannot parse {entry.text.strip()[:50]!r}")
            )
        elif entry.kind == "binding" and entry.key:
            if entry.key in values:
                first = values[entry.key][1]
                problems.append(
                    Problem.at(
                        user.shown, entry.line, f"duplicate key {entry.key} (first at {first})"
                    )
                )
            values[entry.key] = (entry.value or "", entry.line)
    if problems:
        raise ProblemsError(
            f"{path}: cannot use this .env (fix it, then check with `invoke env.check`)", problems
        )
    return values


def resolve(
    defs: Definitions,
    *,
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
) -> Settings:
    """Resolve every definition (see the module docstring for the precedence)."""
    import os

    env = os.environ if environ is None else environ
    file_values = read_dotenv(dotenv) if dotenv is not None and dotenv.is_file() else {}
    shown = dotenv.name if dotenv is not None else ".env"
    items: dict[str, Setting] = {}
    for var in defs:
        items[var.name] = Setting(var.name, var.default, "default")
    for name, (value, line) in file_values.items():
        items[name] = Setting(name, value, f"{shown}:{line}")
    known = defs.by_name  # built once (each `defs[name]` would build it again)
    for name in known:
        if name in env:
            items[name] = Setting(name, env[name], "environment")
    for name, flag in (flags or {}).items():
        if flag is not None:
            items[name] = Setting(name, flag, "flag")
    problems = []
    for name, item in items.items():
        if name in known:
            reason = known[name].type.check(item.value)
            if reason:
                problems.append(
                    Problem(
                        f"{name} ({item.source})",
                        reason,
                        f"set a valid {name} (see env/ or `invoke env.doc`)",
                    )
                )
    if problems:
        raise ProblemsError("invalid settings for the dev middleware", problems)
    return Settings(items)
