"""Validation of task flags before any work starts (one rule per kind of value).

Every checker returns a :class:`~stack.errors.Problem` (or ``None``) naming the flag, what
is wrong and how to fix it; :func:`raise_all` raises them together as one
:class:`~stack.errors.ProblemsError`, so a command with three bad flags reports three
problems at once.  Task modules call these first, then do their work::

    from stack import argcheck as a
    a.raise_all(
        a.project_name("--project", project),
        a.number("--timeout", timeout, low=1, high=3600),
        a.output_path("--output", output),
    )
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from stack.errors import Problem, ProblemsError
from stack.fsutil import input_problem, output_problem

# docker compose's rule for project names (compose-spec: "must contain only lowercase
# letters, decimal digits, dashes, and underscores, and must begin with a lowercase
# letter or decimal digit").
PROJECT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
PROJECT_MAX = 63


def project_name(flag: str, value: str | None) -> Problem | None:
    """A compose project name (``None`` means "use the default")."""
    if value is None:
        return None
    text = str(value)
    if PROJECT_RE.match(text) and len(text) <= PROJECT_MAX:
        return None
    return Problem(
        flag,
        f"{text!r} is not a valid compose project name: use lowercase letters, digits, "
        f"'_' and '-', starting with a letter or digit, at most {PROJECT_MAX} characters",
        f"for example {flag} stack-dev",
    )


def number(
    flag: str,
    value: object,
    *,
    low: float,
    high: float,
    integer: bool = False,
) -> Problem | None:
    """A number within ``[low, high]`` (``None`` means "use the default")."""
    if value is None:
        return None
    kind = "a whole number" if integer else "a number"
    example = f"for example {flag} {int(low) if integer else low:g}"
    try:
        parsed = float(str(value).strip())
    except ValueError:
        return Problem(flag, f"{value!r} is not {kind}", example)
    if not math.isfinite(parsed) or (integer and parsed != int(parsed)):
        return Problem(flag, f"{value!r} is not {kind}", example)
    if not low <= parsed <= high:
        return Problem(flag, f"{value} is out of range: it must be {low:g} to {high:g}", example)
    return None


def output_path(flag: str, value: str | Path | None) -> Problem | None:
    """A file path to write: existing writable parent, not a directory (None: default)."""
    if value is None:
        return None
    if str(value).strip() == "":
        return Problem(flag, "an empty path was given", f"give {flag} a file path")
    return output_problem(Path(value), flag)


def input_file(flag: str, value: str | Path | None) -> Problem | None:
    """A file path to read: exists, is a file, is readable (None: default)."""
    if value is None:
        return None
    if str(value).strip() == "":
        return Problem(flag, "an empty path was given", f"give {flag} a file path")
    return input_problem(Path(value), flag)


def choice(flag: str, value: str | None, known: list[str] | tuple[str, ...]) -> Problem | None:
    """One of ``known`` (``None`` means "use the default")."""
    if value is None or value in known:
        return None
    return Problem(
        flag, f"{value!r} is not one of: {', '.join(known)}", f"for example {flag} {known[0]}"
    )


def raise_all(
    *problems: Problem | None, title: str = "invalid arguments (nothing was done)"
) -> None:
    """Raise every non-``None`` problem together; return quietly when there is none."""
    found = [p for p in problems if p is not None]
    if found:
        raise ProblemsError(title, found)
