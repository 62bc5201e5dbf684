"""``invoke run.*``: the MODE table's command lines, on the host, against the dev middleware.

:func:`validate` checks the flags before any work; :func:`prepare` layers the
environment (:mod:`stack.run.environment`) over the dev plan and builds each mode's
command from :mod:`stack.run.modes`; :func:`check_middleware` fails fast when a
service a mode needs is down; :func:`exec_one` and :func:`stack.run.supervise.run_all`
start the processes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack import paths
from stack.errors import Problem, ProblemsError, RunError
from stack.run import modes as m
from stack.run.environment import Environment
from stack.run.middleware import DevView

DEFAULT_PROJECT = "stack-dev"
STATE_DIR_VAR = "STACK_STATE_DIR"  # the dev tasks' state root (one directory per project)
ALL = ("api", "worker", "beat")


@dataclass
class RunOptions:
    """What a ``run.*`` task acts on; flags map one to one."""

    project: str = DEFAULT_PROJECT
    app_dir: Path | str | None = None
    python: str | None = None
    env_file: Path | str | None = None
    check: bool = True
    reload: bool = False
    environ: Mapping[str, str] | None = None
    out: Callable[[str], None] = print

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    @property
    def app(self) -> Path:
        return Path(self.app_dir or m.DEFAULT_APP_DIR).resolve()

    @property
    def dotenv(self) -> Path:
        return Path(self.env_file) if self.env_file is not None else paths.ROOT / ".env"

    @property
    def state_dir(self) -> Path:
        """Local state (beat's schedule); never inside the app or the package."""
        if self.env.get(STATE_DIR_VAR):
            return Path(self.env[STATE_DIR_VAR]) / self.project / "run"
        return paths.ROOT / ".stack" / "run" / self.project


def python_for(app_dir: Path | str | None, python: str | None) -> str:
    """``--python``, else ``DIR/.venv/bin/python`` of ``--app-dir``, else this interpreter."""
    if python:
        return python
    if app_dir is not None:
        venv = Path(app_dir) / ".venv" / "bin" / "python"
        if venv.exists():
            return str(venv)
    return sys.executable


def validate(opts: RunOptions) -> None:
    """Every bad flag at once, before any work: project, app dir, python, env file."""
    from stack import argcheck as a

    problems: list[Problem | None] = [
        a.project_name("--project", opts.project),
        a.input_file("--env-file", opts.env_file),
    ]
    if opts.app_dir is not None:
        problems.append(app_dir_problem(str(opts.app_dir), opts.python))
    if opts.python is not None:
        exe = Path(opts.python)
        if opts.python.strip() == "":
            problems.append(Problem("--python", "an empty path was given", "give a Python binary"))
        elif not (exe.is_file() and os.access(exe, os.X_OK)):
            problems.append(
                Problem("--python", f"{exe} is not an executable file", "give a Python binary")
            )
    a.raise_all(*problems)


def app_dir_problem(raw: str, python: str | None) -> Problem | None:
    """``--app-dir``: a directory holding app.py, with a Python (its .venv or --python)."""
    if raw.strip() == "":
        return Problem("--app-dir", "an empty path was given", "give a backend checkout")
    app = Path(raw)
    if not app.is_dir():
        return Problem("--app-dir", f"{app} is not a directory", "give a backend checkout")
    if not (app / "app.py").is_file():
        return Problem(
            "--app-dir",
            f"{app} has no app.py (the WSGI `app` and the Celery `celery` live there)",
            "point --app-dir at the backend directory (the one holding app.py)",
        )
    if python is None and not (app / ".venv" / "bin" / "python").exists():
        return Problem(
            "--python",
            f"{app} has no .venv/bin/python and no --python was given",
            f"create {app}/.venv, or pass --python /path/to/python",
        )
    return None


@dataclass
class RunPlan:
    """The effective environment and the command of each requested mode."""

    env: Environment
    commands: dict[str, m.Command]
    dev: DevView | None = None
    needs: dict[str, list[str]] = field(default_factory=dict)  # mode -> service names


def commands(
    effective: Mapping[str, str],
    names: Sequence[str],
    *,
    app_dir: Path,
    state_dir: Path,
    python: str,
    reload: bool = False,
) -> dict[str, m.Command]:
    """The command of each mode (every problem of every mode at once)."""
    out: dict[str, m.Command] = {}
    problems: list[Problem] = []
    for name in names:
        try:
            out[name] = m.command(
                name, effective, app_dir=app_dir, state_dir=state_dir, python=python, reload=reload
            )
        except ProblemsError as exc:
            problems += exc.problems
    if problems:
        raise ProblemsError(f"cannot run {', '.join(names)}", problems)
    return out


def prepare(opts: RunOptions, names: Sequence[str]) -> RunPlan:
    """Layer the environment over the dev plan and build each mode's command."""
    from stack.dev.prepare import definitions
    from stack.run import middleware
    from stack.run.environment import layer, read_dotenv

    for name in names:
        m.mode(name)
    defs = definitions()
    dev = middleware.view(opts.project, environ=opts.env, dotenv=opts.dotenv, defs=defs)
    env = layer(
        defs,
        endpoints=dev.endpoints(),
        dotenv=read_dotenv(opts.dotenv),
        dotenv_name=str(opts.env_file) if opts.env_file else ".env",
        environ=opts.env,
    )
    cmds = commands(
        env.flat(),
        names,
        app_dir=opts.app,
        state_dir=opts.state_dir,
        python=python_for(opts.app_dir, opts.python),
        reload=opts.reload,
    )
    needs = {n: [s.name for s in middleware.needed(dev, m.mode(n).needs)] for n in names}
    return RunPlan(env, cmds, dev, needs)


def check_middleware(plan: RunPlan, opts: RunOptions) -> None:
    """Fail fast (within 2 s), naming each service that is down and `invoke dev.up`."""
    from stack.run.middleware import check_up

    if plan.dev is None:
        return
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in plan.commands:
        wanted = [s for s in plan.dev.plan.services if s.name in plan.needs.get(name, [])]
        for problem in check_up([s for s in wanted if s.name not in seen], opts.project, name):
            problems.append(problem)
        seen.update(s.name for s in wanted)
    if problems:
        raise ProblemsError("the dev middleware is not up (nothing was started)", problems)


def display(cmd: m.Command) -> list[str]:
    """The command lines of ``cmd`` (its first step included), as a shell would show them."""
    lines = [f"(cd {shlex.quote(str(cmd.cwd))} && {shlex.join(f.argv)})" for f in cmd.first]
    lines.append(f"(cd {shlex.quote(str(cmd.cwd))} && {shlex.join(watched(cmd))})")
    return lines


def watched(cmd: m.Command) -> list[str]:
    """argv of ``cmd``, under watchfiles when it must restart on Python changes."""
    if not cmd.external_reload:
        return list(cmd.argv)
    # watchfiles' CLI restarts the command (split with shlex, no shell) on *.py changes;
    # Celery has no reloader of its own.
    return [
        sys.executable, "-m", "watchfiles", "--filter", "python",
        "--target-type", "command", shlex.join(cmd.argv), str(cmd.cwd),
    ]  # fmt: skip


def make_state_dir(opts: RunOptions) -> Path:
    """The local state directory, private (0700): the backend keeps uploaded files there."""
    from stack.fsutil import private_dir

    return private_dir(opts.state_dir)


def run_first(cmd: m.Command, env: Mapping[str, str], out: Callable[[str], None]) -> None:
    """Run the steps that must finish before ``cmd`` (migrations for api)."""
    for step in cmd.first:
        out(f"run: {step.mode}: {shlex.join(step.argv)}")
        code = subprocess.call(list(step.argv), cwd=step.cwd, env={**env, "MODE": step.mode})
        if code != 0:
            raise RunError(
                f"MODE={step.mode} failed (exit code {code}); {cmd.mode} was not started",
                hint="see its output above",
            )


def exec_one(
    plan: RunPlan,
    opts: RunOptions,
    name: str,
    execvpe: Callable[[str, list[str], dict[str, str]], object] = os.execvpe,
) -> None:
    """Run the first steps, then replace this process by the mode's program."""
    cmd = plan.commands[name]
    env = plan.env.child_env(opts.env, name, opts.state_dir)
    make_state_dir(opts)
    run_first(cmd, env, opts.out)
    argv = watched(cmd)
    opts.out(f"run: {name}: {shlex.join(argv)}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(cmd.cwd)
    execvpe(argv[0], argv, env)


def run_all(plan: RunPlan, opts: RunOptions, out: Callable[[str], None] = print) -> int:
    """The first steps (migrations, once), then every mode of ``plan`` supervised together."""
    from stack.run.supervise import Proc
    from stack.run.supervise import run_all as supervise

    make_state_dir(opts)
    procs = []
    for name, cmd in plan.commands.items():
        env = plan.env.child_env(opts.env, name, opts.state_dir)
        run_first(cmd, env, opts.out)
        procs.append(Proc(name, watched(cmd), cmd.cwd, env))
    return supervise(procs, out=out)
