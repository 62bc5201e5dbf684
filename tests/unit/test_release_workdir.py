"""The smoke's copy of compose/: what it holds, and which copies the next run sweeps (owner
provably gone) or keeps (owner alive, or a `--keep` copy without an owner)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stack import paths
from stack.engine import labels as lab
from stack.release import workdir


@pytest.fixture(autouse=True)
def smoke_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STACK_SMOKE_DIR", str(tmp_path))
    return tmp_path


def test_copy_holds_the_committed_file_and_the_env_but_no_data(smoke_dir) -> None:
    wd = workdir.create("stack-unit", {"a": "b"}, "DB_TYPE=mysql\n")
    assert wd.path.parent == smoke_dir
    assert wd.compose_file.read_bytes() == paths.GENERATED_COMPOSE.read_bytes()
    assert (wd.path / "nginx").is_dir() and (wd.path / "ssrf_proxy").is_dir()
    assert not (wd.path / "volumes").exists() and not (wd.path / "images").exists()
    assert wd.env_file.read_text() == "DB_TYPE=mysql\n"
    assert wd.env_file.stat().st_mode & 0o077 == 0  # the user's secrets
    assert workdir.kept("stack-unit") == [wd.path]
    assert workdir.remove(wd.path) is None and not wd.path.exists()


def test_sweep_removes_only_copies_whose_owner_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead_labels = lab.session_labels("s-dead", pid=child.pid)
    finally:
        child.kill()
        child.wait()
    dead = workdir.create("stack-dead", dead_labels, None)
    alive = workdir.create("stack-alive", lab.session_labels("s-alive"), None)
    kept = workdir.create("stack-kept", {lab.LABEL_PROJECT: "stack"}, None)  # --keep: no owner
    done = workdir.sweep()
    assert done == [f"removed stale {dead.path}"]
    assert not dead.path.exists()
    assert alive.path.exists() and kept.path.exists()
