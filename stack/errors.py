"""One error tree for the whole toolkit.

Every expected failure is a :class:`StackError`.  Validators collect
:class:`Problem` objects first and raise them all at once (``ProblemsError``),
so a single run shows every mistake.  Each problem names *where* (file:line,
key or service), *what* is wrong and, when known, *the command that fixes it*.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class StackError(Exception):
    """Base of every expected failure; the task layer turns it into ``Exit``."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


@dataclass(frozen=True)
class Problem:
    """One finding: where, what, and how to fix it."""

    where: str
    what: str
    fix: str | None = None
    severity: str = "error"  # "error" or "warning"

    @classmethod
    def at(
        cls,
        path: Path | str,
        line: int | None,
        what: str,
        fix: str | None = None,
        severity: str = "error",
    ) -> Problem:
        where = f"{path}:{line}" if line else str(path)
        return cls(where, what, fix, severity)

    def __str__(self) -> str:
        text = f"{self.where}: {self.severity}: {self.what}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class ProblemsError(StackError):
    """Several problems found together; raised once, after collecting all."""

    def __init__(self, title: str, problems: list[Problem]) -> None:
        self.title = title
        self.problems = list(problems)
        body = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{title}\n{body}" if body else title)

    def __str__(self) -> str:
        return self.message


class EnvError(StackError):
    """Bad env definitions or user env files."""


class TemplateError(StackError):
    """Bad compose template."""


class ComposeError(StackError):
    """docker compose missing, too old, or it rejected a file."""


class EngineError(StackError):
    """Docker engine unreachable or could not be started."""


class ImageError(StackError):
    """Image missing, unpinned, or a stand-in build failed."""


class WriteError(StackError):
    """A file could not be written (permission, missing directory, read-only, full disk)."""


class DevError(StackError):
    """Middleware lifecycle failure (ports, health, credentials)."""


class SmokeError(StackError):
    """`release.smoke` / `release.down`: a deployment check failed or nothing to act on."""


class StoreError(StackError):
    """Vector-store adapter failure visible to users (e.g. dimension mismatch)."""


class NotSupported(StoreError):
    """The store does not offer this operation (e.g. full-text search)."""


class RunError(StackError):
    """A backend MODE cannot run as configured (unknown mode, inconsistent variables)."""

    exit_code = 2
