"""The dev middleware lifecycle: up (with a real health wait), status, logs, down, reset.

:func:`~stack.dev.prepare.prepare` derives everything first; nothing is started until every
check passed (images present, data volumes made by the same image, host ports free).
``up`` then starts compose *without* ``--wait`` and runs its own readiness loop
(:mod:`stack.dev.readiness`).  A repeated ``up`` whose derived file is unchanged and whose
containers are all running, healthy and still the ones the last successful ``up`` made
(same ids, compose config hashes and images) skips ``docker compose up`` and only proves
each login again.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack import paths
from stack.dev import checks, state
from stack.dev.checks import Presence, presence, project_containers, require_existing, service_of
from stack.dev.options import DevOptions
from stack.dev.prepare import Prepared, derive, prepare
from stack.dev.readiness import state_of, stop_process, wait_ready
from stack.dev.status import Row, status_rows
from stack.errors import DevError, ProblemsError

__all__ = ["down", "logs", "pull", "require_existing", "reset", "start_prepared", "status", "up"]


def compose_args(prep: Prepared, *args: str) -> list[str]:
    return [
        "-f",
        str(prep.compose_file),
        "-p",
        prep.plan.project,
        "--project-directory",
        str(paths.COMPOSE_DIR),
        *args,
    ]


def compose_env() -> dict[str, str]:
    from stack.compose.validate import isolated_env

    return isolated_env()


# ----------------------------------------------------------------------------- up


def up(opts: DevOptions) -> list[Row]:
    """Start the selected middleware and wait until every service is ready."""
    start = time.monotonic()
    return start_prepared(prepare(opts), opts, started=start)


def start_prepared(prep: Prepared, opts: DevOptions, *, started: float | None = None) -> list[Row]:
    """Check, start and wait for an already prepared plan (see :func:`prepare`)."""
    start = time.monotonic() if started is None else started
    print_settings(prep, opts.out)
    own = project_containers(opts.project)
    stale = sorted({service_of(c) for c in own} - set(prep.plan.names()))
    volumes = checks.volume_labels(prep)
    problems = checks.check_ports(prep, own) + checks.check_volumes(prep, volumes)
    if problems:
        raise ProblemsError("dev.up cannot start (nothing was started)", problems)
    for name, why in prep.plan.skipped:
        opts.out(f"  skipped {name}: {why}")
    for note in prep.plan.notes:
        opts.out(f"  note: {note}")
    if stale:
        opts.out(f"  removing services of the previous selection: {', '.join(stale)}")
    deadline = start + opts.timeout
    if not stale and up_to_date(prep, opts, own, volumes):
        opts.out("  every container is running and up to date: compose up not needed")
        infos = wait_ready(prep, opts, None, deadline=deadline, first=own)
    else:
        state.forget(opts, state.UP_RECORD)
        pull(prep, opts)
        checks.ensure_volumes(prep, volumes)
        infos = compose_up(prep, opts, deadline)
        record(prep, opts, infos)
    rows = status_rows(prep, infos)
    opts.out(f"ready in {time.monotonic() - start:.1f} s")
    return rows


def compose_up(prep: Prepared, opts: DevOptions, deadline: float) -> dict[str, dict[str, Any]]:
    """``docker compose up -d`` in the background while :func:`wait_ready` polls."""
    from stack.compose.cli import find_compose

    args = compose_args(prep, "up", "-d", "--no-build", "--pull", "never", "--remove-orphans")
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            find_compose().argv(*args),
            env=compose_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            return wait_ready(prep, opts, proc, log, deadline=deadline)
        finally:
            stop_process(proc)


def _fingerprint(info: dict[str, Any]) -> dict[str, str]:
    labels = (info.get("Config") or {}).get("Labels") or {}
    return {
        "id": str(info.get("Id", "")),
        "config_hash": str(labels.get(checks.COMPOSE_HASH_LABEL, "")),
        "image": str(info.get("Image", "")),
    }


def record(prep: Prepared, opts: DevOptions, infos: dict[str, dict[str, Any]]) -> None:
    """Remember what the successful ``compose up`` made (see :func:`up_to_date`)."""
    state.write_json(
        opts,
        state.UP_RECORD,
        {
            "compose": state.digest(prep.text),
            "containers": {name: _fingerprint(infos[name]) for name in sorted(infos)},
        },
    )


def up_to_date(
    prep: Prepared,
    opts: DevOptions,
    own: list[dict[str, Any]],
    volumes: dict[str, dict[str, str] | None],
) -> bool:
    """True when ``compose up`` would change nothing.

    The derived file is the one of the last successful ``up`` (so compose would compute the
    same ``com.docker.compose.config-hash`` for each service), each planned service has
    exactly one container, the one recorded then (id, config hash, image), it is running and
    healthy (or has no health check), its image tag still points at that image, and every
    data volume exists.
    """
    import docker

    rec = state.read_json(opts, state.UP_RECORD)
    if not isinstance(rec, dict) or rec.get("compose") != state.digest(prep.text):
        return False
    if any(v is None for v in volumes.values()):
        return False
    wanted = prep.plan.names()
    if sorted(service_of(c) for c in own) != sorted(wanted):
        return False
    recorded = rec.get("containers") or {}
    api = checks.api()
    for info in own:
        name = service_of(info)
        status, health, _ = state_of(info)
        if status != "running" or health not in ("", "healthy"):
            return False
        if recorded.get(name) != _fingerprint(info):
            return False
        try:
            if api.inspect_image(prep.plan.by_name(name).run_image)["Id"] != info.get("Image"):
                return False
        except docker.errors.NotFound:
            return False
    return True


def pull(prep: Prepared, opts: DevOptions) -> None:
    """Pull, before anything starts, the required images that are not local (online only).

    Through the mirror of ``STACK_REGISTRY_MIRRORS`` when one is mapped (the plan's
    ``run_image`` is already rewritten); an image that cannot be had stops ``dev.up`` with a
    problem naming the image and the mirror.  Same puller as the vector-store test runtime.
    """
    from stack.engine.client import client
    from stack.images.mirror import mirrors_from_env
    from stack.images.pull import pull_all

    wanted = {s.image: s.run_image for s in prep.plan.services if s.needs_pull}
    if not wanted:
        return
    opts.out(f"  pulling {', '.join(wanted.values())}")
    seconds = pull_all(
        wanted,
        mirrors=mirrors_from_env(opts.env),
        title="dev.up cannot start: images could not be pulled (nothing was started)",
        client=client(),
    )
    opts.out(f"  pulled {len(wanted)} image(s) in {seconds:.1f} s")


SECRET_MARKERS = ("PASSWORD", "KEY", "SECRET", "TOKEN")


def print_settings(prep: Prepared, out: Callable[[str], None]) -> None:
    """The settings that decide the plan, with their sources; secrets masked."""
    s = prep.settings
    names = ["DB_TYPE", "VECTOR_STORE"]
    for svc in prep.plan.services:
        if svc.expose:
            names.append(svc.expose)
        if svc.credential and svc.credential.password_var:
            names.append(svc.credential.password_var)
    out("settings (flags > environment > .env > definitions' defaults):")
    width = max(len(n) for n in names)
    for name in dict.fromkeys(names):
        value = s.get(name)
        secret = any(marker in name for marker in SECRET_MARKERS)
        shown = "****" if secret and value else value
        out(f"  {name:<{width}} = {shown:<14} ({s.source(name)})")
    others = [x for x in s.overridden() if x.name not in names]
    if others:
        out(f"  ... and {len(others)} more overridden: {', '.join(x.name for x in others[:8])}")


# ----------------------------------------------------------------------------- status


def status(opts: DevOptions) -> list[Row]:
    """Rows for the current selection, even when some of its images are missing."""
    return status_rows(derive(opts))


# ----------------------------------------------------------------------------- down/reset/logs


def down(opts: DevOptions) -> Presence:
    """Stop and remove the project's containers and networks and its state directory.

    Data volumes stay.  Works from the project name alone (no plan needed, so it also works
    when an image went missing).  ``-v`` only removes anonymous volumes: the data volumes
    are external to compose and are removed by :func:`reset` alone.  Returns what existed.
    """
    from stack.compose.cli import run_compose

    found = presence(opts.project)
    if found.containers or found.networks:
        with tempfile.TemporaryDirectory(prefix="stack-down-") as empty:
            run_compose(
                [
                    "-p",
                    opts.project,
                    "--project-directory",
                    empty,
                    "down",
                    "-v",
                    "--remove-orphans",
                ],
                env=compose_env(),
                cwd=Path(empty),
            )
    state.remove(opts)
    return found


def reset(opts: DevOptions) -> list[str]:
    """``down``, then remove every data volume of the project; returns the removed names."""
    import docker

    found = down(opts)
    api = checks.api()
    removed = []
    for name in found.volumes:
        try:
            api.remove_volume(name, force=True)
        except docker.errors.NotFound:
            continue
        removed.append(name)
    return sorted(removed)


def logs(opts: DevOptions, service: str | None, follow: bool) -> int:
    """``docker compose logs`` of the project (or one of its services); the exit code."""
    from stack.compose.cli import find_compose

    require_existing(opts, "dev.logs", running=True)
    if service:
        known = {service_of(c) for c in project_containers(opts.project)}
        if service not in known:
            selected = set(derive(opts).plan.names())
            if service in selected:
                raise DevError(
                    f"service {service!r} has no container yet: nothing to show",
                    hint=f"start it with `invoke dev.up --project {opts.project}`",
                )
            raise DevError(
                f"no service {service!r} in the current selection",
                hint="choose one of: " + ", ".join(sorted(known | selected)),
            )
    args = [
        "logs",
        "--tail",
        "200",
        *(["--follow"] if follow else []),
        *([service] if service else []),
    ]
    with tempfile.TemporaryDirectory(prefix="stack-logs-") as empty:
        argv = find_compose().argv("-p", opts.project, "--project-directory", empty, *args)
        return subprocess.call(
            argv, env=compose_env(), cwd=empty, stdout=sys.stdout, stderr=sys.stderr
        )
