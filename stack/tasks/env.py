"""Env tasks: write, check, upgrade and document a user's ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Collection, task
from invoke.exceptions import Exit

from stack.tasks._common import failures, report

if TYPE_CHECKING:
    from stack.env.dify_sync import DifySyncResult
    from stack.env.sync import SyncResult


def _root() -> Path:
    from stack import paths

    return paths.ROOT


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(_root()))
    except ValueError:
        return str(path)


def _env_path(value: str | None) -> Path:
    return Path(value) if value else _root() / ".env"


@task(
    help={
        "output": "Where to write (default: .env at the repository root).",
        "force": "Replace an existing file; the old one is kept as <name>.bak[.N].",
    }
)
def init(c, output=None, force=False):
    """Write a new .env from env/definitions.env with freshly generated secrets (mode 600).

    Every secret with a shipped default or marked required gets a new random value
    (URLs embedding a password, such as CELERY_BROKER_URL, get the new password).
    The shipped defaults are recorded in <name>.stack-defaults for `env.sync`.
    """
    from stack import argcheck as a
    from stack.env.parse import load_definitions
    from stack.env.sync import init as do_init

    path = _env_path(output)
    shown = _shown(path)
    with failures():
        a.raise_all(a.output_path("--output", output))
        result = do_init(load_definitions(), path, force=force, shown=shown)
    if result.backup:
        print(f"kept the previous file as {_shown(result.backup)}")
    print(f"{shown} written (mode 600): {len(result.generated)} secret(s) generated")
    if result.left_empty:
        print(
            "left empty for you to fill in when you use them (external credentials): "
            + ", ".join(result.left_empty)
        )


def _existing_env(path: str | None) -> None:
    """``--path`` (when given) must be a readable file; a missing one can be made by env.init."""
    import dataclasses

    from stack import argcheck as a

    problem = a.input_file("--path", path)
    if problem is not None and "does not exist" in problem.what:
        problem = dataclasses.replace(
            problem, fix=f"create it with `invoke env.init --output {path}`, or fix the path"
        )
    a.raise_all(problem)


def _example_flags(path: str | None, example: str | None, base: str | None = None) -> None:
    """Validate the flags of the Dify-format mode (``--example``) before any work."""
    from stack import argcheck as a
    from stack.errors import Problem

    a.raise_all(
        None
        if path is not None
        else Problem(
            "--path", "is required with --example", "give --path the .env file to work on"
        ),
        None
        if example is not None
        else Problem("--base", "needs --example", "add --example NEW_RELEASE/.env.example"),
        a.input_file("--path", path),
        a.input_file("--example", example),
        a.input_file("--base", base),
    )


@task(
    help={
        "path": "The env file to check (default: .env at the repository root).",
        "example": "Check against this Dify-format .env.example instead of env/definitions.env "
        "(a platform checkout's own file; needs --path).",
        "production": "Also reject every secret that is empty or still a shipped default "
        "(including default passwords inside URLs such as CELERY_BROKER_URL).",
    }
)
def check(c, path=None, example=None, production=False):
    """Check a .env against the definitions; every problem at once, with file:line.

    Errors: unparsable lines, duplicate keys, unknown keys close to a known one
    ("did you mean"), invalid typed values (ports, booleans, integers, enums such as
    VECTOR_STORE and DB_TYPE), required-but-empty, secrets that must agree but differ.
    Warnings (exit 0): other unknown keys, `$` that compose would expand, keys
    without `=`.  Exit status 1 when there is any error.  With --example, the keys,
    secrets and shipped values come from that .env.example (Dify's rules; no types).
    """
    from stack.env.parse import load_definitions
    from stack.env.userenv import CheckResult, check_file

    target = _env_path(path)
    result: CheckResult
    with failures():
        if example is None:
            _existing_env(path)  # with --example, _example_flags checks every path at once
            result = check_file(
                target, load_definitions(), production=production, shown=_shown(target)
            )
        else:
            from stack.env import dify_check

            _example_flags(path, example)
            result = dify_check.check_file(
                target,
                Path(example),
                production=production,
                shown=_shown(target),
                example_shown=_shown(Path(example)),
            )
    report(result.problems)
    print(result.summary())
    if not result.ok:
        raise Exit("env check failed", 1)


@task(
    help={
        "path": "The env file to update (default: .env at the repository root).",
        "example": "Merge with this Dify-format .env.example (the release to upgrade to) "
        "instead of env/definitions.env; needs --path.",
        "base": "With --example: the .env.example PATH was made from (the old release). "
        "Default: the defaults recorded beside PATH by the last sync.",
        "dry_run": "Print the unified diff and the report; write nothing.",
    }
)
def sync(c, path=None, example=None, base=None, dry_run=False):
    """Bring an existing .env up to date after the definitions changed (an upgrade).

    Adds new variables with their defaults after the last variable of their
    section (new secrets get fresh values); keeps every existing line byte for
    byte; comments out (never deletes) variables that are no longer defined; a
    non-secret value equal to its old default follows a changed default; reports
    every change.  Atomic write with a backup.

    With --example (a platform checkout): a three-way merge of PATH, the old
    defaults (--base, else the recorded ones) and the new .env.example; new
    variables go after their predecessor in the example, with its comments.
    """
    from stack.env.sync import sidecar_path

    target = _env_path(path)
    shown = _shown(target)
    result: SyncResult | DifySyncResult
    with failures():
        if example is None and base is None:
            _existing_env(path)  # otherwise _example_flags checks every path at once
            from stack.env.parse import load_definitions
            from stack.env.sync import sync as do_sync

            result = do_sync(load_definitions(), target, dry_run=dry_run, shown=shown)
        else:
            from stack import argcheck as a
            from stack.env import dify_sync

            _example_flags(path, example, base)
            if not dry_run:
                a.raise_all(a.output_path("--path", path))
            merged = dify_sync.sync(
                target,
                Path(example),
                base=Path(base) if base else None,
                dry_run=dry_run,
                shown=shown,
                example_shown=_shown(Path(example)),
                base_shown=_shown(Path(base)) if base else None,
            )
            report(merged.warnings)
            result = merged
    for line in result.plan.report():
        print(line)
    if dry_run:
        if result.diff:
            print(result.diff, end="")
        print(f"{shown}: dry run, nothing written" + ("" if result.diff else " (up to date)"))
        return
    if result.backup:
        print(f"kept the previous file as {_shown(result.backup)}")
    print(f"{shown} " + ("updated" if result.written else "already up to date"))
    if result.record_written:
        print(f"recorded the current defaults in {_shown(sidecar_path(target))}")


@task(
    help={
        "check": "Write nothing; exit 1 with a unified diff when the file on disk is stale.",
        "output": "Where to write (default docs/ENV.md).",
    }
)
def doc(c, check=False, output=None):
    """Generate the Markdown reference of every env variable (docs/ENV.md).

    Same protocol as release.compose: a header naming this command with a digest of
    the body; a hand-edited file is saved as <name>.bak before it is replaced.
    """
    import shlex

    from stack import argcheck as a
    from stack import generated
    from stack.env import doc as envdoc
    from stack.env.parse import load_definitions

    default = _root() / "docs" / "ENV.md"
    target = Path(output) if output else default
    shown = _shown(target)
    command = envdoc.COMMAND
    if output and target.resolve() != default.resolve():
        command += f" --output {shlex.quote(shown)}"
    with failures():
        a.raise_all(a.output_path("--output", output, writing=not check))
        defs = load_definitions()
        sources = [_relative(f) for f in defs.files] or ["env/"]
        text = envdoc.render(defs, command=command, sources=sources)
        file = generated.Target(target, text, shown, command)
        if check:
            result = generated.check(file)
            if not result.up_to_date:
                print(result.diff, end="")
                raise Exit(f"{result.problem}; run `{command}` and commit the result", 1)
            print(f"{shown} is up to date")
            return
        written = generated.write(file)
    if written.backup:
        print(f"warning: {written.reason}; saved it as {_shown(written.backup)}")
    print(f"{shown} " + ("written" if written.changed else "unchanged"))


ns = Collection("env")
ns.add_task(init)
ns.add_task(check)
ns.add_task(sync)
ns.add_task(doc)
