"""The smoke deployment's steps against the engine and compose (see :mod:`stack.release.smoke`).

The env file, profiles, labels, the images (resolution + stand-in builds), ``compose up`` /
``down``, nginx's published port, the failure diagnostics and the label-based removal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from stack import paths
from stack.errors import Problem, ProblemsError, SmokeError
from stack.release import override, workdir

LABEL_SMOKE = "org.stack.smoke-project"
#: Diagnostics on failure: the tail of these services' logs.
LOG_SERVICES = ("init_permissions", "api", "worker", "worker_beat", "web", "nginx")


def engine() -> Any:
    """The SDK client; EngineError with the fix when the engine does not answer."""
    from stack.engine.client import client, engine_alive
    from stack.errors import EngineError

    if not engine_alive():
        raise EngineError("the Docker engine does not answer", hint="invoke engine.ensure")
    return client()


def _filters(project: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_SMOKE}={project}"]}


def labelled(client: Any, project: str) -> list[Any]:
    """Containers, networks and volumes carrying the smoke label of ``project``."""
    f = _filters(project)
    return [
        *client.containers.list(all=True, filters=f, sparse=True),
        *client.networks.list(filters=f),
        *client.volumes.list(filters=f),
    ]


def remove_labelled(client: Any, project: str) -> list[str]:
    """Remove everything labelled for ``project`` (containers first); errors as text."""
    import docker.errors

    errors = []
    f = _filters(project)
    groups = [
        (client.containers.list(all=True, filters=f, sparse=True), {"force": True, "v": True}),
        (client.networks.list(filters=f), {}),
        (client.volumes.list(filters=f), {"force": True}),
    ]
    for items, kwargs in groups:
        for item in items:
            try:
                item.remove(**kwargs)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                errors.append(f"{item.id[:12]}: {exc.explanation or exc}")
    return errors


def smoke_projects(client: Any) -> list[str]:
    """Compose projects of smoke deployments present in the engine."""
    found = client.containers.list(all=True, filters={"label": [LABEL_SMOKE]}, sparse=True)
    return sorted({(c.attrs.get("Labels") or {}).get(LABEL_SMOKE, "") for c in found} - {""})


def kept_projects() -> set[str]:
    """Projects of the smoke copies on disk."""
    import json

    out = set()
    for marker in workdir.root().glob(f"{workdir.PREFIX}*/{workdir.MARKER}"):
        try:
            out.add(str(json.loads(marker.read_text(encoding="utf-8"))["project"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def require_free(client: Any, project: str) -> None:
    """SmokeError when compose project ``project`` already has containers."""
    found = client.containers.list(
        all=True, filters={"label": [f"com.docker.compose.project={project}"]}, sparse=True
    )
    if found:
        raise SmokeError(
            f"compose project {project!r} already has {len(found)} container(s) "
            f"(e.g. {(found[0].attrs.get('Names') or ['?'])[0].lstrip('/')}); "
            "a kept smoke deployment?",
            hint=f"invoke release.down --project {project}, or give --project another name",
        )


def env_source(env_file: Path | None) -> tuple[Path | None, str | None]:
    """``--env-file``, else the repository's ``.env`` when there is one, else nothing."""
    path = env_file or (paths.ROOT / ".env")
    if env_file is None and not path.is_file():
        return None, None
    from stack.env.parse import decode

    return path, decode(path.read_bytes(), path)


def profiles(path: Path | None, text: str | None) -> tuple[str, str]:
    """(DB_TYPE, VECTOR_STORE) from the env text (last binding wins), else the defaults."""
    from stack.env.parse import load_definitions, read_entries

    defs = load_definitions()
    found: dict[str, tuple[str, int]] = {}
    for entry in read_entries(text or ""):
        if entry.kind == "binding" and entry.key in ("DB_TYPE", "VECTOR_STORE"):
            found[entry.key] = (entry.value or "", entry.line)
    values, problems = [], []
    for key in ("DB_TYPE", "VECTOR_STORE"):
        value, line = found.get(key, (defs[key].default, 0))
        choices = defs[key].type.choices
        if value not in choices:
            problems.append(
                Problem(
                    f"{path}:{line}",
                    f"{key}={value!r} is not one of: {', '.join(choices)}",
                    f"set {key}={defs[key].default} (invoke env.check --path {path})",
                )
            )
        values.append(value)
    if problems:
        raise ProblemsError("the env file cannot be deployed (nothing was started)", problems)
    return values[0], values[1]


def labels(session: str, project: str, *, keep: bool) -> dict[str, str]:
    """Ownership labels: session + owner (so a killed run is swept), the smoke project.

    A ``--keep`` deployment outlives this process: it carries no owner (the sweep never
    removes what it cannot prove orphaned), and ``release.down`` finds it by the label.
    """
    from stack.dev.options import extra_labels
    from stack.engine import labels as lab
    from stack.engine import owner

    out = lab.session_labels(session, purpose="smoke")
    if keep:
        for key in (
            owner.LABEL_OWNER_PID,
            owner.LABEL_OWNER_START,
            owner.LABEL_OWNER_STARTED,
            owner.LABEL_OWNER_HOST,
            owner.LABEL_OWNER_PIDNS,
        ):
            out.pop(key, None)
    return {**out, **extra_labels(os.environ), LABEL_SMOKE: project}


def compose_env(db: str, vs: str, port: int | None) -> dict[str, str]:
    """Compose's environment: isolated (the copy's .env decides), profiles, ports."""
    from stack.compose.validate import isolated_env

    extra = {"COMPOSE_PROFILES": f"{vs},{db}"}
    if port is not None:
        extra["EXPOSE_NGINX_PORT"] = str(port)
        extra["EXPOSE_NGINX_SSL_PORT"] = "0"  # any free port: tests must not collide on 443
    return isolated_env(extra)


def _args(wd: workdir.Workdir, *args: str, with_override: bool = True) -> list[str]:
    files = ["-f", str(wd.compose_file)]
    if with_override:
        files += ["-f", str(wd.override_file)]
    return ["-p", wd.project, "--project-directory", str(wd.path), *files, *args]


def prepare(
    wd: workdir.Workdir,
    env: Mapping[str, str],
    labels: Mapping[str, str],
    out: Callable[[str], None],
) -> override.Plan:
    """Resolve every service's image (building missing stand-ins), write the override."""
    import json

    from stack.compose.cli import run_compose
    from stack.images import build, resolve
    from stack.images.catalog import by_ref
    from stack.images.mirror import mirrors_from_env

    cfg = run_compose(_args(wd, "config", "--format", "json", with_override=False), env=env)
    config = json.loads(cfg.stdout)
    names = sorted({by_ref(s["image"]).name for s in config["services"].values()})
    found = resolve.resolve_all(names)
    recipes = sorted(
        {r.entry.standin for r in found.values() if r.kind == "missing" and r.entry.standin}
    )
    if recipes:  # cached by recipe hash: only what is missing or changed is built
        out(f"building stand-ins: {', '.join(recipes)}")
        build.build(recipes, progress=out)
        found = resolve.resolve_all(names)
    pulls = {r.entry.ref: r.ref_to_use for r in found.values() if r.needs_pull}
    if pulls:
        from stack.images.pull import pull_each

        failed = pull_each(pulls, mirrors=mirrors_from_env(os.environ))
        for name, res in list(found.items()):
            if res.entry.ref in failed:  # cannot be had here after all: left out
                found[name] = replace(res, kind="missing", remedy=str(failed[res.entry.ref]))
    p = override.plan(config, wd.project, override.catalog_resolver(found))
    from stack.fsutil import write_atomic

    write_atomic(wd.override_file, override.render(p, labels))
    return p


def up(wd: workdir.Workdir, env: Mapping[str, str], services: list[str], timeout: float) -> None:
    """``docker compose up -d`` of exactly ``services`` (never pulls, never builds)."""
    from stack.compose.cli import run_compose

    args = _args(wd, "up", "-d", "--pull", "never", "--no-build", *services)
    run_compose(args, env=env, timeout=timeout)


def down(wd: workdir.Workdir) -> None:
    """``docker compose down -v`` of the copy (containers, networks, volumes)."""
    from stack.compose.cli import run_compose
    from stack.compose.validate import isolated_env

    if not wd.override_file.is_file():  # failed before the override: labels do the rest
        return
    args = _args(wd, "down", "-v", "--remove-orphans", "--timeout", "10")
    # every profile: the db and the store containers too, whichever the run selected
    run_compose(args, env=isolated_env({"COMPOSE_PROFILES": "*"}), timeout=180)


def nginx_port(client: Any, project: str) -> int:
    """The host port nginx's HTTP port is published on, as the engine reports it."""
    found = client.containers.list(
        filters={
            "label": [f"com.docker.compose.project={project}", "com.docker.compose.service=nginx"]
        }
    )
    if not found:
        raise SmokeError(f"{project}: nginx is not running", hint="see the logs above")
    ctr = found[0]
    env = dict(x.split("=", 1) for x in ctr.attrs["Config"].get("Env") or [] if "=" in x)
    target = f"{env.get('NGINX_PORT', '80')}/tcp"
    bindings = (ctr.attrs["NetworkSettings"].get("Ports") or {}).get(target) or []
    if not bindings:
        raise SmokeError(f"{project}: nginx's {target} is not published")
    return int(bindings[0]["HostPort"])


def diagnostics(wd: workdir.Workdir, env: Mapping[str, str]) -> str:
    """``compose ps -a`` and the tail of the main services' logs (for a failed run)."""
    from stack.compose.cli import run_compose

    if not wd.override_file.is_file():
        return ""
    ps = run_compose(_args(wd, "ps", "-a"), env=env, check=False, timeout=60)
    logs = run_compose(
        _args(wd, "logs", "--no-color", "--tail", "25", *LOG_SERVICES),
        env=env,
        check=False,
        timeout=60,
    )
    return f"--- docker compose ps -a\n{ps.stdout}--- logs (tail)\n{logs.stdout}{logs.stderr}"
