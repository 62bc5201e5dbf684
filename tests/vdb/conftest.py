"""pytest plugin for the per-store matrix (``nox -s vdb``).

* ``--stores a,b`` (or ``VDB_STORES``) selects stores; default: all of
  :data:`stack.stores.catalog.STORES`.  ``--require`` (implied by ``CI=true``) turns a skipped
  *required* store into a failed run.
* At session start: test env defaults (Ryuk off, host override, offline), a sweep of resources
  whose owner process is gone (other live sessions are left alone), and a new session id.
* All available stores start concurrently once (session fixture); start->ready is recorded.
* Cleanup on normal exit, on Ctrl-C (KeyboardInterrupt -> fixture teardown), on SIGTERM
  (turned into KeyboardInterrupt) and at interpreter exit (atexit: remove the session).
* The terminal summary prints one line per store: ``<store> passed|skipped (<reason>)|failed``.
"""

from __future__ import annotations

import atexit
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stack.stores.catalog import REQUIRED, STORES, select
from stack.stores.runtime import apply_test_env

apply_test_env()

_STATE: dict[str, Any] = {
    "session": None,
    "selected": [],
    "avail": {},
    "results": {},  # store -> RunningStore | BaseException
    "outcomes": {},  # store -> {"passed": n, "failed": n, "skipped": [reasons]}
    "t0": None,
    "sweep": None,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vdb", "vector-store matrix")
    group.addoption(
        "--stores",
        action="append",
        default=[],
        help=f"comma-separated stores to test (default: all of {', '.join(STORES)}); "
        "env VDB_STORES works too",
    )
    group.addoption(
        "--require",
        action="store_true",
        default=False,
        help=f"a skipped required store ({', '.join(REQUIRED)}) fails the run (CI=true implies it)",
    )


def _required_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--require")) or os.environ.get("CI", "").lower() in (
        "1",
        "true",
        "yes",
    )


def _remove_session() -> None:
    session = _STATE.get("session")
    if not session:
        return
    try:
        from stack.engine.client import engine_alive

        if engine_alive():
            from stack.engine.labels import remove_session

            remove_session(session)
    except Exception:
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vdb: vector-store matrix test (needs a docker engine)")
    # testcontainers' own chroma module still uses its deprecated decorator at import time.
    config.addinivalue_line(
        "filterwarnings", "ignore:The @wait_container_is_ready decorator:DeprecationWarning"
    )
    raw = list(config.getoption("--stores") or [])
    if not raw and os.environ.get("VDB_STORES"):
        raw = [os.environ["VDB_STORES"]]
    try:
        _STATE["selected"] = select(raw or None)
    except Exception as exc:  # StoreError: unknown names
        raise pytest.UsageError(str(exc)) from None
    _STATE["t0"] = time.time()
    from stack.engine.labels import new_session_id

    _STATE["session"] = new_session_id()
    atexit.register(_remove_session)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_name" in metafunc.fixturenames:
        names = _STATE["selected"]
        metafunc.parametrize("store_name", names, ids=names, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.vdb)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "store_name" in callspec.params:
            _STATE.setdefault("nodeids", {})[item.nodeid] = callspec.params["store_name"]


def _store_of(report: Any) -> str | None:
    store = _STATE.get("nodeids", {}).get(report.nodeid)
    return str(store) if store else None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    store = _store_of(report)
    if store is None:
        return
    o = _STATE["outcomes"].setdefault(store, {"passed": 0, "failed": 0, "skipped": []})
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        o["skipped"].append(str(reason).removeprefix("Skipped: "))
    elif report.failed:
        o["failed"] += 1
    elif report.when == "call" and report.passed:
        o["passed"] += 1


@pytest.fixture(scope="session")
def store_session() -> Iterator[Any]:
    """Sweep stale resources, start every selected available store concurrently, clean up."""
    from stack.stores.runtime import StoreSession, availability

    selected = _STATE["selected"]
    avail = availability(selected)
    _STATE["avail"] = avail
    ss = StoreSession(_STATE["session"])
    try:
        if any(a.ok for a in avail.values()):
            from stack.engine.labels import sweep

            _STATE["sweep"] = sweep(keep_session=_STATE["session"])
            refs = {n: a.image_ref for n, a in avail.items() if a.ok}
            _STATE["results"] = ss.start_many(refs)
        yield ss
    finally:
        ss.close()


@pytest.fixture(scope="session")
def running_store(store_session: Any, store_name: str) -> Any:
    """The started store for this parameter; skip with the reason if its image is missing."""
    a = _STATE["avail"][store_name]
    if not a.ok:
        pytest.skip(a.reason)
    res = _STATE["results"].get(store_name)
    if isinstance(res, BaseException):
        pytest.fail(f"{store_name} did not start: {res}", pytrace=False)
    return res


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _required_mode(session.config) or exitstatus not in (0, 5):
        return
    bad = [
        n for n in REQUIRED if n in _STATE["selected"] and _status(n)[0] in ("skipped", "not run")
    ]
    if bad:
        _STATE["required_failed"] = bad
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _status(store: str) -> tuple[str, str]:
    o = _STATE["outcomes"].get(store)
    if not o:
        a = _STATE["avail"].get(store)
        return ("skipped", a.reason) if a is not None and not a.ok else ("not run", "")
    if o["failed"]:
        return "failed", f"{o['failed']} failed, {o['passed']} passed"
    if o["passed"]:
        return "passed", f"{o['passed']} tests"
    reason = o["skipped"][0] if o["skipped"] else ""
    return "skipped", reason


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _STATE["selected"] or not (_STATE["outcomes"] or _STATE["avail"]):
        return
    tr = terminalreporter
    tr.section("vector stores")
    results = _STATE["results"]
    for name in _STATE["selected"]:
        status, detail = _status(name)
        if status == "skipped":
            tr.write_line(f"{name} skipped ({detail})")
        elif status == "passed":
            tr.write_line(f"{name} passed")
        else:
            tr.write_line(f"{name} {status}" + (f" ({detail})" if detail else ""))
    started = [(n, r) for n, r in results.items() if not isinstance(r, BaseException)]
    if started:
        t0 = min(r.started_at for _, r in started)
        tr.write_line("start->ready per store (offset of the start within the matrix):")
        for n, r in started:
            tr.write_line(
                f"  {n}: {r.ready_seconds:.1f} s ready (started at +{r.started_at - t0:.2f} s, "
                f"image {r.image_ref})"
            )
        tr.write_line(
            f"  matrix start (slowest store): {max(r.ready_at for _, r in started) - t0:.1f} s"
        )
    if _STATE.get("sweep") is not None and _STATE["sweep"].total:
        tr.write_line(f"sweep of stale resources at start: {_STATE['sweep']}")
    bad = _STATE.get("required_failed")
    if bad:
        tr.write_line(
            f"REQUIRED store(s) not run: {', '.join(bad)} -- failing the run "
            "(--require / CI=true); fix: invoke images.build --only <store>",
            red=True,
        )
