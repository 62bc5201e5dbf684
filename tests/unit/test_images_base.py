"""The base image's mirror comes from the host's apt sources (both formats)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stack.errors import ImageError
from stack.images.base import apt_sources, base_hash, base_ref, host_mirror


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_deb822_sources(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sources.list.d/debian.sources",
        """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
""",
    )
    assert host_mirror(root=tmp_path) == "http://mirror.example/debian"
    assert len(apt_sources(tmp_path)) == 2


def test_one_line_sources_with_options(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sources.list",
        """\
# comment
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/x.gpg] http://one.example/debian/ bookworm main contrib
""",
    )
    assert host_mirror(root=tmp_path) == "http://one.example/debian"


def test_disabled_stanza_and_other_suites_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sources.list.d/a.sources",
        """\
Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://old.example/debian
Suites: bullseye
Components: main
""",
    )
    write(tmp_path, "sources.list.d/b.list", "deb http://b.example/debian bookworm main\n")
    assert host_mirror(root=tmp_path) == "http://b.example/debian"


def test_no_bookworm_source_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path, "sources.list", "deb http://old.example/debian bullseye main\n")
    with pytest.raises(ImageError) as err:
        host_mirror(root=tmp_path)
    assert "bookworm" in str(err.value) and "old.example" in str(err.value)
    assert "STACK_DEBIAN_MIRROR" in str(err.value)


def test_base_ref_is_stable_and_local() -> None:
    assert base_ref() == f"stack-standin/base:{base_hash()}"
    assert len(base_hash()) == 12


def test_failed_import_reaps_tar_and_says_what_failed(tmp_path: Path) -> None:
    """The engine goes away mid-import: a clear ImageError, and no tar child is left behind
    (before, tar blocked forever on the full pipe while the tree was deleted under it)."""
    import docker
    import psutil

    from stack.images.base import import_rootfs

    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "big").write_bytes(os.urandom(4 << 20))  # more than a pipe holds
    dead = docker.DockerClient(base_url=f"unix://{tmp_path}/no-engine.sock", version="1.41")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ImageError, match=r"docker import of stack-standin/t:x failed"):
        import_rootfs(root, "stack-standin/t:x", ["ENV A=1"], client=dead)
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert left == [], [p.cmdline() for p in left]


def test_stand_in_builds_say_plainly_they_need_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from stack.images import base

    monkeypatch.setattr(base.platform, "system", lambda: "Darwin")
    with pytest.raises(ImageError) as err:
        base.build_base(force=True)
    text = str(err.value)
    assert "needs a Linux host" in text and "Darwin" in text
    assert "STACK_REGISTRY_MIRRORS" in text and "unset STACK_OFFLINE" in text


def test_reap_kills_a_child_that_ignores_sigterm() -> None:
    import subprocess

    from stack.images.base import _reap

    proc = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo up; while :; do sleep 1; done"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    _reap(proc, grace=0.5)  # terminate + wait(grace) would raise TimeoutExpired here
    assert proc.returncode is not None
