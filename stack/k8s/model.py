"""Gather what the manifests are made from: the compose model as compose itself reads it.

This is the only impure module of the package (it reads files and runs
``docker compose config``, which needs no engine); :mod:`stack.k8s.render` is pure.

* ``services``: the production compose file (rendered fresh from the template and the
  definitions), interpolated by ``docker compose config`` with the profiles of the
  selected ``DB_TYPE`` and ``VECTOR_STORE`` and the user's ``--env-file``, exactly as
  ``docker compose --env-file FILE up`` would see it;
* ``sources``: for each service's variable, the definitions variable it is taken from
  (``API_KEY: ${SANDBOX_API_KEY:-...}`` -> ``SANDBOX_API_KEY``), from the same file
  before interpolation;
* ``values``: what compose substitutes for ``${VAR:-default}`` of every definitions
  variable, found by letting compose interpolate a probe document (so a ``.env`` is read
  by compose's own rules, quotes, escapes and all).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack import paths
from stack.env.model import Definitions
from stack.errors import ComposeError

_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}$")
#: Files next to the template that a service mounts (read into ConfigMaps).
PROJECT_DIR = paths.COMPOSE_DIR


@dataclass
class Inputs:
    """Everything :func:`stack.k8s.render.render` needs, already read."""

    defs: Definitions
    services: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, str]]
    values: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # project-relative path -> text
    mirrors: dict[str, str] = field(default_factory=dict)
    hint_ports: dict[str, list[int]] = field(default_factory=dict)  # x-stack-dev ports


def _compose(args: list[str], env_file: Path | None, env: Mapping[str, str], doc: str) -> Any:
    from stack.compose.cli import run_compose
    from stack.compose.validate import isolated_env

    with tempfile.TemporaryDirectory(prefix="stack-k8s-") as tmp:
        path = Path(tmp) / "docker-compose.yaml"
        path.write_text(doc, encoding="utf-8")
        if env_file is None:
            env_file = Path(tmp) / "empty.env"
            env_file.write_text("", encoding="utf-8")
        argv = ["-f", str(path), "--project-directory", str(PROJECT_DIR)]
        argv += ["--env-file", str(env_file), "-p", "stack-k8s", *args]
        proc = run_compose(argv, env=isolated_env(env), check=False)
    if proc.returncode != 0:
        raise ComposeError(
            f"docker compose config failed:\n{proc.stderr.strip()}",
            hint="fix the .env given with --env-file, or run `invoke release.compose`",
        )
    return json.loads(proc.stdout)


def probe_document(defs: Definitions) -> str:
    """A compose file with one service whose environment is ``V: ${V:-default}`` per variable."""
    from stack.compose.render import compose_literal, yaml_scalar

    lines = ["services:", "  probe:", "    image: busybox:1.36.1", "    environment:"]
    for var in defs:
        if var.interpolated:
            continue
        try:
            lines.append(
                f"      {var.name}: "
                + yaml_scalar(f"${{{var.name}:-{compose_literal(var.default)}}}")
            )
        except ValueError:
            continue  # release.compose reports such a default; the raw default is used
    return "\n".join(lines) + "\n"


def resolve_values(
    defs: Definitions, env_file: Path | None, env: Mapping[str, str]
) -> dict[str, str]:
    """The value compose gives ``${VAR:-default}`` for every definitions variable."""
    data = _compose(["config", "--format", "json"], env_file, env, probe_document(defs))
    found = data["services"]["probe"].get("environment") or {}
    return {v.name: str(found.get(v.name, v.default) or "") for v in defs}


def sources_of(compose_text: str) -> dict[str, dict[str, str]]:
    """Per service: container variable -> the variable its ``${VAR...}`` reads."""
    import yaml

    raw = yaml.safe_load(compose_text) or {}
    out: dict[str, dict[str, str]] = {}
    for name, svc in (raw.get("services") or {}).items():
        env = (svc or {}).get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env if "=" in item)
        out[name] = {
            key: m.group(1)
            for key, value in env.items()
            if isinstance(value, str) and (m := _REF.match(value.strip()))
        }
    return out


def gather(
    defs: Definitions,
    compose_text: str,
    template_text: str,
    *,
    env_file: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    mirrors: Mapping[str, str] | None = None,
) -> Inputs:
    """Read everything for a rendering (``overrides`` beat ``env_file``, as a shell would)."""
    env = dict(overrides or {})
    values = resolve_values(defs, env_file, env)
    profiles = [values.get("DB_TYPE", ""), values.get("VECTOR_STORE", "")]
    args = [a for p in profiles if p for a in ("--profile", p)]
    data = _compose([*args, "config", "--format", "json"], env_file, env, compose_text)
    services = data.get("services") or {}
    files: dict[str, str] = {}
    for svc in services.values():
        for vol in svc.get("volumes") or []:
            if vol.get("type") != "bind":
                continue
            src = Path(vol["source"])
            try:
                rel = src.resolve().relative_to(PROJECT_DIR.resolve())
            except ValueError:
                continue
            vol["source"] = "./" + rel.as_posix()  # no checkout path reaches a manifest
            targets = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for path in targets:
                key = path.resolve().relative_to(PROJECT_DIR.resolve()).as_posix()
                if rel.parts and rel.parts[0] == "volumes":
                    continue
                files[key] = path.read_text(encoding="utf-8")
    conf = PROJECT_DIR / "nginx" / "templates" / "default.conf.template"
    if conf.is_file():
        files["nginx/templates/default.conf.template"] = conf.read_text(encoding="utf-8")
    from stack.compose.hints import hints

    ports = {
        name: [p for p in (h.port, h.health_port) if p] for name, h in hints(template_text).items()
    }
    return Inputs(
        defs, services, sources_of(compose_text), values, files, dict(mirrors or {}), ports
    )
