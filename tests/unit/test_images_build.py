"""Recipe hashing: the cache key changes with any recipe byte or exec bit, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.errors import ImageError
from stack.images import build as build_mod


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "demo"
    d.mkdir()
    (d / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY run.sh /run.sh\n")
    (d / "run.sh").write_text("#!/bin/sh\necho hi\n")
    monkeypatch.setattr(build_mod, "IMAGES_DIR", tmp_path)
    return d


def test_hash_tracks_recipe_content(recipes: Path) -> None:
    first = build_mod.recipe_hash("demo")
    assert build_mod.recipe_hash("demo") == first
    assert build_mod.standin_tag("demo") == f"stack-standin/demo:{first}"
    (recipes / "run.sh").write_text("#!/bin/sh\necho changed\n")
    second = build_mod.recipe_hash("demo")
    assert second != first
    (recipes / "wheels.txt").write_text("chromadb==1.5.9\n")
    assert build_mod.recipe_hash("demo") not in (first, second)


def test_hash_ignores_pycache(recipes: Path) -> None:
    before = build_mod.recipe_hash("demo")
    (recipes / "__pycache__").mkdir()
    (recipes / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert build_mod.recipe_hash("demo") == before


def test_context_makes_scripts_executable(recipes: Path) -> None:
    (recipes / "run.sh").chmod(0o644)
    ctx = build_mod._context("demo", "abc", print)
    try:
        assert (ctx / "run.sh").stat().st_mode & 0o111
        assert (ctx / "wheels").is_dir()
    finally:
        import shutil

        shutil.rmtree(ctx)


def test_unknown_recipe_lists_known(recipes: Path) -> None:
    with pytest.raises(ImageError) as err:
        build_mod.recipe_hash("nope")
    assert "demo" in str(err.value)
    with pytest.raises(ImageError, match="no stand-in recipe for nope"):
        build_mod.build(["nope"])


def test_real_recipes_have_distinct_hashes() -> None:
    names = build_mod.available_recipes()
    assert {"postgres", "redis", "mysql", "nginx", "squid", "busybox"} <= set(names)
    hashes = {build_mod.recipe_hash(n) for n in names}
    assert len(hashes) == len(names)
