"""The status rows of the dev middleware and their plain-text table.

Every selected service gets a row, running or not (never created, stopped, image missing,
skipped), and services of an earlier selection still running show as stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stack.dev.checks import project_containers, published_ports, service_of
from stack.dev.readiness import state_of

if TYPE_CHECKING:
    from stack.dev.prepare import Prepared


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


def status_rows(prep: Prepared, infos: dict[str, dict[str, Any]] | None = None) -> list[Row]:
    """One row per selected service (running or not), skipped ones, and stale ones."""
    if infos is None:
        infos = {service_of(c): c for c in project_containers(prep.plan.project)}
    rows = []
    for svc in prep.plan.services:
        info = infos.get(svc.name)
        if info is None:
            state, health = "not created", ""
        else:
            status, health, code = state_of(info)
            state = status if status != "exited" else f"exited ({code})"
        cred = svc.credential
        creds = ""
        if cred and cred.password_var:
            creds = f"{cred.password_var} ({prep.settings.source(cred.password_var)})"
        image = f"{svc.run_image} [{svc.image_kind}]"
        rows.append(Row(svc.name, state, health or "-", svc.url, creds, image))
    for name, why in prep.plan.skipped:
        rows.append(Row(name, "skipped", "-", "", "", detail=why))
    for name, ref, remedy in prep.plan.missing:
        rows.append(Row(name, "image missing", "-", "", "", detail=f"{ref}: {remedy}"))
    for name in sorted(set(infos) - set(prep.plan.names())):
        status, health, _ = state_of(infos[name])
        rows.append(
            Row(
                name,
                f"stale ({status})",
                health or "-",
                ", ".join(f"127.0.0.1:{x}" for x in sorted(published_ports(infos[name]))),
                "",
                detail="not in the current selection; `invoke dev.up` removes it",
            )
        )
    return rows


HEADERS = ("SERVICE", "STATE", "HEALTH", "URL", "CREDENTIALS", "IMAGE / NOTE")


def table(rows: list[Row]) -> str:
    """A plain-text table of the rows.

    Not rich: its tables fit (wrap or crop) columns to the terminal width, so the same
    status would print differently in a pipe, a CI log and a narrow terminal, and URLs
    would break across lines; this stays byte-identical and greppable, one row a line.
    """
    data = [[r.service, r.state, r.health, r.url, r.credentials, r.image or r.detail] for r in rows]
    widths = [
        max(len(h), *(len(d[i]) for d in data)) if data else len(h) for i, h in enumerate(HEADERS)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)).rstrip()]
    for d in data:
        lines.append("  ".join(c.ljust(w) for c, w in zip(d, widths, strict=True)).rstrip())
    return "\n".join(lines)
