"""Dev middleware tasks: up, status, logs, down, reset.

Every flag is checked before any work starts (stack.dev.options.check_flags).  A command
with nothing to act on fails: ``dev.logs``, ``dev.down`` and ``dev.reset`` of a project the
engine holds nothing of (no container, network, data volume nor state directory) name
the projects that do exist and exit 1.  ``dev.down`` of a stopped project (data volumes
only) is fine: it says so.
"""

from __future__ import annotations

import json as _json
import sys

from invoke import Collection, task
from invoke.exceptions import Exit

from stack.tasks._common import failures

PROJECT_HELP = (
    "Compose project name of the dev middleware (default stack-dev; lowercase letters, "
    "digits, '_' and '-')."
)


def _options(project, vector_store=None, db=None, timeout=None, out=print):
    from stack.dev.options import DEFAULT_PROJECT, DEFAULT_TIMEOUT, DevOptions

    return DevOptions(
        project=project or DEFAULT_PROJECT,
        vector_store=vector_store,
        db=db,
        timeout=DEFAULT_TIMEOUT if timeout is None else float(timeout),
        out=out,
    )


def _show(rows, as_json: bool) -> None:
    from stack.dev.status import table

    print(_json.dumps([r.as_dict() for r in rows], indent=2) if as_json else table(rows))


def _err(line: str) -> None:
    print(line, file=sys.stderr)


@task(
    help={
        "vector_store": "VECTOR_STORE to run (overrides the environment and .env).",
        "db": "DB_TYPE to run: postgresql or mysql.",
        "timeout": "Seconds to wait for every service to be ready (1 to 3600, default 180).",
        "json": "Print the endpoint table as JSON (progress goes to stderr).",
        "project": PROJECT_HELP,
    }
)
def up(c, vector_store=None, db=None, timeout=None, json=False, project=None):
    """Start the dev middleware (database, redis, vector store, ssrf_proxy, ...) and wait.

    Services are derived from the production template and the settings
    (flags > environment > .env > definitions). Nothing starts unless every image
    is present, every host port is free and every data volume fits its image.
    Returns when each service is healthy and a real login succeeded.
    """
    from stack.dev import lifecycle
    from stack.dev.options import check_flags

    with failures():
        check_flags(project=project, vector_store=vector_store, db=db, timeout=timeout)
        opts = _options(project, vector_store, db, timeout, _err if json else print)
        _show(lifecycle.up(opts), json)


@task(
    help={
        "vector_store": "VECTOR_STORE whose selection to show (default: from settings).",
        "db": "DB_TYPE whose selection to show: postgresql or mysql.",
        "json": "Print JSON instead of a table.",
        "project": PROJECT_HELP,
    }
)
def status(c, vector_store=None, db=None, json=False, project=None):
    """Show every selected service (running or not), skipped and stale ones, with URLs."""
    from stack.dev import lifecycle
    from stack.dev.options import check_flags

    with failures():
        check_flags(project=project, vector_store=vector_store, db=db)
        _show(lifecycle.status(_options(project, vector_store, db)), json)


@task(
    help={
        "service": "Only this service (default: all selected services).",
        "follow": "Keep following the log.",
        "project": PROJECT_HELP,
    }
)
def logs(c, service=None, follow=False, project=None):
    """Show the logs of the dev middleware (fails when it has no containers)."""
    from stack.dev import lifecycle
    from stack.dev.options import check_flags

    with failures():
        check_flags(project=project, service=service)
        code = lifecycle.logs(_options(project), service, follow)
    if code:
        raise Exit(code=code)


@task(help={"project": PROJECT_HELP})
def down(c, project=None):
    """Stop and remove the dev containers and networks; the data volumes are kept."""
    from stack.dev import lifecycle
    from stack.dev.options import check_flags

    with failures():
        check_flags(project=project)
        opts = _options(project)
        lifecycle.require_existing(opts, "dev.down")
        found = lifecycle.down(opts)
    if found.containers:
        print(f"dev middleware {opts.project} stopped (data kept; `invoke dev.reset` removes it)")
    else:
        print(f"dev middleware {opts.project} was not running (data kept); state removed")


@task(help={"yes": "Do not ask for confirmation.", "project": PROJECT_HELP})
def reset(c, yes=False, project=None):
    """Stop the dev middleware and DELETE its data volumes (asks first unless --yes)."""
    from stack.dev import lifecycle
    from stack.dev.options import check_flags

    with failures():
        check_flags(project=project)
        opts = _options(project)
        lifecycle.require_existing(opts, "dev.reset")
    if not yes:
        if not sys.stdin.isatty():
            raise Exit(
                f"dev.reset deletes the data of {opts.project}; re-run with --yes to confirm", 2
            )
        answer = input(f"Delete all data volumes of {opts.project}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise Exit("aborted; nothing was deleted", 1)
    with failures():
        removed = lifecycle.reset(opts)
    print(f"removed {len(removed)} data volume(s): {', '.join(removed) or '-'}")


ns = Collection("dev")
for t in (up, status, logs, down, reset):
    ns.add_task(t)
