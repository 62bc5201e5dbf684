"""The base image's mirror comes from the host's apt sources (both formats)."""

from __future__ import annotations

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
