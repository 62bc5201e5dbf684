"""Reference parsing and registry-mirror rewriting (pure, no engine)."""

from __future__ import annotations

import pytest

from stack.errors import ImageError
from stack.images.mirror import Ref, mirrors_from_env, parse_mirrors, parse_ref, rewrite

MIRRORS = {
    "docker.io": "mirror.local:5000/dockerhub",
    "quay.io": "mirror.local:5000/quay",
}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("postgres:15-alpine", Ref("docker.io", "library/postgres", "15-alpine", None)),
        ("busybox", Ref("docker.io", "library/busybox", None, None)),
        (
            "minio/minio:RELEASE.2023-03-20T20-16-18Z",
            Ref("docker.io", "minio/minio", "RELEASE.2023-03-20T20-16-18Z", None),
        ),
        (
            "docker.io/library/redis:6.2.16-alpine",
            Ref("docker.io", "library/redis", "6.2.16-alpine", None),
        ),
        ("index.docker.io/nginx:1.27.3", Ref("docker.io", "library/nginx", "1.27.3", None)),
        ("quay.io/coreos/etcd:v3.5.5", Ref("quay.io", "coreos/etcd", "v3.5.5", None)),
        (
            "docker.elastic.co/elasticsearch/elasticsearch:8.14.3",
            Ref("docker.elastic.co", "elasticsearch/elasticsearch", "8.14.3", None),
        ),
        ("localhost:5000/team/app:1.0", Ref("localhost:5000", "team/app", "1.0", None)),
        ("registry.local:5000/app", Ref("registry.local:5000", "app", None, None)),
        (
            "postgres:15@sha256:" + "a" * 64,
            Ref("docker.io", "library/postgres", "15", "sha256:" + "a" * 64),
        ),
        (
            "quay.io/coreos/etcd@sha256:" + "b" * 64,
            Ref("quay.io", "coreos/etcd", None, "sha256:" + "b" * 64),
        ),
    ],
)
def test_parse_ref(ref: str, expected: Ref) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("bad", ["", "post gres:1", "postgres:", "postgres@", ":tag"])
def test_parse_ref_rejects_garbage(bad: str) -> None:
    with pytest.raises(ImageError):
        parse_ref(bad)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        # official image: library/ is made explicit under the mirror
        ("postgres:15-alpine", "mirror.local:5000/dockerhub/library/postgres:15-alpine"),
        # namespaced Docker Hub image
        ("langgenius/dify-api:1.11.4", "mirror.local:5000/dockerhub/langgenius/dify-api:1.11.4"),
        # explicit docker.io prefix is the same registry
        (
            "docker.io/library/redis:6.2.16-alpine",
            "mirror.local:5000/dockerhub/library/redis:6.2.16-alpine",
        ),
        # other registry with its own mapping
        ("quay.io/coreos/etcd:v3.5.5", "mirror.local:5000/quay/coreos/etcd:v3.5.5"),
        # other registry without a mapping: left alone
        (
            "docker.elastic.co/elasticsearch/elasticsearch:8.14.3",
            "docker.elastic.co/elasticsearch/elasticsearch:8.14.3",
        ),
        # registry with a port, unmapped
        ("localhost:5000/team/app:1.0", "localhost:5000/team/app:1.0"),
        # digest kept
        (
            "postgres:15@sha256:" + "c" * 64,
            "mirror.local:5000/dockerhub/library/postgres:15@sha256:" + "c" * 64,
        ),
    ],
)
def test_rewrite(ref: str, expected: str) -> None:
    assert rewrite(ref, MIRRORS) == expected


def test_rewrite_registry_with_port_mapped() -> None:
    assert rewrite("localhost:5000/team/app:1.0", {"localhost:5000": "m.example/l"}) == (
        "m.example/l/team/app:1.0"
    )


def test_rewrite_without_mirrors_is_identity() -> None:
    assert rewrite("postgres:15-alpine", {}) == "postgres:15-alpine"


def test_mirrors_from_env() -> None:
    env = {"STACK_REGISTRY_MIRRORS": "docker.io=m.local:5000/hub/, quay.io=m.local/quay"}
    assert mirrors_from_env(env) == {"docker.io": "m.local:5000/hub", "quay.io": "m.local/quay"}
    assert mirrors_from_env({}) == {}
    assert parse_mirrors("index.docker.io=m/hub") == {"docker.io": "m/hub"}


@pytest.mark.parametrize("bad", ["docker.io", "=m/x", "docker.io=", "docker.io=https://m/x"])
def test_mirrors_from_env_names_the_variable(bad: str) -> None:
    with pytest.raises(ImageError) as err:
        mirrors_from_env({"STACK_REGISTRY_MIRRORS": f"quay.io=ok/q,{bad}"})
    text = str(err.value)
    assert "STACK_REGISTRY_MIRRORS" in text
    assert repr(bad.strip()) in text
