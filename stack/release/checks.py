"""The smoke's checks: over HTTP through nginx's published port only, then through the engine.

Each check returns a :class:`Result` (never raises for a failed expectation), so the table
always shows every row. HTTP goes through ``requests`` (already a dependency of the docker
SDK); the engine is read through the SDK (container state, ``exec`` in the containers).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Services of the backend image that must run as the image's non-root user.
BACKEND = ("api", "worker", "worker_beat")
UID = "1001"
STORAGE = "/app/api/storage"


@dataclass(frozen=True)
class Result:
    """One row of the table."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0


def _timed(name: str, fn: Callable[[], tuple[bool, str]]) -> Result:
    t0 = time.monotonic()
    try:
        ok, detail = fn()
    except Exception as exc:  # a check that crashed is a failed row, not a traceback
        ok, detail = False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    return Result(name, ok, detail, time.monotonic() - t0)


class Http:
    """Requests to the deployment through nginx (``http://127.0.0.1:<port>``)."""

    def __init__(self, base: str, timeout: float) -> None:
        import requests

        self.base = base
        self.deadline = time.monotonic() + timeout
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a configured proxy

    def get(self, path: str, **kw: Any) -> Any:
        return self.session.get(self.base + path, timeout=10, **kw)

    def until(self, what: str, probe: Callable[[], tuple[bool, str]], every: float = 0.5) -> str:
        """Call ``probe`` until it says done or the deadline passes (then raise with its last
        word)."""
        last = "no answer"
        while True:
            try:
                done, last = probe()
            except Exception as exc:
                done, last = False, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            if done:
                return last
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{what}: timed out; last: {last}")
            time.sleep(every)


def health(http: Http) -> tuple[bool, str]:
    def probe() -> tuple[bool, str]:
        r = http.get("/v1/health")
        if r.status_code != 200:
            return False, f"{r.status_code} {r.text[:200]}"
        body = r.json()
        checks = body.get("checks", {})
        return True, "200; " + ", ".join(f"{k} ok" for k, v in checks.items() if v.get("ok"))

    return True, http.until("GET /v1/health", probe)


def web_page(http: Http) -> tuple[bool, str]:
    def probe() -> tuple[bool, str]:
        r = http.get("/")
        found = "ingest-form" in r.text and "search-form" in r.text
        return r.status_code == 200 and found, f"{r.status_code}, {len(r.content)} bytes"

    detail = http.until("GET /", probe)
    return True, f"GET / -> {detail} (dataset box, ingest and search forms)"


def ingest_search(http: Http) -> tuple[bool, str]:
    dataset = "smoke"
    marker = uuid.uuid4().hex[:12]
    text = f"The smoke test indexed this note about lighthouses and tides ({marker})."
    r = http.session.post(
        f"{http.base}/v1/datasets/{dataset}/documents", json={"text": text}, timeout=10
    )
    if r.status_code != 202:
        return False, f"POST documents -> {r.status_code} {r.text[:200]}"
    doc_id = r.json()["id"]

    def indexed() -> tuple[bool, str]:
        status = http.get(f"/v1/datasets/{dataset}/documents/{doc_id}").json().get("status")
        if status == "error":
            raise RuntimeError(f"document {doc_id} failed to index")
        return status == "completed", str(status)

    http.until(f"indexing of {doc_id}", indexed)
    hits = http.get(
        f"/v1/datasets/{dataset}/search", params={"q": f"lighthouses tides {marker}", "top_k": 3}
    ).json()["results"]
    ids = [h["document_id"] for h in hits]
    if doc_id not in ids:
        return False, f"search did not return {doc_id}: {ids}"
    return True, f"202 -> completed -> search rank {ids.index(doc_id) + 1} of {len(ids)}"


def beat_advances(http: Http) -> tuple[bool, str]:
    def last_run() -> str | None:
        return (http.get("/v1/health").json().get("beat") or {}).get("last_run")

    def ran() -> tuple[bool, str]:
        lr = last_run()
        return lr is not None, str(lr)

    first = http.until("beat's first run", ran)

    def advanced() -> tuple[bool, str]:
        lr = last_run()
        return lr not in (None, first), str(lr)

    then = http.until("beat's next run", advanced, every=1.0)
    return True, f"last run {first} -> {then}"


def _containers(client: Any, project: str, service: str) -> list[Any]:
    return client.containers.list(
        all=True,
        filters={
            "label": [
                f"com.docker.compose.project={project}",
                f"com.docker.compose.service={service}",
            ]
        },
    )


def _exec(ctr: Any, argv: list[str]) -> str:
    rc, out = ctr.exec_run(argv)
    text = out.decode(errors="replace").strip()
    if rc != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {rc}: {text[:200]}")
    return text


def init_permissions(client: Any, project: str) -> tuple[bool, str]:
    found = _containers(client, project, "init_permissions")
    if not found:
        return False, "no init_permissions container"
    state = found[0].attrs["State"]
    if state.get("Status") != "exited" or state.get("ExitCode") != 0:
        return False, f"init_permissions is {state.get('Status')} (exit {state.get('ExitCode')})"
    api = _containers(client, project, "api")
    owner = _exec(api[0], ["stat", "-c", "%u:%g", STORAGE]) if api else "no api container"
    ok = owner.split(":")[0] == UID
    return ok, f"exited 0; {STORAGE} owned by {owner}"


def runs_as(client: Any, project: str) -> tuple[bool, str]:
    uids = {}
    for service in BACKEND:
        found = _containers(client, project, service)
        if not found:
            uids[service] = "missing"
            continue
        status = _exec(found[0], ["cat", "/proc/1/status"])
        line = next((x for x in status.splitlines() if x.startswith("Uid:")), "Uid: ?")
        uids[service] = line.split()[1]  # the real uid of the main process
    ok = all(u == UID for u in uids.values())
    return ok, ", ".join(f"{s} uid {u}" for s, u in uids.items())


def run_all(base: str, client: Any, project: str, timeout: float) -> list[Result]:
    """Every check in order; HTTP ones share one deadline of ``timeout`` seconds."""
    http = Http(base, timeout)
    results = [_timed("GET /v1/health = 200", lambda: health(http))]
    results.append(_timed("web page = 200", lambda: web_page(http)))
    results.append(_timed("ingest -> index -> search", lambda: ingest_search(http)))
    results.append(_timed("beat's periodic task ran", lambda: beat_advances(http)))
    results.append(_timed("init_permissions + storage", lambda: init_permissions(client, project)))
    results.append(_timed("api/worker/beat as uid 1001", lambda: runs_as(client, project)))
    return results


def table(results: list[Result]) -> str:
    """Plain-text table (stable, greppable; see stack.dev.status.table for why not rich)."""
    headers = ("CHECK", "RESULT", "SECONDS", "DETAIL")
    rows = [(r.name, "ok" if r.ok else "FAILED", f"{r.seconds:.1f}", r.detail) for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
