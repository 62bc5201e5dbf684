"""`invoke doctor`: one screen on whether this machine can run the stack, with fixes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report; ``ok`` is None for information only."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "info"}[self.ok]
        text = f"[{mark}] {self.name:<10} {self.detail}"
        if self.fix and self.ok is not True:
            text += f"\n{'':18}-> {self.fix}"
        return text


def run(environ: Mapping[str, str] | None = None) -> list[Check]:
    """Every check, in order; never raises for an unhealthy machine."""
    env = os.environ if environ is None else environ
    checks = [_engine()]
    engine_ok = checks[0].ok is True
    checks.append(_compose())
    checks.append(_registry(env))
    checks.extend(_images(env) if engine_ok else [])
    checks.append(_ports(env))
    checks.append(_disk())
    return checks


def _engine() -> Check:
    from stack.engine.client import client, engine_alive

    if not engine_alive():
        return Check("engine", False, "no Docker engine answers", "invoke engine.ensure")
    version = client().version()
    return Check(
        "engine", True, f"Docker {version.get('Version')} (API {version.get('ApiVersion')})"
    )


def _compose() -> Check:
    from stack.compose.cli import find_compose
    from stack.errors import ComposeError

    try:
        compose = find_compose()
    except ComposeError as exc:
        return Check("compose", False, exc.message, exc.hint or "")
    return Check("compose", True, f"v{compose.version_str} ({compose.source})")


def _registry(env: Mapping[str, str]) -> Check:
    import socket

    from stack.images.mirror import mirrors_from_env
    from stack.images.resolve import offline

    if offline(env):
        return Check(
            "registry", None, "offline mode (STACK_OFFLINE=1): not probed, nothing is pulled"
        )
    mirror = mirrors_from_env(env).get("docker.io")
    host = mirror.split("/")[0] if mirror else "registry-1.docker.io"
    name, _, port = host.partition(":")
    try:
        with socket.create_connection((name, int(port or 443)), timeout=3):
            pass
    except OSError as exc:
        return Check(
            "registry",
            False,
            f"{host} unreachable ({exc.__class__.__name__})",
            "set STACK_OFFLINE=1 and `invoke images.build`, or STACK_REGISTRY_MIRRORS",
        )
    return Check("registry", True, f"{host} reachable")


def _images(env: Mapping[str, str]) -> list[Check]:
    from stack.images.resolve import resolve_all

    resolved = resolve_all(environ=env)
    by_kind: dict[str, list[str]] = {}
    for name, res in resolved.items():
        by_kind.setdefault(res.kind, []).append(name)
    local = [f"{n} ({r.kind})" for n, r in resolved.items() if r.kind in ("upstream", "standin")]
    missing = by_kind.get("missing", [])
    pull = [n for n, r in resolved.items() if r.needs_pull]
    out = [Check("images", True if local else None, f"present: {', '.join(local) or 'none'}")]
    if missing:
        recipes = sorted({resolved[n].entry.standin or "" for n in missing} - {""})
        fix = (
            "invoke images.build " + " ".join(f"--only {r}" for r in recipes)
            if recipes
            else "configure STACK_REGISTRY_MIRRORS or load the images (docker load)"
        )
        out.append(Check("images", None, f"missing (offline): {', '.join(missing)}", fix))
    if pull:
        out.append(Check("images", None, f"would be pulled: {', '.join(pull)}"))
    return out


def _ports(env: Mapping[str, str]) -> Check:
    from stack import paths
    from stack.dev.ports import holder, port_free
    from stack.dev.settings import resolve
    from stack.env.parse import load_definitions
    from stack.errors import StackError

    defs = load_definitions()
    try:
        settings = resolve(defs, environ=env, dotenv=paths.ROOT / ".env")
    except StackError as exc:
        return Check("settings", False, str(exc).splitlines()[0], "invoke env.check")
    taken = []
    for var in defs:
        if var.name.startswith("EXPOSE_") and var.type.kind == "port":
            value = settings.get(var.name)
            if value.isdigit() and not port_free(int(value)):
                taken.append(f"{value} ({var.name}; {holder(int(value)) or 'unknown holder'})")
    if taken:
        return Check(
            "ports",
            None,
            "in use: " + "; ".join(taken),
            "fine if it is the running dev middleware; else set the EXPOSE_* variable in .env",
        )
    return Check("ports", True, "every EXPOSE_* host port (as configured) is free")


def _disk() -> Check:
    path = "/var/lib/docker" if os.path.isdir("/var/lib/docker") else "/"
    usage = shutil.disk_usage(path)
    free_gb = usage.free / 1e9
    ok = free_gb >= 5
    return Check(
        "disk",
        ok,
        f"{free_gb:.1f} GB free on {path}",
        "free some space (docker system prune removes unused images)" if not ok else "",
    )
