"""Env tasks: write, check, upgrade and document a user's ``.env``."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit

from stack.tasks._common import failures, report


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
    from stack.env.parse import load_definitions
    from stack.env.sync import init as do_init

    path = _env_path(output)
    shown = _shown(path)
    with failures():
        result = do_init(load_definitions(), path, force=force, shown=shown)
    if result.backup:
        print(f"kept the previous file as {_shown(result.backup)}")
    print(f"{shown} written (mode 600): {len(result.generated)} secret(s) generated")
    if result.left_empty:
        print(
            "left empty for you to fill in when you use them (external credentials): "
            + ", ".join(result.left_empty)
        )


@task(
    help={
        "path": "The env file to check (default: .env at the repository root).",
        "production": "Also reject every secret that is empty or still a shipped default "
        "(including default passwords inside URLs such as CELERY_BROKER_URL).",
    }
)
def check(c, path=None, production=False):
    """Check a .env against the definitions; every problem at once, with file:line.

    Errors: unparsable lines, duplicate keys, unknown keys close to a known one
    ("did you mean"), invalid typed values (ports, booleans, integers, enums such as
    VECTOR_STORE and DB_TYPE), required-but-empty, secrets that must agree but differ.
    Warnings (exit 0): other unknown keys, `$` that compose would expand, keys
    without `=`.  Exit status 1 when there is any error.
    """
    from stack.env.parse import load_definitions
    from stack.env.userenv import check_file

    target = _env_path(path)
    with failures():
        defs = load_definitions()
    result = check_file(target, defs, production=production, shown=_shown(target))
    report(result.problems)
    print(result.summary())
    if not result.ok:
        raise Exit("env check failed", 1)


@task(
    help={
        "path": "The env file to update (default: .env at the repository root).",
        "dry_run": "Print the unified diff and the report; write nothing.",
    }
)
def sync(c, path=None, dry_run=False):
    """Bring an existing .env up to date after the definitions changed (an upgrade).

    Adds new variables with their defaults after the last variable of their
    section (new secrets get fresh values); keeps every existing line byte for
    byte; comments out (never deletes) variables that are no longer defined; a
    non-secret value equal to its old default follows a changed default; reports
    every change.  Atomic write with a backup.
    """
    from stack.env.parse import load_definitions
    from stack.env.sync import sidecar_path
    from stack.env.sync import sync as do_sync

    target = _env_path(path)
    shown = _shown(target)
    with failures():
        result = do_sync(load_definitions(), target, dry_run=dry_run, shown=shown)
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
    """Generate the Markdown reference of every env variable (docs/ENV.md)."""
    import shlex

    from stack.env import doc as envdoc
    from stack.env.parse import load_definitions
    from stack.fsutil import unified_diff, write_atomic

    default = _root() / "docs" / "ENV.md"
    target = Path(output) if output else default
    shown = _shown(target)
    command = envdoc.COMMAND
    if output and target.resolve() != default.resolve():
        command += f" --output {shlex.quote(shown)}"
    with failures():
        defs = load_definitions()
        sources = [_relative(f) for f in defs.files] or ["env/"]
        text = envdoc.render(defs, command=command, sources=sources)
    try:
        current: str | None = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    except (OSError, UnicodeDecodeError):
        current = "<unreadable>\n"
    if check:
        if current != text:
            print(
                unified_diff(current or "", text, f"{shown} (on disk)", f"{shown} (fresh)"), end=""
            )
            raise Exit(f"{shown} is stale or was edited by hand; run `{command}` and commit it", 1)
        print(f"{shown} is up to date")
        return
    if current == text:
        print(f"{shown} unchanged")
        return
    write_atomic(target, text)
    print(f"{shown} written")


ns = Collection("env")
ns.add_task(init)
ns.add_task(check)
ns.add_task(sync)
ns.add_task(doc)
