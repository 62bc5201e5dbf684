"""Recipe hashing: the cache key changes with any recipe byte or exec bit, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.errors import ImageError
from stack.images import build as build_mod
from stack.images import context as context_mod
from stack.images import recipes as recipes_mod


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "demo"
    d.mkdir()
    (d / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY run.sh /run.sh\n")
    (d / "run.sh").write_text("#!/bin/sh\necho hi\n")
    monkeypatch.setattr(recipes_mod, "IMAGES_DIR", tmp_path)
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


def test_wheel_platforms_follow_the_engine_architecture() -> None:
    x86 = build_mod.wheel_platforms("x86_64")
    arm = build_mod.wheel_platforms("aarch64")
    assert "manylinux2014_x86_64" in x86 and "manylinux_2_28_x86_64" in x86
    assert "manylinux2014_aarch64" in arm and "manylinux_2_28_aarch64" in arm
    assert all(p.endswith("_aarch64") for p in arm)
    with pytest.raises(ImageError, match="'riscv64' has no manylinux wheels"):
        build_mod.wheel_platforms("riscv64")


def test_wheels_are_downloaded_for_the_engine_arch(
    recipes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    (recipes / "wheels.txt").write_text("six==1.16.0\n")
    monkeypatch.setattr(context_mod, "cache_dir", lambda: tmp_path / "cache")
    seen: list[list[str]] = []

    def fake_pip(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(context_mod.subprocess, "run", fake_pip)
    dest = build_mod._wheels("demo", recipes / "wheels.txt", print, "aarch64")
    platforms = [seen[0][i + 1] for i, a in enumerate(seen[0]) if a == "--platform"]
    assert platforms == list(build_mod.wheel_platforms("aarch64"))
    assert dest.name.endswith("-aarch64")  # never mixed with x86-64 wheels
    assert build_mod._wheels("demo", recipes / "wheels.txt", print, "x86_64") != dest


def test_build_on_macos_says_so_before_any_work(
    recipes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.images import base

    monkeypatch.setattr(base.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(build_mod, "local_standin_refs", lambda: set())
    with pytest.raises(ImageError) as err:
        build_mod.build(["demo"])
    assert "needs a Linux host" in str(err.value) and "STACK_REGISTRY_MIRRORS" in str(err.value)
