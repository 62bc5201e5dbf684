"""The api stand-in recipe: its tag covers the backend's sources and the MODE table (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.errors import ImageError
from stack.images import build, recipes
from stack.images.catalog import IMAGES, STANDIN_RECIPES


def test_api_image_is_a_catalogued_standin() -> None:
    entry = IMAGES["api"]
    assert entry.ref.startswith("langgenius/dify-api:")
    assert entry.standin == "api" and "api" in STANDIN_RECIPES
    assert "api" in build.available_recipes()


def test_api_sources_cover_the_backend_and_the_mode_table() -> None:
    rels = {rel for rel, _ in build.source_files(build.recipe_dir("api"))}
    for needed in (
        "stack/app/app.py",
        "stack/app/gunicorn_conf.py",
        "stack/app/migrations/versions/0001_datasets_documents.py",
        "stack/run/modes.py",
        "stack/run/entrypoint.py",
        "stack/stores/adapters/milvus.py",
        "env/definitions.env",
        "compose/docker-compose-template.yaml",
    ):
        assert needed in rels, needed
    assert not any("__pycache__" in r for r in rels)


@pytest.fixture
def fake_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from stack import paths

    recipe = tmp_path / "compose" / "images" / "api"
    recipe.mkdir(parents=True)
    (recipe / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY src/ /src/\n")
    (recipe / "sources.txt").write_text("# comment\nstack/app\n\nenv/definitions.env  # defaults\n")
    (tmp_path / "stack" / "app" / "__pycache__").mkdir(parents=True)
    (tmp_path / "stack" / "app" / "app.py").write_text("app = 1\n")
    (tmp_path / "stack" / "app" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "stack" / "other.py").write_text("x = 1\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "definitions.env").write_text("# A\nA=1\n")
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(recipes, "IMAGES_DIR", tmp_path / "compose" / "images")
    return tmp_path


def test_a_source_change_changes_the_tag(fake_repo: Path) -> None:
    first = build.recipe_hash("api")
    assert build.recipe_hash("api") == first  # stable
    (fake_repo / "stack" / "other.py").write_text("x = 2\n")  # not listed
    (fake_repo / "stack" / "app" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"y")
    assert build.recipe_hash("api") == first
    (fake_repo / "stack" / "app" / "app.py").write_text("app = 2\n")
    second = build.recipe_hash("api")
    assert second != first
    (fake_repo / "env" / "definitions.env").write_text("# A\nA=2\n")
    assert build.recipe_hash("api") not in (first, second)


def test_sources_are_copied_into_the_context(fake_repo: Path) -> None:
    ctx = build._context("api", "test", print)
    try:
        assert (ctx / "src" / "stack" / "app" / "app.py").read_text() == "app = 1\n"
        assert (ctx / "src" / "env" / "definitions.env").is_file()
        assert not (ctx / "src" / "stack" / "other.py").exists()
        assert not (ctx / "src" / "stack" / "app" / "__pycache__").exists()
    finally:
        import shutil

        shutil.rmtree(ctx)


@pytest.mark.parametrize("entry", ["../outside", "stack/missing.py", "/etc/passwd"])
def test_a_bad_source_path_names_the_line(fake_repo: Path, entry: str) -> None:
    (fake_repo / "compose" / "images" / "api" / "sources.txt").write_text(f"stack/app\n{entry}\n")
    with pytest.raises(ImageError, match=r"sources\.txt:2: .* not a path inside the repository"):
        build.recipe_hash("api")
