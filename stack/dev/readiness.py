"""Our own readiness loop and the failure report.

``docker compose up --wait`` fails when a one-shot container finishes and calls services
without a health check healthy, so ``dev.up`` polls the engine itself: health status from
the engine, a real login through the published port (:mod:`stack.dev.probes`), and on
failure a report naming each service, its last health output and the tail of its log.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stack.dev.checks import api, project_containers, service_of
from stack.errors import DevError

if TYPE_CHECKING:
    from stack.dev.options import DevOptions
    from stack.dev.plan import DevService
    from stack.dev.prepare import Prepared
    from stack.dev.probes import ProbeResult

POLL_SECONDS = 0.25


def state_of(info: Mapping[str, Any]) -> tuple[str, str, int | None]:
    """Status, health ('' without a health check) and exit code of a container."""
    st = info.get("State") or {}
    health = (st.get("Health") or {}).get("Status", "")
    return st.get("Status", "?"), health, st.get("ExitCode")


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> int:
    """Terminate ``proc``; kill it when it ignores SIGTERM for ``grace`` s. Its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def wait_ready(
    prep: Prepared,
    opts: DevOptions,
    proc: subprocess.Popen[str] | None,
    log: Any = None,
    *,
    deadline: float,
    first: list[dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll until every planned service is ready, or raise a report naming the failures.

    ``proc`` is the running ``docker compose up`` (``None`` when it was not needed).
    Returns the last inspect data of the project's containers, by service.  ``first``:
    inspect data just taken, used for the first round instead of asking the engine again.
    """
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
        found = first if first is not None else project_containers(prep.plan.project)
        first = None
        infos = {service_of(c): c for c in found}
        results = probe_all(
            [
                prep.plan.by_name(name)
                for name in wanted
                if name not in proven
                and name in infos
                and state_of(infos[name])[:2] in (("running", ""), ("running", "healthy"))
                and not broken_healthcheck(infos[name])
            ]
        )
        failures: list[tuple[str, str]] = []
        for name in wanted:
            info = infos.get(name)
            if info is None:
                line = "not created yet"
            else:
                status, health, code = state_of(info)
                restarts = info.get("RestartCount", 0)
                line = status + (f" ({health})" if health else "")
                # Until `compose up` returns, a container may still show the state of its
                # previous run (stopped, unhealthy): judge only after compose is done.
                settled = proc is None or compose_rc is not None
                broken = broken_healthcheck(info)
                if broken:
                    failures.append((name, broken))
                elif settled and health == "unhealthy":
                    failures.append((name, "health check reports unhealthy"))
                elif settled and (
                    status in ("exited", "dead") or (status == "restarting" and restarts)
                ):
                    failures.append((name, f"container {status} (exit code {code})"))
                elif name in results:
                    result = results[name]
                    if result.ok:
                        proven[name] = result.detail
                    elif result.auth_failed:
                        failures.append((name, auth_message(prep, name, result.detail)))
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
            return infos
        if compose_rc not in (None, 0) and len(proven) < len(wanted):
            raise DevError(
                f"docker compose up failed (exit {compose_rc}):\n{compose_output.strip()}\n"
                + failure_report(prep, [(n, "not ready") for n in wanted if n not in proven], infos)
            )
        if time.monotonic() > deadline:
            late = [
                (n, f"not ready after {opts.timeout:g} s: {shown.get(n)}")
                for n in wanted
                if n not in proven
            ]
            raise DevError(
                failure_report(prep, late, infos), hint="raise --timeout, or see the log above"
            )
        time.sleep(POLL_SECONDS)


def probe_all(services: list[DevService]) -> dict[str, ProbeResult]:
    """Log in to each service, all at once (a round costs the slowest login, not the sum)."""
    from stack.dev.probes import probe

    if len(services) < 2:
        return {svc.name: probe(svc) for svc in services}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        return dict(zip((s.name for s in services), pool.map(probe, services), strict=True))


def broken_healthcheck(info: Mapping[str, Any]) -> str | None:
    """A health check that cannot even run in this image (it would never turn healthy)."""
    log = ((info.get("State") or {}).get("Health") or {}).get("Log") or []
    if log and log[-1].get("ExitCode") == -1:
        output = log[-1].get("Output") or ""
        if "executable file not found" in output or "no such file or directory" in output:
            return "its health check cannot run in this image (a command is missing)"
    return None


def auth_message(prep: Prepared, name: str, detail: str) -> str:
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
    c = api()
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
            tail = c.logs(info["Id"], tail=20).decode(errors="replace").rstrip()
        except Exception as exc:  # the SDK raises many types; the report must still print
            tail = f"(logs unavailable: {exc})"
        parts.append("   log tail:\n" + "\n".join("   | " + ln for ln in tail.splitlines()))
    return "\n".join(parts)
