"""The image catalog: every template image is a pin, versioned, stand-ins consistent."""

from __future__ import annotations

import re

import pytest

from stack.errors import ImageError
from stack.images.catalog import IMAGES, STANDIN_RECIPES, by_ref, by_standin, get, validate
from stack.images.mirror import parse_ref
from stack.paths import IMAGES_DIR


def template_images() -> dict[str, str]:
    """service -> ``image:`` of the production template (read as YAML)."""
    from stack.compose.hints import raw_template
    from stack.paths import TEMPLATE

    services = raw_template(TEMPLATE.read_text(encoding="utf-8"))["services"]
    return {name: svc["image"] for name, svc in services.items()}


def test_every_template_image_is_a_catalog_pin() -> None:
    images = template_images()
    assert len(images) >= 20
    for service, ref in images.items():
        assert by_ref(ref).ref == ref, service  # exactly the pin, not another spelling
    # and every pin is used: the catalog holds nothing the template does not run
    assert {e.ref for e in IMAGES.values()} == set(images.values())


def test_an_unpinned_template_image_is_reported() -> None:
    from stack.compose.hints import raw_template
    from stack.paths import TEMPLATE

    text = TEMPLATE.read_text(encoding="utf-8").replace(
        IMAGES["redis"].ref, "redis:0.0-not-pinned", 1
    )
    refs = [svc["image"] for svc in raw_template(text)["services"].values()]
    with pytest.raises(ImageError, match=re.escape("'redis:0.0-not-pinned' is not in the catalog")):
        for ref in refs:
            by_ref(ref)


def test_every_ref_has_a_version_tag() -> None:
    for entry in IMAGES.values():
        tag = parse_ref(entry.ref).tag
        assert tag and tag != "latest", entry
    assert validate() == []


def test_api_and_web_share_a_version() -> None:
    assert parse_ref(IMAGES["api"].ref).tag == parse_ref(IMAGES["web"].ref).tag


def test_standins() -> None:
    with_standin = {n for n, e in IMAGES.items() if e.standin}
    assert with_standin == set(STANDIN_RECIPES)
    for name in with_standin:
        entry = IMAGES[name]
        assert entry.standin_version
        assert (IMAGES_DIR / entry.standin).is_dir() or entry.standin in (
            "pgvector",
            "chroma",
            "milvus",  # built by the stores helper's recipes
        )
    assert IMAGES["milvus"].folds == ("etcd", "minio")
    for name in ("weaviate", "qdrant", "opensearch", "elasticsearch", "oracle", "etcd", "minio"):
        assert IMAGES[name].standin is None


@pytest.mark.parametrize("name", ["postgres", "redis", "mysql", "nginx", "squid", "busybox"])
def test_middleware_recipes_exist(name: str) -> None:
    dockerfile = (IMAGES_DIR / name / "Dockerfile").read_text()
    assert "ARG BASE" in dockerfile and "FROM ${BASE}" in dockerfile
    assert "/etc/stack-standin.version" in dockerfile
    assert "<<" not in dockerfile and "--chmod" not in dockerfile  # classic builder only


def test_by_ref_normalises_docker_hub() -> None:
    postgres = IMAGES["postgres"].ref
    assert "/" not in postgres  # an official Docker Hub image
    assert by_ref(postgres).name == "postgres"
    assert by_ref(f"docker.io/library/{postgres}").name == "postgres"
    assert by_ref(IMAGES["etcd"].ref).name == "etcd"
    assert parse_ref(IMAGES["etcd"].ref).registry == "quay.io"
    with pytest.raises(ImageError, match="not in the catalog"):
        by_ref("postgres:0.0-not-pinned")


def test_get_and_by_standin() -> None:
    assert get("redis") is IMAGES["redis"]
    with pytest.raises(ImageError, match="unknown image"):
        get("nope")
    assert [e.name for e in by_standin("milvus")] == ["milvus"]
