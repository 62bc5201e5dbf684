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


def output_path(flag: str, value: str | Path | None, *, writing: bool = True) -> Problem | None:
    """A file path to write: existing writable parent, not a directory (None: default).

    ``writing=False`` is for a ``--check`` that only reads the output: it may be absent,
    but must not be a directory or an unreadable file.
    """
    if value is None:
        return None
    if bad := _unusable_path(flag, value, "file"):
        return bad
    return output_problem(Path(value), flag, writing=writing)


def _unusable_path(flag: str, value: str | Path, kind: str) -> Problem | None:
    """What every path flag rejects first: an empty value, then non-UTF-8 bytes."""
    if str(value).strip() == "":
        return Problem(flag, "an empty path was given", f"give {flag} a {kind} path")
    return not_utf8(flag, value)


def not_utf8(flag: str, value: object) -> Problem | None:
    """A value that came from non-UTF-8 bytes on the command line (lone surrogates)."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return Problem(
            flag, f"{shown!r} is not valid UTF-8", f"give {flag} a value in UTF-8 (e.g. ASCII)"
        )
    return None


def input_file(flag: str, value: str | Path | None) -> Problem | None:
    """A file path to read: exists, is a file, is readable (None: default)."""
    if value is None:
        return None
    if bad := _unusable_path(flag, value, "file"):
        return bad
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


DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def dns_label(flag: str, value: str | None) -> Problem | None:
    """A Kubernetes DNS-1123 label (namespace, object name): ``None`` means the default."""
    if value is None:
        return None
    text = str(value)
    if DNS_LABEL_RE.match(text) and len(text) <= 63:
        return None
    return Problem(
        flag,
        f"{text!r} is not a DNS-1123 label: use lowercase letters, digits and '-', starting "
        "with a letter and ending with a letter or digit, at most 63 characters",
        f"for example {flag} stack",
    )


def output_dir(flag: str, value: str | Path | None, *, writing: bool = True) -> Problem | None:
    """A directory to write into: itself a directory or absent, its parent an existing dir."""
    if value is None:
        return None
    if bad := _unusable_path(flag, value, "directory"):
        return bad
    path = Path(value)
    if path.exists() and not path.is_dir():
        return Problem(flag, f"{path} exists and is not a directory", f"give {flag} a directory")
    if not path.exists() and not path.parent.is_dir():
        return Problem(
            flag,
            f"the parent directory {path.parent} does not exist (nothing is created for a typo)",
            f"create it first (`mkdir -p {path.parent}`) or fix {flag}",
        )
    return None
