"""pytest hooks shared by the engine tiers (``tests/integration``, ``tests/e2e`` conftests).

* Under ``CI=true`` a test of these tiers never *skips* for want of a Docker engine: the skip
  becomes a failure naming the fix (the vdb tier does the same for required stores).
  ``scripts/test`` always ensures an engine first, so a skip there means CI tested nothing.
* After the session, no derived dev state of a test project may remain in the checkout
  (``.stack/dev/stack-e2e-<session>``, ``stack-it-<session>-...``: compose files holding
  secrets); one that this session left behind fails the run.  A test project is one whose
  name carries a session id (:func:`stack.engine.labels.new_session_id`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stack import paths

CI_TRUE = ("1", "true", "yes")
# `new_session_id()` is `<unix time, hex>-<8 hex>`; test projects embed it in their name.
TEST_PROJECT_RE = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{8}(?:-|$)")
_STATE: dict[str, Any] = {}


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in CI_TRUE


def engine_ok() -> bool:
    """Whether an engine answers (asked once per session)."""
    if "engine" not in _STATE:
        from stack.engine.client import engine_alive

        _STATE["engine"] = engine_alive()
    return bool(_STATE["engine"])


def project_state_dirs(root: Path | None = None) -> set[str]:
    """Names of test projects' state directories under ``<root>/.stack/dev``."""
    base = (root or paths.ROOT) / ".stack" / "dev"
    try:
        return {p.name for p in base.iterdir() if TEST_PROJECT_RE.search(p.name)}
    except OSError:
        return set()


def remember_state_dirs() -> None:
    """Call at conftest import: what existed before this session is not its fault."""
    _STATE.setdefault("before", project_state_dirs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail") and in_ci() and not engine_ok():
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reason = str(reason).removeprefix("Skipped: ")
        rep.outcome = "failed"
        rep.longrepr = (
            f"CI=true: would skip ({reason}), but the engine tiers must run in CI: no Docker "
            "engine answers (fix: invoke engine.ensure; scripts/test ensures one first)"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "left" in _STATE:  # both conftests register this hook: check once
        return
    _STATE["left"] = sorted(project_state_dirs() - _STATE.get("before", set()))
    if _STATE["left"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    left = _STATE.get("left")
    if left and not _STATE.get("reported"):
        _STATE["reported"] = True
        base = paths.ROOT / ".stack" / "dev"
        terminalreporter.write_line(
            f"FAILED: test runs must leave no dev state in the checkout; left in {base}: "
            + ", ".join(left)
            + " (their compose files hold secrets; use a temporary state dir, and dev.down)",
            red=True,
        )
