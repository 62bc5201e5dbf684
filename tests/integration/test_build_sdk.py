"""Stand-in builds and the base import go through the docker SDK: no docker CLI needed.

Before, ``images.build`` ran ``docker build``/``docker import``/``docker run`` and a machine
without the CLI got a raw ``FileNotFoundError`` out of the build pool.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.engine.client import engine_alive
from stack.images import base as base_mod
from stack.images import build as build_mod
from stack.images import recipes as recipes_mod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]


@pytest.fixture
def dc() -> Any:
    from stack.engine.client import client

    return client()


@pytest.fixture
def no_docker_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    tar = shutil.which("tar")
    if tar:
        (empty / "tar").symlink_to(tar)  # the base import still runs GNU tar
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("docker") is None


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dc: Any) -> Iterator[str]:
    if not base_mod.image_exists(base_mod.base_ref()):
        pytest.skip(f"{base_mod.base_ref()} not built (run: invoke images.build --only redis)")
    name = f"sdktest{secrets.token_hex(3)}"
    d = tmp_path / "recipes" / name
    d.mkdir(parents=True)
    (d / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nCOPY hello.sh /hello.sh\n"
        'RUN echo "demo 1.2.3" > /etc/stack-standin.version\n'
    )
    (d / "hello.sh").write_text("#!/bin/sh\necho hello\n")
    monkeypatch.setattr(recipes_mod, "IMAGES_DIR", d.parent)
    monkeypatch.setattr(build_mod, "log_dir", lambda: tmp_path)
    yield name
    for img in dc.images.list(name=f"{base_mod.NAMESPACE}/{name}"):
        dc.images.remove(img.id, force=True)


def test_build_without_the_docker_cli(recipe: str, no_docker_cli: None, dc: Any) -> None:
    (result,) = build_mod.build([recipe], progress=lambda _msg: None)
    assert not result.cached and result.ref == build_mod.standin_tag(recipe)
    labels = build_mod.image_labels([result.ref])[result.ref]
    assert labels["org.stack.version"] == "demo 1.2.3"  # read from the image, no `docker run`
    assert labels["org.stack.recipe"] == recipe
    tags = {t for img in dc.images.list(name=f"{base_mod.NAMESPACE}/{recipe}") for t in img.tags}
    assert tags == {result.ref}  # the temporary build tag is gone
    (again,) = build_mod.build([recipe], progress=lambda _msg: None)
    assert again.cached


def test_broken_recipe_is_an_image_error_naming_it(recipe: str, no_docker_cli: None) -> None:
    from stack.errors import ImageError

    d = recipes_mod.IMAGES_DIR / recipe
    (d / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nRUN exit 3\n")
    with pytest.raises(ImageError) as err:
        build_mod.build([recipe], progress=lambda _msg: None)
    assert f"{recipe}: docker build failed" in str(err.value)
    assert "returned a non-zero code: 3" in str(err.value)


def test_import_rootfs_through_the_sdk(tmp_path: Path, no_docker_cli: None, dc: Any) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hello").write_text("hi\n")
    ref = f"{base_mod.NAMESPACE}/sdkimport{secrets.token_hex(3)}:t"
    try:
        base_mod.import_rootfs(root, ref, ["ENV LANG=C.UTF-8", "LABEL org.stack.recipe=t"])
        attrs = dc.api.inspect_image(ref)
        assert attrs["Config"]["Labels"]["org.stack.recipe"] == "t"
        assert "LANG=C.UTF-8" in attrs["Config"]["Env"]
    finally:
        if base_mod.image_exists(ref):
            dc.images.remove(ref, force=True)
