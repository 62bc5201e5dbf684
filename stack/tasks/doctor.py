"""`invoke doctor`: can this machine run the stack, and what to do where it cannot."""

from __future__ import annotations

from invoke import task
from invoke.exceptions import Exit

from stack.tasks._common import failures


@task
def doctor(c):
    """Check engine, compose, registry, local images, host ports and disk; one line each."""
    from stack.dev import doctor as d

    with failures():
        checks = d.run()
    for check in checks:
        print(check.line())
    if any(ch.ok is False for ch in checks):
        raise Exit("doctor found problems (see FAIL lines)", 1)
