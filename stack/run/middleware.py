"""The dev middleware as the backend sees it: endpoints, roles, and the "is it up" check.

Everything comes from the same plan as ``dev.up`` (:func:`stack.dev.prepare.derive`);
no service name is written here.  A mode's *roles* resolve against that plan:

* ``database``: the planned services whose template profile is ``DB_TYPE``;
* ``vector_store``: those whose profile is ``VECTOR_STORE`` (none for a hosted store);
* ``redis``: the profile-less services whose ``x-stack-dev`` scheme is ``redis``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stack.dev.plan import DevService, Plan
from stack.errors import Problem
from stack.run.endpoints import HOST, Endpoint

CHECK_BUDGET = 1.5  # seconds for the whole check: a down service fails well within 2 s


@dataclass(frozen=True)
class DevView:
    """The plan plus the template data needed to resolve roles."""

    project: str
    plan: Plan
    raw: Mapping[str, Any]
    db_type: str
    vector_store: str

    def endpoints(self) -> dict[str, Endpoint]:
        return endpoints(self.plan.services)

    def role_services(self, role: str) -> list[DevService]:
        return resolve_role(role, self.plan, self.raw, self.db_type, self.vector_store)


def endpoints(services: Iterable[DevService]) -> dict[str, Endpoint]:
    """Container name -> published endpoint, for every published planned service."""
    return {
        s.name: Endpoint(s.name, s.container_port, s.host_port)
        for s in services
        if s.container_port and s.host_port
    }


def resolve_role(
    role: str, plan: Plan, raw: Mapping[str, Any], db_type: str, vector_store: str
) -> list[DevService]:
    """The planned services that fill ``role`` (see the module docstring)."""
    services = raw.get("services") or {}
    out = []
    for svc in plan.services:
        profiles = (services.get(svc.name) or {}).get("profiles") or []
        if (
            (role == "database" and db_type in profiles)
            or (role == "vector_store" and vector_store in profiles)
            or (role == "redis" and not profiles and svc.scheme == "redis")
        ):
            out.append(svc)
    return out


def view(
    project: str,
    *,
    environ: Mapping[str, str],
    dotenv: Any,
    defs: Any = None,
    present: Callable[[str], bool] | None = None,
) -> DevView:
    """The dev plan of ``project`` for these settings: :func:`stack.dev.prepare.plan_services`,
    the derivation ``dev.up`` runs, on the same settings and template.

    Two inputs are simplified because ``run.*`` reads only names and ports from the plan, and
    every ``run.*`` start pays for them (measured: 0.2-0.4 s of a ~2 s api start):

    * the interpolated production config (``docker compose config``) only feeds data volumes
      and login credentials: an empty service config stands in for it;
    * which images exist only decides whether optional services are skipped and what a
      stand-in folds in: every image counts as present (a service that is not running
      fails the TCP check anyway).
    """
    from stack import paths
    from stack.dev.plan import raw_template
    from stack.dev.prepare import Images, Sources, definitions, plan_services
    from stack.dev.settings import resolve

    settings = resolve(defs or definitions(), environ=environ, dotenv=dotenv)
    raw = raw_template(paths.TEMPLATE.read_text(encoding="utf-8"))
    stub: dict[str, Any] = {"services": {name: {} for name in raw.get("services") or {}}}
    plan = plan_services(
        Sources(settings, raw, stub), project, Images(present or (lambda _ref: True))
    )
    return DevView(project, plan, raw, settings["DB_TYPE"], settings["VECTOR_STORE"])


def needed(dev: DevView, roles: Iterable[str]) -> list[DevService]:
    """The services the roles need, in plan order, without duplicates."""
    seen: dict[str, DevService] = {}
    for role in roles:
        for svc in dev.role_services(role):
            seen.setdefault(svc.name, svc)
    return [s for s in dev.plan.services if s.name in seen]


def check_up(services: Iterable[DevService], project: str, mode: str) -> list[Problem]:
    """A TCP connect to each published service; a refused or silent port is a problem.

    The whole check stays within :data:`CHECK_BUDGET` seconds.
    """
    problems = []
    deadline = time.monotonic() + CHECK_BUDGET
    fix = "invoke dev.up" + ("" if project == "stack-dev" else f" --project {project}")
    for svc in services:
        if not svc.host_port:
            continue
        left = max(0.05, deadline - time.monotonic())
        try:
            with socket.create_connection((HOST, svc.host_port), timeout=min(left, 0.5)):
                pass
        except OSError as exc:
            problems.append(
                Problem(
                    f"service {svc.name}",
                    f"MODE={mode} needs {svc.name}, but {HOST}:{svc.host_port} ({svc.expose}) "
                    f"does not answer ({exc.strerror or type(exc).__name__})",
                    f"start the dev middleware: `{fix}` (or pass --no-check)",
                )
            )
    return problems
