"""Under CI=true the integration and e2e tiers fail instead of skipping without an engine.

Runs the real tiers in a subprocess against an engine address that does not exist (as
tests/unit/test_vdb_require.py does for the vdb tier), so nothing touches Docker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case runs pytest in a subprocess

ROOT = Path(__file__).resolve().parents[2]
TIERS = ["tests/integration/test_dev.py", "tests/e2e/test_cli.py"]


def run_tier(path: str, ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/stack-test.sock", "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", path, "-q", "-rfEs", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("path", TIERS)
def test_ci_turns_a_missing_engine_into_a_failure(path):
    proc = run_tier(path, ci="true")
    assert proc.returncode == 1, proc.stdout
    assert "CI=true: would skip (no Docker engine" in proc.stdout
    assert "fix: invoke engine.ensure" in proc.stdout
    assert " skipped" not in proc.stdout.splitlines()[-1]


@pytest.mark.parametrize("path", TIERS)
def test_without_ci_a_missing_engine_skips_with_the_reason(path):
    proc = run_tier(path, ci="")
    assert proc.returncode == 0, proc.stdout
    assert "no Docker engine (run: invoke engine.ensure)" in proc.stdout
    assert "failed" not in proc.stdout.splitlines()[-1]


def test_leftover_test_state_is_found(tmp_path):
    from stack.testing import project_state_dirs

    dev = tmp_path / ".stack" / "dev"
    assert project_state_dirs(tmp_path) == set()  # no .stack at all
    tests = {
        "stack-e2e-6b0f4b52-6b80f73d",
        "stack-it-6b0f4b52-0123abcd-ports",
        "x-6b0f4b52-aaaaaaaa",
    }
    for name in (*tests, "stack-dev", "mine", "stack-e2e-nope"):
        (dev / name).mkdir(parents=True)
    assert project_state_dirs(tmp_path) == tests
