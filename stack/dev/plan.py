"""Derive the dev middleware from the production service definitions (pure).

Nothing about a service is written twice: the dev compose file is computed from
the production template (interpolated by ``docker compose config`` with the
resolved settings) plus each service's ``x-stack-dev`` hint (which container port
to publish on 127.0.0.1, which ``EXPOSE_*`` variable holds the host port, the URL
scheme, and whether the service is optional).

Selection: every ``x-stack-dev`` service without a profile (redis, ssrf_proxy,
sandbox, plugin_daemon), the database whose profile is ``DB_TYPE``, and the
services whose profile is ``VECTOR_STORE`` (milvus brings etcd and minio).
Optional services (sandbox, plugin_daemon) are left out when their image cannot
be had; a required one with no image stops ``dev.up`` before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from stack.compose.render import references

HOST = "127.0.0.1"
HOST_GATEWAY = "host.docker.internal:host-gateway"
DATA_LABEL = "org.stack.data-image"
DATA_REF_LABEL = "org.stack.data-image-ref"
DEV_PROJECT_LABEL = "org.stack.dev-project"


@dataclass(frozen=True)
class DataVolume:
    """A named volume holding one service's data (replaces a ``./volumes/...`` bind)."""

    key: str
    name: str
    target: str
    service: str


@dataclass(frozen=True)
class Credential:
    """Who logs in where, and which setting the password comes from."""

    user: str
    password: str
    database: str
    password_var: str | None


@dataclass(frozen=True)
class DevService:
    """One selected middleware service."""

    name: str
    image: str  # the pinned upstream reference from the template
    run_image: str  # what actually runs (upstream, mirror or stand-in)
    image_kind: str  # upstream | mirror | standin
    container_port: int | None
    expose: str | None
    host_port: int | None
    scheme: str | None
    volumes: tuple[DataVolume, ...] = ()
    credential: Credential | None = None
    needs_pull: bool = False

    @property
    def url(self) -> str:
        if self.host_port is None or not self.scheme:
            return ""
        cred = self.credential
        user = f"{cred.user}@" if cred and cred.user else ""
        path = f"/{cred.database}" if cred and cred.database else ""
        return f"{self.scheme}://{user}{HOST}:{self.host_port}{path}"


@dataclass
class Plan:
    """The dev middleware to run: services, volumes, and what was left out and why."""

    project: str
    services: list[DevService] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    missing: list[tuple[str, str, str]] = field(default_factory=list)  # service, image, remedy
    notes: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def by_name(self, name: str) -> DevService:
        return next(s for s in self.services if s.name == name)

    def volumes(self) -> list[DataVolume]:
        return [v for s in self.services for v in s.volumes]


def select(
    template: Mapping[str, Any], db_type: str, vector_store: str
) -> tuple[list[str], list[str]]:
    """Names of the services ``dev.up`` starts, in template order, plus notes."""
    chosen: list[str] = []
    notes: list[str] = []
    store_found = False
    for name, svc in (template.get("services") or {}).items():
        if not isinstance(svc, Mapping) or "x-stack-dev" not in svc:
            continue
        profiles = svc.get("profiles") or []
        if not profiles or db_type in profiles:
            chosen.append(name)
        elif vector_store in profiles:
            chosen.append(name)
            store_found = True
    if not store_found:
        notes.append(
            f"VECTOR_STORE={vector_store} has no service in the template (a hosted store): "
            "no vector-store container is started"
        )
    return chosen, notes


def raw_template(text: str) -> dict[str, Any]:
    """The template as YAML data, with the anchor line made a harmless empty mapping."""
    import yaml

    from stack.compose.render import ANCHOR_RE

    fixed = ANCHOR_RE.sub("x-shared-env: &shared-api-worker-env {}\n", text, count=1)
    # libyaml's loader when present: same data, ten times faster than the pure one.
    data = yaml.load(fixed, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data if isinstance(data, dict) else {}


def _source_var(raw_value: Any) -> str | None:
    if not isinstance(raw_value, str):
        return None
    refs = references(raw_value)
    return refs[0].name if refs else None


def credential(name: str, raw: Mapping[str, Any], config: Mapping[str, Any]) -> Credential | None:
    """Login details of a database-like service, from its interpolated config."""
    env = {k: _unescape(v) for k, v in (config.get("environment") or {}).items()}
    raw_env = raw.get("environment") or {}
    scheme = (raw.get("x-stack-dev") or {}).get("scheme")
    if scheme == "postgresql":
        return Credential(
            env.get("POSTGRES_USER", "postgres"),
            env.get("POSTGRES_PASSWORD", ""),
            env.get("POSTGRES_DB", env.get("POSTGRES_USER", "postgres")),
            _source_var(raw_env.get("POSTGRES_PASSWORD")),
        )
    if scheme == "mysql":
        return Credential(
            "root",
            env.get("MYSQL_ROOT_PASSWORD", ""),
            env.get("MYSQL_DATABASE", ""),
            _source_var(raw_env.get("MYSQL_ROOT_PASSWORD")),
        )
    if scheme == "redis":
        command = [_unescape(c) for c in config.get("command") or []]
        password = env.get("REDISCLI_AUTH", "")
        if "--requirepass" in command[:-1]:
            password = command[command.index("--requirepass") + 1]
        var = _source_var(raw_env.get("REDISCLI_AUTH"))
        return Credential("", password, "", var)
    return None


def _unescape(value: Any) -> str:
    # `docker compose config` writes every `$` of its output as `$$`.
    return "" if value is None else str(value).replace("$$", "$")


def volume_key(service: str, target: str) -> str:
    tail = re.sub(r"[^A-Za-z0-9]+", "_", PurePosixPath(target).name or "data").strip("_")
    return f"{service}_{tail or 'data'}"


def data_volumes(
    project: str, service: str, config: Mapping[str, Any], data_root: Path
) -> tuple[DataVolume, ...]:
    """Data mounts of a service: binds under ``./volumes/`` and named volumes."""
    out = []
    for mount in config.get("volumes") or []:
        kind, source, target = mount.get("type"), mount.get("source", ""), mount.get("target", "")
        is_data_bind = kind == "bind" and _under(source, data_root)
        if is_data_bind or kind == "volume":
            key = volume_key(service, target)
            out.append(DataVolume(key, f"{project}_{key}", target, service))
    return tuple(out)


def _under(source: str, root: Path) -> bool:
    try:
        Path(source).relative_to(root)
    except ValueError:
        return False
    return True


def render_dev(
    plan: Plan,
    config: Mapping[str, Any],
    *,
    labels: Mapping[str, str],
    data_root: Path,
    inner_api_url: str | None = None,
) -> dict[str, Any]:
    """The dev compose document for ``plan`` (a dict; dump it with :func:`dump`)."""
    selected = set(plan.names())
    services: dict[str, Any] = {}
    base_labels = {**labels, DEV_PROJECT_LABEL: plan.project}
    for svc in plan.services:
        src = dict(config["services"][svc.name])
        out: dict[str, Any] = {}
        for key in (
            "command",
            "entrypoint",
            "environment",
            "healthcheck",
            "user",
            "working_dir",
            "ulimits",
            "cap_add",
            "shm_size",
            "stop_signal",
            "stop_grace_period",
            "tmpfs",
        ):
            if key in src:
                out[key] = src[key]
        out = {"image": svc.run_image, **out}
        if svc.name == "plugin_daemon" and inner_api_url:
            out.setdefault("environment", {})["DIFY_INNER_API_URL"] = inner_api_url
        out["restart"] = "unless-stopped"
        out["labels"] = {**base_labels, "org.stack.service": svc.name}
        out["extra_hosts"] = [HOST_GATEWAY]
        if svc.container_port and svc.host_port:
            out["ports"] = [f"{HOST}:{svc.host_port}:{svc.container_port}"]
        networks = list((src.get("networks") or {"default": None}).keys())
        if svc.host_port and "default" not in networks:
            # An internal-only network cannot publish ports: join the default one too.
            networks.append("default")
        out["networks"] = networks
        deps = {
            name: {k: v for k, v in dep.items() if k in ("condition", "required")}
            for name, dep in (src.get("depends_on") or {}).items()
            if name in selected
        }
        if deps:
            out["depends_on"] = deps
        mounts = []
        data_by_target = {v.target: v for v in svc.volumes}
        for mount in src.get("volumes") or []:
            target = mount.get("target", "")
            if target in data_by_target:
                mounts.append(
                    {"type": "volume", "source": data_by_target[target].key, "target": target}
                )
            else:
                mounts.append(
                    {
                        k: v
                        for k, v in mount.items()
                        if k in ("type", "source", "target", "read_only")
                    }
                )
        if mounts:
            out["volumes"] = mounts
        services[svc.name] = out
    used_networks = sorted({n for s in services.values() for n in s["networks"]})
    top_networks: dict[str, Any] = {}
    for name in used_networks:
        spec = dict((config.get("networks") or {}).get(name) or {})
        net: dict[str, Any] = {"labels": dict(base_labels)}
        if spec.get("internal"):
            net["internal"] = True
        top_networks[name] = net
    volumes = {v.key: {"name": v.name, "external": True} for v in plan.volumes()}
    doc: dict[str, Any] = {"name": plan.project, "services": services, "networks": top_networks}
    if volumes:
        doc["volumes"] = volumes
    return doc


DEV_HEADER = """\
# GENERATED by `invoke dev.up` for compose project {project}: do not edit.
# It is derived from compose/docker-compose-template.yaml and env/ on every
# `invoke dev.up` / `dev.status`; change those (or .env) instead.
"""


def dump(doc: Mapping[str, Any], project: str) -> str:
    """Deterministic YAML text of a dev compose document."""
    import yaml

    body = yaml.safe_dump(
        dict(doc), sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )
    return DEV_HEADER.format(project=project) + body
