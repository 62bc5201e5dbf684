"""Backend tasks: run.api, run.worker, run.beat, run.migrate and run.all (the MODE table).

The environment is layered, later wins: the definitions' defaults < the dev middleware's
published endpoints (from the same plan as `dev.up`) < `.env` (or --env-file) < the
process environment.  A value that still names a middleware service by its container
name is pointed at 127.0.0.1 and its EXPOSE_* port.  See stack/run/environment.py.
"""

from __future__ import annotations

import sys

from invoke import Collection, task
from invoke.exceptions import Exit

from stack.tasks._common import failures

HELP = {
    "project": "Compose project of the dev middleware to run against (default stack-dev).",
    "app_dir": "Backend checkout to run (holds app.py; default: the bundled stack/app).",
    "python": "Python to run it with (default: DIR/.venv/bin/python, else this one).",
    "env_file": "Use this env file instead of .env (layer 3).",
    "explain": "Print each effective value and where it came from (secrets masked).",
    "dry_run": "Print the command line(s) and exit.",
    "no_check": "Do not check that the middleware the mode needs is up.",
    "reload": "Restart on Python changes (the api's own reloader; watchfiles for Celery).",
}
MIGRATE_HELP = {k: v for k, v in HELP.items() if k != "reload"}


def _prepare(names, project, app_dir, python, env_file, no_check, reload_):
    from stack.run import runner

    opts = runner.RunOptions(
        project=runner.DEFAULT_PROJECT if project is None else project,
        app_dir=app_dir,
        python=python,
        env_file=env_file,
        check=not no_check,
        reload=bool(reload_),
    )
    runner.validate(opts)
    return opts, runner.prepare(opts, names)


def _show(plan, explain: bool, dry_run: bool) -> bool:
    """Print what --explain / --dry-run ask for; True when the task should stop here."""
    from stack.run.runner import display

    if explain:
        names = list(plan.env.passed)
        print(plan.env.explain(names))
    if dry_run:
        for cmd in plan.commands.values():
            for line in display(cmd):
                print(line)
    return dry_run


def _one(name, project, app_dir, python, env_file, explain, dry_run, no_check, reload_=False):
    from stack.run import runner

    with failures():
        opts, plan = _prepare([name], project, app_dir, python, env_file, no_check, reload_)
        if _show(plan, explain, dry_run):
            return
        if opts.check:
            runner.check_middleware(plan, opts)
        runner.exec_one(plan, opts, name)


@task(help=HELP)
def api(
    c, project=None, app_dir=None, python=None, env_file=None,
    explain=False, dry_run=False, no_check=False, reload=False,
):  # fmt: skip
    """Run the api (gunicorn; Flask's dev server with DEBUG=true), migrating first when
    MIGRATION_ENABLED=true."""
    _one("api", project, app_dir, python, env_file, explain, dry_run, no_check, reload)


@task(help=HELP)
def worker(
    c, project=None, app_dir=None, python=None, env_file=None,
    explain=False, dry_run=False, no_check=False, reload=False,
):  # fmt: skip
    """Run the Celery worker on exactly CELERY_QUEUES (pool CELERY_WORKER_CLASS)."""
    _one("worker", project, app_dir, python, env_file, explain, dry_run, no_check, reload)


@task(help=HELP)
def beat(
    c, project=None, app_dir=None, python=None, env_file=None,
    explain=False, dry_run=False, no_check=False, reload=False,
):  # fmt: skip
    """Run Celery beat (its schedule file lives under .stack/run/<project>/)."""
    _one("beat", project, app_dir, python, env_file, explain, dry_run, no_check, reload)


@task(help=MIGRATE_HELP)
def migrate(
    c, project=None, app_dir=None, python=None, env_file=None,
    explain=False, dry_run=False, no_check=False,
):  # fmt: skip
    """Upgrade the database schema to head (MODE=migration), then exit."""
    _one("migration", project, app_dir, python, env_file, explain, dry_run, no_check)


@task(name="all", help=HELP)
def all_(
    c, project=None, app_dir=None, python=None, env_file=None,
    explain=False, dry_run=False, no_check=False, reload=False,
):  # fmt: skip
    """Run api, worker and beat together (prefixed, coloured lines; Ctrl-C stops all).

    When one exits on its own the others are stopped and the status is non-zero.
    """
    from stack.run import runner

    with failures():
        opts, plan = _prepare(
            list(runner.ALL), project, app_dir, python, env_file, no_check, reload
        )
        if _show(plan, explain, dry_run):
            return
        if opts.check:
            runner.check_middleware(plan, opts)
        code = runner.run_all(plan, opts, out=lambda line: print(line, file=sys.stderr))
    if code:
        raise Exit(code=code)


ns = Collection("run")
for t in (api, worker, beat, migrate, all_):
    ns.add_task(t)
