"""`--require` (and CI=true): a skipped required store fails the matrix run.

Runs the real vdb plugin in a subprocess against an engine address that does not
exist, so every store is skipped for a known reason without touching Docker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case runs pytest in a subprocess (~2.5 s)

ROOT = Path(__file__).resolve().parents[2]


def run_matrix(stores: str, *extra: str, ci: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/stack-test.sock", "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/vdb", f"--stores={stores}", "-q", "-rfE",
         "-p", "no:cacheprovider", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(("extra", "ci"), [(("--require",), ""), ((), "true")])
def test_skipped_required_store_fails_the_run(extra, ci):
    proc = run_matrix("pgvector,qdrant", *extra, ci=ci)
    assert proc.returncode != 0, proc.stdout
    assert "pgvector skipped (no Docker engine reachable" in proc.stdout
    assert "REQUIRED store(s) not run: pgvector" in proc.stdout


def test_skipped_optional_store_is_fine_and_explained():
    proc = run_matrix("qdrant", "--require")
    assert proc.returncode == 0, proc.stdout
    assert "qdrant skipped (no Docker engine reachable (fix: invoke engine.ensure))" in proc.stdout


def test_unknown_store_is_a_usage_error():
    proc = run_matrix("pgvector,nosuchstore")
    assert proc.returncode == 4  # pytest's usage-error exit code
    assert "nosuchstore" in proc.stderr + proc.stdout
