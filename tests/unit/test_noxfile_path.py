"""`.venv/bin/nox -s ...` from a plain shell (no activated venv) uses the project's tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stack import paths


def test_nox_finds_the_projects_tools_without_an_activated_venv(tmp_path: Path) -> None:
    bare_path = "/usr/bin:/bin"  # what a plain login shell has: no .venv/bin
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PATH")}
    env["PATH"] = bare_path
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "lint", "--", "noxfile.py"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Session lint was successful" in out, out
