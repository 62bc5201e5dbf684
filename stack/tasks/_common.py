"""Shared plumbing for task modules: error conversion and problem printing."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from invoke.exceptions import Exit

if TYPE_CHECKING:
    from stack.errors import Problem


@contextmanager
def failures() -> Iterator[None]:
    """Turn any :class:`StackError` into ``Exit(message, code)`` (no traceback)."""
    from stack.errors import StackError

    try:
        yield
    except StackError as exc:
        raise Exit(f"error: {exc}", exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", 130) from None


def report(problems: Iterable[Problem]) -> None:
    """Print warnings (and errors) to stderr, one per entry."""
    for problem in problems:
        print(problem, file=sys.stderr)
