"""`invoke doctor`: one screen on whether this machine can run the stack, with fixes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
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
    """Every check, in order; never raises for an unhealthy machine or broken inputs.

    A check that fails with a :class:`~stack.errors.StackError` (a malformed
    ``STACK_REGISTRY_MIRRORS``, broken definitions, an invalid ``.env``) becomes a FAIL line
    with its fix, and the remaining checks still run.
    """
    env = os.environ if environ is None else environ
    checks = _guarded("engine", _engine)
    engine_ok = checks[0].ok is True
    checks += _guarded("compose", _compose)
    checks += _guarded("registry", lambda: _registry(env))
    if engine_ok:
        checks += _guarded("images", lambda: _images(env))
    checks += _guarded("settings", lambda: _ports(env))
    checks += _guarded("disk", _disk)
    return checks


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    from stack.errors import ProblemsError, StackError

    try:
        result = check()
    except ProblemsError as exc:
        first = str(exc.problems[0]).splitlines()[0] if exc.problems else ""
        more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        return [Check(name, False, f"{exc.title}: {first}{more}", _fix_for(name))]
    except StackError as exc:
        return [Check(name, False, exc.message.splitlines()[0], exc.hint or _fix_for(name))]
    return result if isinstance(result, list) else [result]


def _fix_for(name: str) -> str:
    if name == "settings":
        return "invoke env.check (and restore env/ from git if the definitions are broken)"
    return "see the message above"


def _engine() -> Check:
    from stack.dockerapi import endpoint
    from stack.engine.client import client, engine_alive
    from stack.errors import EngineError

    try:
        where = endpoint().describe()
    except EngineError as exc:
        return Check("engine", False, exc.message, exc.hint or "")
    if not engine_alive():
        return Check(
            "engine", False, f"no Docker engine answers at {where}", "invoke engine.ensure"
        )
    version = client().version()
    return Check(
        "engine",
        True,
        f"Docker {version.get('Version')} (API {version.get('ApiVersion')}) at {where}",
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

    mirrors = mirrors_from_env(env)  # a malformed value fails this line, offline or not
    if offline(env):
        return Check(
            "registry", None, "offline mode (STACK_OFFLINE=1): not probed, nothing is pulled"
        )
    mirror = mirrors.get("docker.io")
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


def _images(env: Mapping[str, str], refs: set[str] | None = None) -> list[Check]:
    """Which catalog images are local, missing, or would be pulled (``refs``: local tags)."""
    from stack.errors import ImageError
    from stack.images.mirror import ENV_VAR
    from stack.images.resolve import resolve_all

    out: list[Check] = []
    try:
        resolved = resolve_all(environ=env, refs=refs)
    except ImageError:  # malformed mirrors (the registry line says so): resolve without them
        env = {k: v for k, v in env.items() if k != ENV_VAR}
        resolved = resolve_all(environ=env, refs=refs)
        out.append(Check("images", None, f"{ENV_VAR} ignored (malformed, see above)"))
    by_kind: dict[str, list[str]] = {}
    for name, res in resolved.items():
        by_kind.setdefault(res.kind, []).append(name)
    # Online, an image that is not local resolves to its upstream ref *to be pulled*.
    local = [
        f"{n} ({r.kind})" for n, r in resolved.items() if r.kind != "missing" and not r.needs_pull
    ]
    missing = by_kind.get("missing", [])
    pull = [n for n, r in resolved.items() if r.needs_pull]
    out.insert(
        0, Check("images", True if local else None, f"present: {', '.join(local) or 'none'}")
    )
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

    defs = load_definitions()  # broken definitions: a FAIL line (see _guarded)
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
