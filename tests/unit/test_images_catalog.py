"""The image catalog: every pin from the brief, versioned, stand-ins consistent."""

from __future__ import annotations

import pytest

from stack.errors import ImageError
from stack.images.catalog import IMAGES, STANDIN_RECIPES, by_ref, by_standin, get, validate
from stack.images.mirror import parse_ref
from stack.paths import IMAGES_DIR

PINS = {
    "busybox": "busybox:1.36.1",
    "api": "langgenius/dify-api:1.11.4",
    "web": "langgenius/dify-web:1.11.4",
    "nginx": "nginx:1.27.3",
    "sandbox": "langgenius/dify-sandbox:0.2.12",
    "plugin_daemon": "langgenius/dify-plugin-daemon:0.5.2-local",
    "squid": "ubuntu/squid:6.6-24.04_edge",
    "postgres": "postgres:15-alpine",
    "mysql": "mysql:8.0.40",
    "redis": "redis:6.2.16-alpine",
    "certbot": "certbot/certbot:v3.0.1",
    "weaviate": "semitechnologies/weaviate:1.28.5",
    "qdrant": "qdrant/qdrant:v1.7.3",
    "etcd": "quay.io/coreos/etcd:v3.5.5",
    "minio": "minio/minio:RELEASE.2023-03-20T20-16-18Z",
    "milvus": "milvusdb/milvus:v2.3.5",
    "chroma": "chromadb/chroma:1.5.9",
    "pgvector": "pgvector/pgvector:0.8.0-pg16",
    "pgvecto-rs": "tensorchord/pgvecto-rs:pg16-v0.2.1",
    "opensearch": "opensearchproject/opensearch:2.18.0",
    "elasticsearch": "docker.elastic.co/elasticsearch/elasticsearch:8.14.3",
    "oracle": "container-registry.oracle.com/database/free:23.5.0.0",
}


def test_catalog_holds_exactly_the_pins() -> None:
    assert {n: e.ref for n, e in IMAGES.items()} == PINS


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
    assert by_ref("postgres:15-alpine").name == "postgres"
    assert by_ref("docker.io/library/postgres:15-alpine").name == "postgres"
    assert by_ref("quay.io/coreos/etcd:v3.5.5").name == "etcd"
    with pytest.raises(ImageError, match="not in the catalog"):
        by_ref("postgres:16")


def test_get_and_by_standin() -> None:
    assert get("redis").ref == "redis:6.2.16-alpine"
    with pytest.raises(ImageError, match="unknown image"):
        get("nope")
    assert [e.name for e in by_standin("milvus")] == ["milvus"]
