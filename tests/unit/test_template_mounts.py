"""Every repository path the production template mounts exists in the repository.

Docker creates a missing bind-mount source as an empty directory, and `docker compose config`
accepts it: nginx then serves its welcome page, oracle runs no startup script. So each
``./...`` source outside ``./volumes/`` (the data directories made at run time) must be a file
or a non-empty directory (an empty one carries a ``.gitkeep``, or git would not keep it).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from stack import paths
from stack.dev.plan import raw_template


def bind_sources(template: dict[str, Any]) -> list[tuple[str, str]]:
    """``(service, source)`` of every relative bind mount, short and long syntax."""
    found = []
    for name, svc in (template.get("services") or {}).items():
        for vol in svc.get("volumes") or []:
            if isinstance(vol, str):
                source = vol.split(":", 1)[0]
            elif isinstance(vol, dict) and vol.get("type", "bind") == "bind":
                source = str(vol.get("source", ""))
            else:
                continue
            if source.startswith(("./", "../")) or source in (".", ".."):
                found.append((name, source))
    return found


def repository_sources(template: dict[str, Any]) -> list[tuple[str, str]]:
    """The bind sources that must be in the repository (not under ``./volumes/``)."""
    return [
        (name, src)
        for name, src in bind_sources(template)
        if PurePosixPath(src).parts[:1] != ("volumes",)
    ]


def missing(template: dict[str, Any]) -> list[str]:
    problems = []
    for name, src in repository_sources(template):
        assert "$" not in src, f"{name}: interpolated mount source {src} cannot be checked"
        path = paths.COMPOSE_DIR / src
        if not path.exists():
            problems.append(f"{name}: {src} does not exist")
        elif path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            problems.append(f"{name}: {src} is an empty directory (add a .gitkeep)")
    return problems


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return raw_template(paths.TEMPLATE.read_text(encoding="utf-8"))


def test_every_repository_mount_source_exists(template: dict[str, Any]) -> None:
    assert missing(template) == []


def test_the_check_sees_the_known_mounts(template: dict[str, Any]) -> None:
    sources = set(repository_sources(template))
    for expected in (
        ("nginx", "./nginx/templates"),
        ("nginx", "./nginx/ssl"),
        ("nginx", "./nginx/docker-entrypoint.sh"),
        ("ssrf_proxy", "./ssrf_proxy/squid.conf.template"),
        ("oracle", "./oracle/startupscripts"),
    ):
        assert expected in sources
    data = {src for _, src in bind_sources(template)} - {src for _, src in sources}
    assert "./volumes/app/storage" in data  # data directories are not required


def test_a_missing_or_empty_source_is_reported(tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / ".gitkeep").write_text("")
    monkeypatch.setattr(paths, "COMPOSE_DIR", tmp_path)
    template = {
        "services": {
            "a": {"volumes": ["./absent:/x:ro", "./kept:/k", "./volumes/data:/d", "named:/n"]},
            "b": {"volumes": [{"type": "bind", "source": "./empty", "target": "/e"}]},
        }
    }
    assert missing(template) == [
        "a: ./absent does not exist",
        "b: ./empty is an empty directory (add a .gitkeep)",
    ]
