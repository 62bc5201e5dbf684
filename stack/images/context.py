"""The build context of a stand-in: recipe files (scripts made executable), the sources of
``sources.txt`` under ``src/``, and the wheels of ``wheels.txt`` under ``wheels/``.

The wheels are pinned PyPI requirements downloaded *on the host* (pip does not work inside
builds here) for the engine's architecture (``x86_64`` or ``aarch64``), cached per recipe;
install them with ``pip install --no-index --find-links /tmp/wheels ...``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from stack.errors import ImageError
from stack.images.recipes import is_script, recipe_dir, recipe_files, source_files
from stack.paths import cache_dir

#: Engine architectures stand-ins can be built for (manylinux names).
WHEEL_ARCHES = ("x86_64", "aarch64")
WHEEL_PYTHON = "3.11"

Progress = Callable[[str], None]


def wheel_platforms(arch: str) -> tuple[str, ...]:
    """pip ``--platform`` tags (newest glibc first) for Linux wheels of machine ``arch``."""
    if arch not in WHEEL_ARCHES:
        raise ImageError(
            f"the engine's architecture {arch!r} has no manylinux wheels for stand-ins",
            hint="use an x86_64 or arm64 engine, or the upstream images (unset STACK_OFFLINE)",
        )
    legacy = ("manylinux2010", "manylinux1") if arch == "x86_64" else ()
    return (
        f"manylinux2014_{arch}",
        *(f"manylinux_2_{n}_{arch}" for n in range(17, 37)),
        *(f"{tag}_{arch}" for tag in legacy),
        f"linux_{arch}",
    )


def wheels(name: str, reqs: Path, progress: Progress, arch: str = "x86_64") -> Path:
    """Download ``wheels.txt`` on the host for the engine's ``arch`` into a cache dir."""
    platforms = wheel_platforms(arch)
    key = hashlib.sha256(reqs.read_bytes()).hexdigest()[:12]
    suffix = "" if arch == "x86_64" else f"-{arch}"  # x86_64 keeps its existing cache
    dest = cache_dir() / "wheels" / f"{name}-{key}{suffix}"
    done = dest / ".complete"
    if done.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    progress(f"{name}: pip download -r wheels.txt (host, for Python {WHEEL_PYTHON} on {arch})")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--python-version",
        WHEEL_PYTHON,
        "--implementation",
        "cp",
        "--abi",
        f"cp{WHEEL_PYTHON.replace('.', '')}",
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for plat in platforms:
        argv += ["--platform", plat]
    argv += ["-r", str(reqs), "-d", str(dest), "--disable-pip-version-check", "-q"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(
            f"{name}: downloading wheels from {reqs} failed:\n{proc.stderr[-2000:]}",
            hint=f"check the pins in wheels.txt (a manylinux {arch} wheel for cp311 must exist)",
        )
    done.write_text("ok\n")
    return dest


def build_context(name: str, tag_hash: str, progress: Progress, arch: str = "x86_64") -> Path:
    """Assemble the build context (recipe files, chmod'ed scripts, wheels/)."""
    d = recipe_dir(name)
    ctx = Path(tempfile.mkdtemp(prefix=f"stack-ctx-{name}-{tag_hash}-"))
    for p in recipe_files(d):
        target = ctx / p.relative_to(d)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
        if is_script(p):
            target.chmod(0o755)
    for rel, p in source_files(d):
        target = ctx / "src" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
    reqs = d / "wheels.txt"
    wheels_dir = ctx / "wheels"
    wheels_dir.mkdir(exist_ok=True)
    if reqs.is_file():
        for w in wheels(name, reqs, progress, arch).iterdir():
            if w.name.endswith((".whl", ".tar.gz", ".zip")):
                try:
                    os.link(w, wheels_dir / w.name)
                except OSError:
                    shutil.copy2(w, wheels_dir / w.name)
    return ctx
