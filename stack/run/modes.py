"""The MODE table: one definition of how the backend runs as api, worker, beat or migration.

Data in one place, read by both faces: the container entrypoint
(:mod:`stack.run.entrypoint`, ``MODE=worker``) and the local runner (``invoke run.*``).
:func:`command` turns a mode plus an environment into the argv to run; a unit test
proves both faces get the very same argv for the same environment.

Tokens of a command line are ``str.format`` templates over the environment (the
definitions' variables) plus ``{app_dir}`` and ``{state_dir}``; :class:`Switch` picks
tokens by a boolean variable and :class:`IfFile` adds tokens when a file exists in the
app directory.  Programs run as ``<python> -m <module>`` so that the interpreter of the
app checkout (its ``.venv``) is the one that runs them, in the container and on the host.

``needs`` names the middleware *roles* a mode needs; :mod:`stack.run.middleware`
resolves them against the dev plan (``DB_TYPE`` / ``VECTOR_STORE``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stack.errors import Problem, ProblemsError, RunError

#: The reference backend (``app.py`` with the WSGI ``app`` and the Celery ``celery``).
DEFAULT_APP_DIR = Path(__file__).resolve().parent.parent / "app"

#: Middleware roles (resolved against the dev plan by :mod:`stack.run.middleware`).
ROLES = ("database", "redis", "vector_store")

TRUE = "true"


@dataclass(frozen=True)
class Switch:
    """``then`` when the boolean variable ``var`` is true, else ``otherwise``."""

    var: str
    then: tuple[Token, ...]
    otherwise: tuple[Token, ...] = ()


@dataclass(frozen=True)
class IfFile:
    """``tokens`` when ``name`` exists in the app directory."""

    name: str
    tokens: tuple[Token, ...]


Token = str | Switch | IfFile


@dataclass(frozen=True)
class Bounds:
    """When ``when`` is true, ``low`` and ``high`` must be whole numbers, low <= high."""

    when: str
    low: str
    high: str


@dataclass(frozen=True)
class Mode:
    """One row of the table."""

    name: str
    summary: str
    module: str  # run as `<python> -m <module>`
    args: tuple[Token, ...]
    needs: tuple[str, ...]  # middleware roles
    debug_module: str | None = None  # replaces module/args when DEBUG=true
    debug_args: tuple[Token, ...] = ()
    first: str | None = None  # a mode run to completion first ...
    first_when: str | None = None  # ... when this boolean variable is true
    reload_args: tuple[Token, ...] | None = None  # the program's own reloader; None: watchfiles
    bounds: tuple[Bounds, ...] = ()

    def variables(self) -> list[str]:
        """Every environment variable the mode's command lines read, in order."""
        names: list[str] = []
        tokens = (*self.args, *self.debug_args, *(self.reload_args or ()))
        for extra in (self.first_when, *(b for x in self.bounds for b in (x.when, x.low, x.high))):
            if extra:
                names.append(extra)
        if self.debug_module:
            names.append("DEBUG")
        for tok in _flatten(tokens):
            if isinstance(tok, Switch):
                names.append(tok.var)
            elif isinstance(tok, str):
                names += [f for _, f, _, _ in string.Formatter().parse(tok) if f]
        return [n for n in dict.fromkeys(names) if n not in ("app_dir", "state_dir")]


def _flatten(tokens: Sequence[Token]) -> list[Token]:
    out: list[Token] = []
    for tok in tokens:
        out.append(tok)
        if isinstance(tok, Switch):
            out += _flatten(tok.then) + _flatten(tok.otherwise)
        elif isinstance(tok, IfFile):
            out += _flatten(tok.tokens)
    return out


# fmt: off
MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode(
            name="api",
            summary="gunicorn serving the WSGI app (Flask's dev server with DEBUG=true)",
            module="gunicorn",
            args=(
                IfFile("gunicorn_conf.py", ("-c", "{app_dir}/gunicorn_conf.py")),
                "--bind", "{DIFY_BIND_ADDRESS}:{DIFY_PORT}",
                "--workers", "{SERVER_WORKER_AMOUNT}",
                "--worker-class", "{SERVER_WORKER_CLASS}",
                "--worker-connections", "{SERVER_WORKER_CONNECTIONS}",
                "--timeout", "{GUNICORN_TIMEOUT}",
                "app:app",
            ),
            needs=("database", "redis", "vector_store"),
            debug_module="flask",
            debug_args=("run", "--host", "{DIFY_BIND_ADDRESS}", "--port", "{DIFY_PORT}", "--debug"),
            first="migration",
            first_when="MIGRATION_ENABLED",
            reload_args=("--reload",),
        ),
        Mode(
            name="worker",
            summary="Celery worker consuming exactly CELERY_QUEUES",
            module="celery",
            args=(
                "-A", "app.celery", "worker",
                "-Q", "{CELERY_QUEUES}",
                "-P", "{CELERY_WORKER_CLASS}",
                Switch(
                    "CELERY_AUTO_SCALE",
                    ("--autoscale={CELERY_MAX_WORKERS},{CELERY_MIN_WORKERS}",),
                    ("-c", "{CELERY_WORKER_AMOUNT}"),
                ),
                "--loglevel", "{LOG_LEVEL}",
            ),
            needs=("database", "redis", "vector_store"),
            bounds=(Bounds("CELERY_AUTO_SCALE", "CELERY_MIN_WORKERS", "CELERY_MAX_WORKERS"),),
        ),
        Mode(
            name="beat",
            summary="Celery beat scheduling the periodic tasks",
            module="celery",
            args=(
                "-A", "app.celery", "beat",
                "-s", "{state_dir}/celerybeat-schedule",
                "--loglevel", "{LOG_LEVEL}",
            ),
            needs=("redis",),
        ),
        Mode(
            name="migration",
            summary="upgrade the database schema to head, then exit",
            module="flask",
            args=("upgrade-db",),
            needs=("database",),
        ),
    )
}
# fmt: on


@dataclass(frozen=True)
class Command:
    """What to run for one mode: argv, in ``cwd``; ``first`` runs to completion before."""

    mode: str
    argv: tuple[str, ...]
    cwd: Path
    first: tuple[Command, ...] = field(default_factory=tuple)
    needs: tuple[str, ...] = ()
    external_reload: bool = False  # --reload asked for, and the program has no reloader


def mode(name: str) -> Mode:
    """The table row for ``name``; an unknown name names the known ones."""
    try:
        return MODES[name]
    except KeyError:
        raise RunError(
            f"unknown MODE {name!r}: known modes are {', '.join(MODES)}",
            hint="set MODE to one of them (api, worker, beat, migration)",
        ) from None


def is_true(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() == TRUE


def check(row: Mode, env: Mapping[str, str]) -> list[Problem]:
    """Inconsistent combinations of a mode's variables, each naming the variables."""
    problems: list[Problem] = []
    for b in row.bounds:
        if not is_true(env, b.when):
            continue
        low, high = env.get(b.low, "").strip(), env.get(b.high, "").strip()
        bad = [n for n, v in ((b.low, low), (b.high, high)) if not v.isdigit()]
        if bad:
            problems.append(
                Problem(
                    ", ".join(bad),
                    f"{b.when}=true needs whole-number bounds, but "
                    + ", ".join(f"{n}={env.get(n, '')!r}" for n in bad)
                    + (" is" if len(bad) == 1 else " are")
                    + " not",
                    f"set {b.low} and {b.high} (e.g. {b.low}=1 {b.high}=4), or {b.when}=false",
                )
            )
        elif int(low) > int(high):
            problems.append(
                Problem(
                    f"{b.low}, {b.high}",
                    f"{b.when}=true with {b.low}={low} above {b.high}={high}",
                    f"make {b.low} <= {b.high}, or set {b.when}=false",
                )
            )
        elif int(high) == 0:
            problems.append(
                Problem(b.high, f"{b.high}=0 leaves the pool empty", f"set {b.high} >= 1")
            )
    return problems


def _expand(
    tokens: Sequence[Token],
    env: Mapping[str, str],
    ctx: Mapping[str, str],
    app_dir: Path,
    empty: list[str],
) -> list[str]:
    """The argv of ``tokens``; names of variables that expanded to nothing go to ``empty``."""
    out: list[str] = []
    for tok in tokens:
        if isinstance(tok, Switch):
            chosen = tok.then if is_true(env, tok.var) else tok.otherwise
            out += _expand(chosen, env, ctx, app_dir, empty)
        elif isinstance(tok, IfFile):
            if (app_dir / tok.name).is_file():
                out += _expand(tok.tokens, env, ctx, app_dir, empty)
        else:
            fields = [f for _, f, _, _ in string.Formatter().parse(tok) if f and f not in ctx]
            empty += [f for f in fields if not env[f].strip()]
            out.append(tok.format_map({**env, **ctx}))
    return out


def command(
    name: str,
    env: Mapping[str, str],
    *,
    app_dir: Path,
    state_dir: Path,
    python: str,
    reload: bool = False,
) -> Command:
    """The command for mode ``name`` under ``env`` (pure apart from the IfFile test).

    Raises :class:`RunError` for an unknown mode and :class:`ProblemsError` naming the
    variables for a missing variable or an inconsistent combination.
    """
    row = mode(name)
    missing = [n for n in row.variables() if n not in env]
    problems = [
        Problem(n, f"MODE={name} needs {n}, which is not set", f"set {n} (see docs/ENV.md)")
        for n in missing
    ]
    if not problems:
        problems = check(row, env)
    if problems:
        raise ProblemsError(f"cannot run MODE={name}", problems)
    ctx = {"app_dir": str(app_dir), "state_dir": str(state_dir)}
    debug = bool(row.debug_module) and is_true(env, "DEBUG")
    module = row.debug_module if debug and row.debug_module else row.module
    empty: list[str] = []
    args = _expand(row.debug_args if debug else row.args, env, ctx, app_dir, empty)
    if empty:
        raise ProblemsError(
            f"cannot run MODE={name}",
            [
                Problem(n, f"MODE={name} needs {n}, which is empty", f"set {n} (see docs/ENV.md)")
                for n in dict.fromkeys(empty)
            ],
        )
    external = False
    if reload:
        if debug:
            pass  # Flask's --debug already runs its reloader
        elif row.reload_args is not None:
            args += _expand(row.reload_args, env, ctx, app_dir, empty)
        else:
            external = True
    first: tuple[Command, ...] = ()
    if row.first and row.first_when and is_true(env, row.first_when):
        first = (command(row.first, env, app_dir=app_dir, state_dir=state_dir, python=python),)
    return Command(
        mode=name,
        argv=(python, "-m", module, *args),
        cwd=app_dir,
        first=first,
        needs=row.needs,
        external_reload=external,
    )
