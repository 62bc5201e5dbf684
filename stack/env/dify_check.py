"""``invoke env.check --path ENV --example EXAMPLE``: a platform ``.env`` against its example.

The example is read with Dify's rules (:mod:`stack.env.dify_example`) and checked with the
same checks as the stack's own files (:func:`stack.env.userenv.check_env`): unparsable
lines, duplicate keys, unknown keys close to a known one ("did you mean", from the
example's keys), secrets the stack knows must agree.  ``production`` adds every secret
that is empty or still the example's shipped value; a placeholder (``your-secret-key``)
still in place is a warning, since it matters only to users of that service.
"""

from __future__ import annotations

from pathlib import Path

from stack.env.dify_example import is_placeholder, read_example
from stack.env.userenv import CheckResult, read_user_env
from stack.env.userenv import check_file as check_user_file
from stack.errors import Problem, StackError


def check_file(
    path: Path,
    example: Path,
    *,
    production: bool = False,
    shown: str | None = None,
    example_shown: str | None = None,
) -> CheckResult:
    """Every problem of ``path`` against ``example`` at once (file:line, what, fix)."""
    where = shown or str(path)
    ex = read_example(example, example_shown)
    result = check_user_file(
        path, ex.definitions(placeholders_secret=False), production=production, shown=where
    )
    if not production:
        return result
    try:
        env = read_user_env(path, where)
    except StackError:
        return result  # already reported by the check above
    values = env.values()
    still = [
        v.name
        for v in ex.variables
        if v.secret is not None
        and is_placeholder(v.value)
        and values.get(v.name, v.value) == v.value
    ]
    if not still:
        return result
    warning = Problem(
        where,
        f"{len(still)} credential(s) still hold the example's placeholder value: "
        + ", ".join(still),
        "put the real credential there for each service you use (ignore the others)",
        severity="warning",
    )
    return CheckResult(result.shown, [*result.problems, warning], result.checked)
