"""`invoke release.smoke`: boot the committed production compose file, check it, remove it.

The deployment is exactly ``compose/docker-compose.yaml`` plus the override of
:mod:`stack.release.override` (local stand-in images, ownership labels, ``depends_on`` only
where a left-out service is required), run from a temporary copy of ``compose/``
(:mod:`stack.release.workdir`) under the compose project ``stack-smoke``. ``DB_TYPE`` and
``VECTOR_STORE`` come from the repository's ``.env`` (or ``--env-file``), else the
definitions' defaults; that file becomes the copy's ``.env``, so compose interpolates it as
in production. nginx is published on ``EXPOSE_NGINX_PORT`` (``--port`` overrides it; HTTPS
then goes to a free port, so parallel runs never collide on 443).

Phases, timed: *build* (resolve images, build missing stand-ins), *start* (``docker compose
up -d`` of the services that can run), *checks* (:mod:`stack.release.checks`), *teardown*
(``down -v``, then everything with the session's labels, then the copy) -- also on failure,
Ctrl-C and SIGTERM. ``keep=True`` leaves the deployment running; :func:`down` removes it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.errors import SmokeError, StackError
from stack.release import checks, deploy, workdir
from stack.release.override import Service

DEFAULT_PROJECT = "stack-smoke"
DEFAULT_TIMEOUT = 600
NO_ENV = "definitions' defaults (no .env)"


@dataclass
class Options:
    """The task's flags, validated."""

    project: str = DEFAULT_PROJECT
    port: int | None = None
    env_file: Path | None = None
    keep: bool = False
    timeout: float = DEFAULT_TIMEOUT
    out: Callable[[str], None] = print


@dataclass
class Outcome:
    """What a run found and how long each phase took."""

    project: str
    db: str = ""
    vector_store: str = ""
    env_shown: str = NO_ENV
    results: list[checks.Result] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    left_out: list[Service] = field(default_factory=list)
    url: str = ""
    kept: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so the teardown runs."""

    def handler(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """A second Ctrl-C must not abort the teardown half-way (children inherit the ignore)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(opts: Options) -> Outcome:
    """The whole smoke; the outcome says which checks failed (``ok``).

    A StackError on the way (an image, ``compose up``) prints the diagnostics and tears the
    deployment down, ``--keep`` or not: there is nothing usable to keep.
    """
    from stack.engine import labels as lab

    client = deploy.engine()
    swept = lab.sweep(client=client)
    if swept.total or swept.errors:
        opts.out(f"sweep of stale resources: {swept}")
    for line in workdir.sweep():
        opts.out(line)
    deploy.require_free(client, opts.project)
    env_path, env_text = deploy.env_source(opts.env_file)
    db, vs = deploy.profiles(env_path, env_text)
    out = Outcome(opts.project, db, vs, str(env_path) if env_path else NO_ENV)
    session = lab.new_session_id()
    labels = deploy.labels(session, opts.project, keep=opts.keep)
    env = deploy.compose_env(db, vs, opts.port)
    wd: workdir.Workdir | None = None
    keep = False
    t = time.monotonic()
    with _sigterm_as_interrupt():
        try:
            wd = workdir.create(opts.project, labels, env_text)
            opts.out(
                f"smoke: {opts.project} from {wd.path} (DB_TYPE={db}, VECTOR_STORE={vs}; "
                f"env: {out.env_shown})"
            )
            plan = deploy.prepare(wd, env, labels, opts.out)
            out.left_out = plan.left_out
            for s in plan.left_out:
                opts.out(f"left out: {s.name} ({s.upstream}): {s.why}")
            out.timings["build"] = time.monotonic() - t
            t = time.monotonic()
            try:
                deploy.up(wd, env, plan.run, opts.timeout)
                out.url = f"http://127.0.0.1:{deploy.nginx_port(client, opts.project)}"
            finally:
                out.timings["start"] = time.monotonic() - t
            opts.out(f"started {', '.join(plan.run)}; checking through {out.url}")
            t = time.monotonic()
            out.results = checks.run_all(out.url, client, opts.project, opts.timeout)
            out.timings["checks"] = time.monotonic() - t
            if not out.ok:
                opts.out(deploy.diagnostics(wd, env))
            keep = opts.keep
        except StackError:
            if wd is not None:
                opts.out(deploy.diagnostics(wd, env))
            raise
        finally:
            if wd is not None and keep:
                out.kept = wd.path
            elif wd is not None:
                t = time.monotonic()
                with _shielded():
                    problems = teardown(client, wd, session, out=opts.out)
                out.timings["teardown"] = time.monotonic() - t
                for p in problems:
                    print(f"warning: {p}", file=sys.stderr)
    return out


def teardown(
    client: Any, wd: workdir.Workdir, session: str | None, *, out: Callable[[str], None]
) -> list[str]:
    """``down -v``, the labelled leftovers, the copy; problems as text (never raises)."""
    from stack.engine import labels as lab

    problems = []
    try:
        deploy.down(wd)
    except StackError as exc:
        problems.append(str(exc))
    try:
        if session:
            report = lab.remove_session(session, client=client)
            problems += report.errors
        problems += deploy.remove_labelled(client, wd.project)
    except Exception as exc:  # engine gone: the next run's sweep removes the rest
        problems.append(f"removing labelled resources: {exc}")
    if err := workdir.remove(wd.path):
        problems.append(err)
    out(f"removed {wd.project} (containers, networks, volumes, {wd.path})")
    return problems


def down(project: str, *, out: Callable[[str], None] = print) -> None:
    """Remove a kept smoke deployment; SmokeError naming the existing ones when none."""
    client = deploy.engine()
    dirs = workdir.kept(project)
    present = deploy.labelled(client, project)
    if not dirs and not present:
        others = sorted(set(deploy.smoke_projects(client)) | deploy.kept_projects())
        raise SmokeError(
            f"no smoke deployment {project!r} exists (no container, network, volume or copy)",
            hint=(
                "kept ones: " + ", ".join(f"invoke release.down --project {p}" for p in others)
                if others
                else "start one with `invoke release.smoke --keep`"
            ),
        )
    problems: list[str] = []
    with _shielded():
        if not dirs:  # the copy is gone (removed by hand): the labels still find the rest
            problems += deploy.remove_labelled(client, project)
        for path in dirs:
            problems += teardown(client, workdir.Workdir(path, project, {}), None, out=out)
    if problems:
        raise SmokeError(f"removing {project} left problems: " + "; ".join(problems))


def summary(o: Outcome) -> str:
    """The checks table, what was left out, the phase times and, when kept, how to reach it."""
    lines = [checks.table(o.results)] if o.results else ["no checks ran"]
    if o.left_out:
        lines.append(
            "left out (no image here): " + ", ".join(f"{s.name} ({s.upstream})" for s in o.left_out)
        )
    phases = ("build", "start", "checks", "teardown")
    total = sum(o.timings.get(p, 0.0) for p in phases)
    lines.append(
        f"wall time {total:.1f} s: "
        + ", ".join(f"{p} {o.timings[p]:.1f} s" for p in phases if p in o.timings)
    )
    if o.kept:
        lines.append(
            f"kept: {o.url}/ (compose project {o.project}, directory {o.kept});\n"
            f"  docker compose -p {o.project} --project-directory {o.kept} "
            f"-f {o.kept}/docker-compose.yaml -f {o.kept}/docker-compose.smoke.yaml ps\n"
            f"  remove it with: invoke release.down --project {o.project}"
        )
    return "\n".join(lines)
