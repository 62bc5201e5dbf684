"""The dev middleware lifecycle: prepare, up (with a real health wait), status, down, reset.

``prepare`` derives everything from the definitions, the settings and the
template; nothing is started until every check passed (images present, data
volumes made by the same image, host ports free).  ``up`` then starts compose
*without* ``--wait`` (it exits non-zero when a one-shot container finishes, and
it reports services without a health check as healthy) and runs its own loop:
health status from the engine, one-shot services done when they exit 0, and a
real login through the published port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack import paths
from stack.dev import plan as p
from stack.dev.settings import Settings
from stack.errors import DevError, Problem, ProblemsError

DEFAULT_PROJECT = "stack-dev"
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


@dataclass
class DevOptions:
    """What the dev tasks act on; every field has a sensible default."""

    project: str = DEFAULT_PROJECT
    vector_store: str | None = None
    db: str | None = None
    timeout: float = 180.0
    environ: Mapping[str, str] | None = None
    dotenv: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None
    out: Callable[[str], None] = print

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    @property
    def compose_file(self) -> Path:
        base = self.state_dir or (paths.ROOT / ".stack" / "dev")
        return base / self.project / "compose.yaml"


@dataclass
class Prepared:
    """Everything ``prepare`` computed: the plan, the settings, the dev compose file."""

    plan: p.Plan
    settings: Settings
    compose_file: Path
    labels: dict[str, str]


EXTRA_LABELS_VAR = "STACK_EXTRA_LABELS"


def extra_labels(environ: Mapping[str, str]) -> dict[str, str]:
    """Labels from ``STACK_EXTRA_LABELS=k=v,k=v`` (e.g. a CI job or test session owner)."""
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in environ.get(EXTRA_LABELS_VAR, "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DevError(
                f"{EXTRA_LABELS_VAR}: {item!r} is not key=value",
                hint=f"write {EXTRA_LABELS_VAR}=org.example.job=42,owner=me",
            )
        out[key.strip()] = value.strip()
    return out


def base_labels(opts: DevOptions) -> dict[str, str]:
    from stack.engine.labels import LABEL_PROJECT, LABEL_PURPOSE, PROJECT_VALUE

    return {
        LABEL_PROJECT: PROJECT_VALUE,
        LABEL_PURPOSE: "dev",
        **extra_labels(opts.env),
        **opts.labels,
    }


# ----------------------------------------------------------------------------- prepare


def prepare(opts: DevOptions, *, allow_missing: bool = False) -> Prepared:
    """Resolve settings, derive the plan and write the dev compose file (no container starts).

    A required service whose image cannot be had stops here (nothing started), unless
    ``allow_missing`` (``dev.status`` shows such services as rows instead).
    """
    from stack.compose import render, validate
    from stack.dev.settings import resolve
    from stack.env.parse import load_definitions
    from stack.images.catalog import by_ref
    from stack.images.mirror import mirrors_from_env
    from stack.images.resolve import local_images, offline, present_checker
    from stack.images.resolve import resolve as pick

    defs = load_definitions()
    dotenv = opts.dotenv if opts.dotenv is not None else paths.ROOT / ".env"
    settings = resolve(
        defs,
        flags={"VECTOR_STORE": opts.vector_store, "DB_TYPE": opts.db},
        environ=opts.env,
        dotenv=dotenv,
    )
    template_text = paths.TEMPLATE.read_text(encoding="utf-8")
    text = render.render(template_text, render.shared_from_definitions(defs))
    config = validate.config(
        text,
        project_dir=paths.COMPOSE_DIR,
        profiles=("*",),
        env=settings.values(),
    )
    raw = p.raw_template(template_text)
    chosen, notes = p.select(raw, settings["DB_TYPE"], settings["VECTOR_STORE"])
    plan = p.Plan(opts.project, notes=notes)
    present = present_checker(local_images(_client()))
    mirrors = mirrors_from_env(opts.env)
    is_offline = offline(opts.env)
    folded: set[str] = set()
    picks = {}
    for name in chosen:
        entry = by_ref(raw["services"][name]["image"])
        picks[name] = (entry, pick(entry, offline=is_offline, mirrors=mirrors, present=present))
        if picks[name][1].kind == "standin":
            folded.update(entry.folds)
    data_root = paths.COMPOSE_DIR / "volumes"
    for name in chosen:
        entry, choice = picks[name]
        svc_raw = raw["services"][name]
        hint = svc_raw.get("x-stack-dev") or {}
        if entry.name in folded:
            plan.skipped.append(
                (name, f"folded into the {name_of_folder(picks, entry.name)} stand-in")
            )
            continue
        if choice.needs_pull and hint.get("optional"):
            plan.skipped.append((name, f"optional; image {entry.ref} not present locally"))
            plan.notes.append(f"{name}: `docker pull {choice.ref_to_use}` to include it")
            continue
        if choice.kind == "missing":
            if hint.get("optional"):
                plan.skipped.append((name, f"optional; image {entry.ref} not available locally"))
                plan.notes.append(f"{name}: {choice.remedy}")
            else:
                plan.missing.append((name, entry.ref, choice.remedy))
            continue
        expose = hint.get("expose")
        host_port = int(settings[expose]) if expose and settings.get(expose) else None
        plan.services.append(
            p.DevService(
                name=name,
                image=entry.ref,
                run_image=choice.ref_to_use,
                image_kind=choice.kind,
                needs_pull=choice.needs_pull,
                container_port=hint.get("port"),
                expose=expose,
                host_port=host_port if hint.get("port") else None,
                scheme=hint.get("scheme"),
                volumes=p.data_volumes(opts.project, name, config["services"][name], data_root),
                credential=p.credential(name, svc_raw, config["services"][name]),
            )
        )
    if plan.missing and not allow_missing:
        raise ProblemsError(
            "dev.up cannot start: images are missing (nothing was started)",
            [
                Problem(f"service {svc}", f"image {ref} is not available", fix)
                for svc, ref, fix in plan.missing
            ],
        )
    labels = base_labels(opts)
    inner = None
    if settings.source("PLUGIN_DIFY_INNER_API_URL") == "default":
        inner = f"http://host.docker.internal:{settings.get('DIFY_PORT', '5001')}"
    doc = p.render_dev(plan, config, labels=labels, data_root=data_root, inner_api_url=inner)
    compose_file = opts.compose_file
    if not plan.missing:
        from stack.fsutil import write_private

        text = p.dump(doc, opts.project)
        try:
            unchanged = compose_file.read_text(encoding="utf-8") == text
        except FileNotFoundError:
            unchanged = False
        if not unchanged:
            write_private(compose_file, text)  # it holds the .env's secrets
    return Prepared(plan, settings, compose_file, labels)


def name_of_folder(picks: Mapping[str, Any], folded: str) -> str:
    for name, (entry, _choice) in picks.items():
        if folded in entry.folds:
            return name
    return "?"


def _client() -> Any:
    from stack.engine.client import client

    return client()


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


# ----------------------------------------------------------------------------- checks


def project_containers(project: str) -> list[dict[str, Any]]:
    """Inspect data of every container of compose project ``project``."""
    import docker

    api = _client().api
    found = api.containers(all=True, filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"})
    infos = []
    for summary in found:
        try:
            infos.append(api.inspect_container(summary["Id"]))
        except docker.errors.NotFound:  # removed meanwhile (compose recreating it)
            continue
    return infos


def _service(info: Mapping[str, Any]) -> str:
    return (info.get("Config") or {}).get("Labels", {}).get(COMPOSE_SERVICE_LABEL, "?")


def _published_ports(info: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    for bindings in ((info.get("HostConfig") or {}).get("PortBindings") or {}).values():
        for b in bindings or []:
            if b.get("HostPort", "").isdigit():
                ports.add(int(b["HostPort"]))
    return ports


def check_ports(prep: Prepared, own: list[dict[str, Any]]) -> list[Problem]:
    """Every host port the plan publishes must be free (or held by this very project)."""
    from stack.dev.ports import holder, port_free

    ours = set().union(*(_published_ports(c) for c in own)) if own else set()
    problems = []
    seen: dict[int, str] = {}
    for svc in prep.plan.services:
        port = svc.host_port
        if port is None:
            continue
        if port in seen:
            problems.append(
                Problem(
                    f"service {svc.name}",
                    f"host port {port} ({svc.expose}) is also used by {seen[port]}",
                    f"give {svc.expose} another value in .env",
                )
            )
            continue
        seen[port] = svc.name
        if port in ours or port_free(port):
            continue
        who = _container_holding(port) or holder(port) or "an unknown process"
        problems.append(
            Problem(
                f"service {svc.name}",
                f"host port 127.0.0.1:{port} ({svc.expose}) is taken by {who}",
                f"stop it, or set {svc.expose}=<free port> in .env (or the environment)",
            )
        )
    return problems


def _container_holding(port: int) -> str | None:
    for info in _client().api.containers():
        for binding in info.get("Ports") or []:
            if binding.get("PublicPort") == port:
                name = (info.get("Names") or ["?"])[0].lstrip("/")
                labels = info.get("Labels") or {}
                project = labels.get(COMPOSE_PROJECT_LABEL)
                extra = f" of compose project {project}" if project else ""
                return f"container {name}{extra}"
    return None


def check_volumes(prep: Prepared) -> list[Problem]:
    """A data volume made by another image (engine or stand-in) is refused."""
    import docker

    api = _client().api
    problems = []
    for svc in prep.plan.services:
        expected = _data_identity(svc)
        for vol in svc.volumes:
            try:
                info = api.inspect_volume(vol.name)
            except docker.errors.NotFound:
                continue
            labels = info.get("Labels") or {}
            recorded = labels.get(p.DATA_LABEL)
            if recorded and recorded != expected:
                problems.append(
                    Problem(
                        f"service {svc.name}",
                        f"volume {vol.name} holds data created by {recorded} "
                        f"({labels.get(p.DATA_REF_LABEL, '?')}); this run would start "
                        f"{expected} ({svc.run_image}) on it, and data directories of different "
                        "engines or builds are not interchangeable",
                        "switch back to the image that created it, or wipe it with "
                        f"`invoke dev.reset --yes --project {prep.plan.project}`",
                    )
                )
    return problems


def _data_identity(svc: p.DevService) -> str:
    family = "stand-in" if svc.image_kind == "standin" else "upstream"
    return f"{svc.image} ({family})"


def ensure_volumes(prep: Prepared) -> None:
    import docker

    api = _client().api
    for svc in prep.plan.services:
        for vol in svc.volumes:
            try:
                api.inspect_volume(vol.name)
            except docker.errors.NotFound:
                labels = {
                    **prep.labels,
                    p.DEV_PROJECT_LABEL: prep.plan.project,
                    p.DATA_LABEL: _data_identity(svc),
                    p.DATA_REF_LABEL: svc.run_image,
                }
                api.create_volume(name=vol.name, labels=labels)


# ----------------------------------------------------------------------------- up


@dataclass
class Row:
    """One line of the status table."""

    service: str
    state: str
    health: str
    url: str
    credentials: str
    image: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def up(opts: DevOptions) -> list[Row]:
    """Start the selected middleware and wait until every service is ready."""
    start = time.monotonic()
    return start_prepared(prepare(opts), opts, started=start)


def start_prepared(prep: Prepared, opts: DevOptions, *, started: float | None = None) -> list[Row]:
    """Check, start and wait for an already prepared plan (see :func:`prepare`)."""
    import tempfile

    from stack.compose.cli import find_compose

    start = time.monotonic() if started is None else started
    compose = find_compose()
    _print_settings(prep, opts.out)
    own = project_containers(opts.project)
    stale = sorted({_service(c) for c in own} - set(prep.plan.names()))
    problems = check_ports(prep, own) + check_volumes(prep)
    if problems:
        raise ProblemsError("dev.up cannot start (nothing was started)", problems)
    for name, why in prep.plan.skipped:
        opts.out(f"  skipped {name}: {why}")
    for note in prep.plan.notes:
        opts.out(f"  note: {note}")
    if stale:
        opts.out(f"  removing services of the previous selection: {', '.join(stale)}")
    pull(prep, opts)
    ensure_volumes(prep)
    args = compose_args(prep, "up", "-d", "--no-build", "--pull", "never", "--remove-orphans")
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            compose.argv(*args), env=compose_env(), stdout=log, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_ready(prep, opts, proc, log, deadline=start + opts.timeout)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
    rows = status_rows(prep)
    opts.out(f"ready in {time.monotonic() - start:.1f} s")
    return rows


def pull(prep: Prepared, opts: DevOptions) -> None:
    """Pull, before anything starts, the required images that are not local (online only)."""
    from stack.compose.cli import run_compose
    from stack.errors import ComposeError

    wanted = [s for s in prep.plan.services if s.needs_pull]
    if not wanted:
        return
    opts.out(f"  pulling {', '.join(s.run_image for s in wanted)}")
    try:
        run_compose(compose_args(prep, "pull", *(s.name for s in wanted)), env=compose_env())
    except ComposeError as exc:
        raise DevError(
            f"cannot pull {', '.join(s.run_image for s in wanted)} (nothing was started):\n"
            f"{exc.message}",
            hint="build offline stand-ins (`invoke images.build`) and set STACK_OFFLINE=1, "
            "or map the registry to a mirror with STACK_REGISTRY_MIRRORS",
        ) from None


def _print_settings(prep: Prepared, out: Callable[[str], None]) -> None:
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
        secret = "PASSWORD" in name or "KEY" in name
        shown = "****" if secret and value else value
        out(f"  {name:<{width}} = {shown:<14} ({s.source(name)})")
    others = [x for x in s.overridden() if x.name not in names]
    if others:
        out(f"  ... and {len(others)} more overridden: {', '.join(x.name for x in others[:8])}")


def _state_of(info: Mapping[str, Any]) -> tuple[str, str, int | None]:
    state = info.get("State") or {}
    health = (state.get("Health") or {}).get("Status", "")
    return state.get("Status", "?"), health, state.get("ExitCode")


def wait_ready(
    prep: Prepared,
    opts: DevOptions,
    proc: subprocess.Popen[str] | None,
    log: Any = None,
    *,
    deadline: float,
) -> None:
    """Poll until every planned service is ready, or raise a report naming the failures."""
    from stack.dev.probes import probe

    wanted = prep.plan.names()
    shown: dict[str, str] = {}
    proven: dict[str, str] = {}
    compose_output = ""
    compose_rc: int | None = None
    t0 = time.monotonic()
    while True:
        if proc is not None and compose_rc is None and proc.poll() is not None:
            compose_rc = proc.returncode
            if log is not None:
                log.seek(0)
                compose_output = log.read()
        infos = {_service(c): c for c in project_containers(prep.plan.project)}
        failures: list[tuple[str, str]] = []
        for name in wanted:
            info = infos.get(name)
            if info is None:
                line = "not created yet"
            else:
                status, health, code = _state_of(info)
                restarts = info.get("RestartCount", 0)
                line = status + (f" ({health})" if health else "")
                # Until `compose up` returns, a container may still show the state of its
                # previous run (stopped, unhealthy): judge only after compose is done.
                settled = proc is None or compose_rc is not None
                broken = _broken_healthcheck(info)
                if broken:
                    failures.append((name, broken))
                elif settled and health == "unhealthy":
                    failures.append((name, "health check reports unhealthy"))
                elif settled and (
                    status in ("exited", "dead") or (status == "restarting" and restarts)
                ):
                    failures.append((name, f"container {status} (exit code {code})"))
                elif status == "running" and health in ("", "healthy") and name not in proven:
                    result = probe(prep.plan.by_name(name))
                    if result.ok:
                        proven[name] = result.detail
                    elif result.auth_failed:
                        failures.append((name, _auth_message(prep, name, result.detail)))
                    else:
                        line += " (login not yet possible)"
                if name in proven:
                    line = f"ready: {proven[name]}"
            if shown.get(name) != line:
                shown[name] = line
                opts.out(f"  [{time.monotonic() - t0:5.1f}s] {name}: {line}")
        if failures:
            raise DevError(failure_report(prep, failures, infos))
        if len(proven) == len(wanted) and (proc is None or compose_rc is not None):
            if compose_rc:
                raise DevError(
                    f"docker compose up failed (exit {compose_rc}):\n{compose_output.strip()}"
                )
            return
        if compose_rc not in (None, 0) and len(proven) < len(wanted):
            raise DevError(
                f"docker compose up failed (exit {compose_rc}):\n{compose_output.strip()}\n"
                + failure_report(prep, [(n, "not ready") for n in wanted if n not in proven], infos)
            )
        if time.monotonic() > deadline:
            late = [
                (n, f"not ready after {opts.timeout:.0f} s: {shown.get(n)}")
                for n in wanted
                if n not in proven
            ]
            raise DevError(
                failure_report(prep, late, infos), hint="raise --timeout, or see the log above"
            )
        time.sleep(0.25)


def _broken_healthcheck(info: Mapping[str, Any]) -> str | None:
    """A health check that cannot even run in this image (it would never turn healthy)."""
    log = ((info.get("State") or {}).get("Health") or {}).get("Log") or []
    if log and log[-1].get("ExitCode") == -1:
        output = log[-1].get("Output") or ""
        if "executable file not found" in output or "no such file or directory" in output:
            return "its health check cannot run in this image (a command is missing)"
    return None


def _auth_message(prep: Prepared, name: str, detail: str) -> str:
    svc = prep.plan.by_name(name)
    var = svc.credential.password_var if svc.credential else None
    vols = ", ".join(v.name for v in svc.volumes) or "its data volume"
    return (
        f"the server is up but refuses the configured credentials ({detail}). "
        f"Its data volume {vols} was initialised earlier with another password; the image "
        f"only applies {var or 'the password'} on first start. Fix: set {var or 'it'} back "
        f"to the old value, or wipe the data with `invoke dev.reset --yes --project "
        f"{prep.plan.project}`"
    )


def failure_report(
    prep: Prepared, failures: list[tuple[str, str]], infos: Mapping[str, Mapping[str, Any]]
) -> str:
    """Name each failing service, its last health output and the tail of its log."""
    api = _client().api
    parts = [f"{len(failures)} service(s) failed to become ready:"]
    for name, why in failures:
        parts.append(f"\n== {name}: {why}")
        info = infos.get(name)
        if not info:
            continue
        health = (info.get("State") or {}).get("Health") or {}
        log = health.get("Log") or []
        if log:
            last = log[-1]
            parts.append(
                f"   last health check (exit {last.get('ExitCode')}): "
                f"{(last.get('Output') or '').strip()[:500]}"
            )
        try:
            tail = api.logs(info["Id"], tail=20).decode(errors="replace").rstrip()
        except Exception as exc:
            tail = f"(logs unavailable: {exc})"
        parts.append("   log tail:\n" + "\n".join("   | " + ln for ln in tail.splitlines()))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- status


def status_rows(prep: Prepared) -> list[Row]:
    """One row per selected service (running or not), skipped ones, and stale ones."""
    infos = {_service(c): c for c in project_containers(prep.plan.project)}
    rows = []
    for svc in prep.plan.services:
        info = infos.get(svc.name)
        if info is None:
            state, health = "not created", ""
        else:
            status, health, code = _state_of(info)
            state = status if status != "exited" else f"exited ({code})"
        cred = svc.credential
        creds = ""
        if cred and cred.password_var:
            creds = f"{cred.password_var} ({prep.settings.source(cred.password_var)})"
        rows.append(
            Row(
                svc.name,
                state,
                health or "-",
                svc.url,
                creds,
                f"{svc.run_image} [{svc.image_kind}]",
            )
        )
    for name, why in prep.plan.skipped:
        rows.append(Row(name, "skipped", "-", "", "", detail=why))
    for name, ref, remedy in prep.plan.missing:
        rows.append(Row(name, "image missing", "-", "", "", detail=f"{ref}: {remedy}"))
    for name in sorted(set(infos) - set(prep.plan.names())):
        status, health, _ = _state_of(infos[name])
        rows.append(
            Row(
                name,
                f"stale ({status})",
                health or "-",
                ", ".join(f"127.0.0.1:{x}" for x in sorted(_published_ports(infos[name]))),
                "",
                detail="not in the current selection; `invoke dev.up` removes it",
            )
        )
    return rows


def status(opts: DevOptions) -> list[Row]:
    """Rows for the current selection, even when some of its images are missing."""
    return status_rows(prepare(opts, allow_missing=True))


def table(rows: list[Row]) -> str:
    """A plain-text table of the rows."""
    headers = ["SERVICE", "STATE", "HEALTH", "URL", "CREDENTIALS", "IMAGE / NOTE"]
    data = [[r.service, r.state, r.health, r.url, r.credentials, r.image or r.detail] for r in rows]
    widths = [
        max(len(h), *(len(d[i]) for d in data)) if data else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for d in data:
        lines.append("  ".join(c.ljust(w) for c, w in zip(d, widths, strict=True)).rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------- down/reset/logs


def down(opts: DevOptions) -> None:
    """Stop and remove the project's containers and networks; data volumes stay.

    Works from the project name alone (no plan needed, so it also works when an
    image went missing).  ``-v`` only removes anonymous volumes: the data volumes
    are external to compose and are removed by :func:`reset` alone.
    """
    import tempfile

    from stack.compose.cli import run_compose

    with tempfile.TemporaryDirectory(prefix="stack-down-") as empty:
        run_compose(
            ["-p", opts.project, "--project-directory", empty, "down", "-v", "--remove-orphans"],
            env=compose_env(),
            cwd=Path(empty),
        )


def reset(opts: DevOptions) -> list[str]:
    """``down``, then remove every data volume of the project; returns the removed names."""
    down(opts)
    api = _client().api
    removed = []
    vols = (
        api.volumes(filters={"label": f"{p.DEV_PROJECT_LABEL}={opts.project}"}).get("Volumes") or []
    )
    for vol in vols:
        api.remove_volume(vol["Name"], force=True)
        removed.append(vol["Name"])
    return sorted(removed)


def logs(opts: DevOptions, service: str | None, follow: bool) -> int:
    from stack.compose.cli import find_compose

    prep = prepare(opts)
    if service and service not in prep.plan.names():
        raise DevError(
            f"no service {service!r} in the current selection",
            hint="choose one of: " + ", ".join(prep.plan.names()),
        )
    args = [
        "logs",
        "--tail",
        "200",
        *(["--follow"] if follow else []),
        *([service] if service else []),
    ]
    argv = find_compose().argv(*compose_args(prep, *args))
    return subprocess.call(argv, env=compose_env(), stdout=sys.stdout, stderr=sys.stderr)
