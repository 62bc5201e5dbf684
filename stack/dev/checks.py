"""What the engine holds for a dev project, and the checks made before anything starts:
host ports free (or held by this very project), data volumes made by the same image."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stack.dev import plan as p
from stack.errors import DevError, Problem

if TYPE_CHECKING:
    from stack.dev.options import DevOptions
    from stack.dev.prepare import Prepared

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_HASH_LABEL = "com.docker.compose.config-hash"


def api() -> Any:
    """The low-level API of the process-wide docker SDK client."""
    from stack.engine.client import client

    return client().api


def project_containers(project: str) -> list[dict[str, Any]]:
    """Inspect data of every container of compose project ``project``."""
    import docker

    c = api()
    found = c.containers(all=True, filters={"label": f"{COMPOSE_PROJECT_LABEL}={project}"})
    infos = []
    for summary in found:
        try:
            infos.append(c.inspect_container(summary["Id"]))
        except docker.errors.NotFound:  # removed meanwhile (compose recreating it)
            continue
    return infos


def service_of(info: Mapping[str, Any]) -> str:
    return str((info.get("Config") or {}).get("Labels", {}).get(COMPOSE_SERVICE_LABEL, "?"))


def published_ports(info: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    for bindings in ((info.get("HostConfig") or {}).get("PortBindings") or {}).values():
        for b in bindings or []:
            if b.get("HostPort", "").isdigit():
                ports.add(int(b["HostPort"]))
    return ports


@dataclass
class Presence:
    """What exists of one dev project: containers, networks, data volumes (names)."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.volumes)


def presence(project: str) -> Presence:
    """The project's containers and networks (compose label) and data volumes (ours)."""
    c = api()
    by_compose = {"label": f"{COMPOSE_PROJECT_LABEL}={project}"}
    return Presence(
        sorted(x["Names"][0].lstrip("/") for x in c.containers(all=True, filters=by_compose)),
        sorted(n["Name"] for n in c.networks(filters=by_compose)),
        sorted(
            v["Name"]
            for v in c.volumes(filters={"label": f"{p.DEV_PROJECT_LABEL}={project}"}).get("Volumes")
            or []
        ),
    )


def known_projects() -> list[str]:
    """Names of the dev projects the engine holds anything of (container or data volume)."""
    c = api()
    names = {
        (x.get("Labels") or {}).get(p.DEV_PROJECT_LABEL, "")
        for x in c.containers(all=True, filters={"label": p.DEV_PROJECT_LABEL})
    }
    for vol in c.volumes(filters={"label": p.DEV_PROJECT_LABEL}).get("Volumes") or []:
        names.add((vol.get("Labels") or {}).get(p.DEV_PROJECT_LABEL, ""))
    return sorted(names - {""})


def require_existing(opts: DevOptions, action: str, *, running: bool = False) -> Presence:
    """What exists of the project; a DevError naming the existing ones when nothing does.

    ``running``: containers are needed (``dev.logs``); a stopped project is an error too.
    """
    found = presence(opts.project)
    exists = bool(found) or opts.project_dir.exists()
    if found.containers or (exists and not running):
        return found
    if exists:
        kept = f"; its data volumes {', '.join(found.volumes)} are kept" if found.volumes else ""
        raise DevError(
            f"{action}: the dev middleware {opts.project} has no containers (it is stopped"
            f"{kept}): nothing to show",
            hint=f"start it with `invoke dev.up --project {opts.project}`",
        )
    others = [name for name in known_projects() if name != opts.project]
    if others:
        hint = (
            f"existing dev middleware: {', '.join(others)}; pass one with --project NAME, "
            f"or start this one with `invoke dev.up --project {opts.project}`"
        )
    else:
        hint = (
            f"no dev middleware exists yet; start it with `invoke dev.up --project {opts.project}`"
        )
    raise DevError(
        f"{action}: no dev middleware named {opts.project} exists (no container, network or "
        f"data volume of compose project {opts.project}, no state in {opts.project_dir})",
        hint=hint,
    )


def check_ports(prep: Prepared, own: list[dict[str, Any]]) -> list[Problem]:
    """Every host port the plan publishes must be free (or held by this very project)."""
    from stack.dev.ports import holder, port_free

    ours = set().union(*(published_ports(c) for c in own)) if own else set()
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
        who = container_holding(port) or holder(port) or "an unknown process"
        problems.append(
            Problem(
                f"service {svc.name}",
                f"host port 127.0.0.1:{port} ({svc.expose}) is taken by {who}",
                f"stop it, or set {svc.expose}=<free port> in .env (or the environment)",
            )
        )
    return problems


def container_holding(port: int) -> str | None:
    for info in api().containers():
        for binding in info.get("Ports") or []:
            if binding.get("PublicPort") == port:
                name = (info.get("Names") or ["?"])[0].lstrip("/")
                labels = info.get("Labels") or {}
                project = labels.get(COMPOSE_PROJECT_LABEL)
                extra = f" of compose project {project}" if project else ""
                return f"container {name}{extra}"
    return None


def data_identity(svc: p.DevService) -> str:
    family = "stand-in" if svc.image_kind == "standin" else "upstream"
    return f"{svc.image} ({family})"


def volume_labels(prep: Prepared) -> dict[str, dict[str, str] | None]:
    """Labels of each planned data volume (``None``: it does not exist yet)."""
    import docker

    c = api()
    out: dict[str, dict[str, str] | None] = {}
    for vol in prep.plan.volumes():
        try:
            out[vol.name] = c.inspect_volume(vol.name).get("Labels") or {}
        except docker.errors.NotFound:
            out[vol.name] = None
    return out


def check_volumes(
    prep: Prepared, found: Mapping[str, dict[str, str] | None] | None = None
) -> list[Problem]:
    """A data volume made by another image (engine or stand-in) is refused."""
    found = volume_labels(prep) if found is None else found
    problems = []
    for svc in prep.plan.services:
        expected = data_identity(svc)
        for vol in svc.volumes:
            labels = found.get(vol.name) or {}
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


def ensure_volumes(prep: Prepared, found: Mapping[str, dict[str, str] | None]) -> None:
    """Create the planned data volumes that do not exist yet, labelled with their image."""
    c = api()
    for svc in prep.plan.services:
        for vol in svc.volumes:
            if found.get(vol.name) is None:
                labels = {
                    **prep.labels,
                    p.DEV_PROJECT_LABEL: prep.plan.project,
                    p.DATA_LABEL: data_identity(svc),
                    p.DATA_REF_LABEL: svc.run_image,
                }
                c.create_volume(name=vol.name, labels=labels)
