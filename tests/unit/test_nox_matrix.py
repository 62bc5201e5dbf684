"""The CI matrix: `nox -l --json -t matrix` lists one job per catalog store and one per smoke
variant, derived from the catalogs (stack.stores.catalog.STORES,
stack.release.variants.VARIANTS), never a hand-written list.

This is the exact command CONTRIBUTING.md's example workflow feeds to `jq`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.release.variants import VARIANTS
from stack.stores.catalog import STORES

ROOT = Path(__file__).resolve().parents[2]


def nox_list(*args: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-l", "--json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def matrix() -> list[dict]:
    return nox_list("-t", "matrix")


def test_one_vdb_job_per_catalog_store(matrix):
    jobs = [s for s in matrix if s["name"] == "vdb_store"]
    assert [j["call_spec"] for j in jobs] == [{"store": name} for name in STORES]
    assert [j["session"] for j in jobs] == [f"vdb_store({name})" for name in STORES]
    assert all(j["description"] for j in jobs)  # every session has a docstring


def test_one_smoke_job_per_variant(matrix):
    jobs = [s for s in matrix if s["name"] == "smoke"]
    assert [j["call_spec"] for j in jobs] == [{"variant": name} for name in VARIANTS]
    assert [j["session"] for j in jobs] == [f"smoke({name})" for name in VARIANTS]
    # `nox -s smoke` (what scripts/test runs) is exactly these jobs.
    assert [s["session"] for s in nox_list("-s", "smoke")] == [j["session"] for j in jobs]


def test_matrix_holds_only_single_jobs(matrix):
    # The all-in-one `vdb` stays (it starts the stores in parallel) but is not a matrix job.
    assert {s["name"] for s in matrix} == {"vdb_store", "smoke"}
    assert len(matrix) == len(STORES) + len(VARIANTS)
    assert len({s["session"] for s in matrix}) == len(matrix)  # no job twice
    assert [s["session"] for s in nox_list("-s", "vdb")] == ["vdb"]
