"""The puller's reference splitting and its problems (pure; the engine is a stub)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stack.errors import ProblemsError
from stack.images.pull import mirror_for, pull_all, pull_each, split_ref

MIRRORS = {"docker.io": "127.0.0.1:5999"}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (
            "127.0.0.1:5999/library/postgres:15-alpine",
            ("127.0.0.1:5999/library/postgres", "15-alpine"),
        ),
        ("127.0.0.1:5999/library/postgres", ("127.0.0.1:5999/library/postgres", None)),
        ("quay.io/coreos/etcd@sha256:" + "b" * 64, ("quay.io/coreos/etcd", "sha256:" + "b" * 64)),
        ("redis:7", ("redis", "7")),
    ],
)
def test_split_ref(ref: str, expected: tuple[str, str | None]) -> None:
    assert split_ref(ref) == expected


def test_mirror_for() -> None:
    assert mirror_for("postgres:15-alpine", MIRRORS) == "127.0.0.1:5999"
    assert mirror_for("quay.io/coreos/etcd:v3.5.5", MIRRORS) is None


class _Api:
    """Engine stub: ``missing`` repositories fail like a registry without the manifest."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = missing
        self.calls: list[tuple[str, str | None]] = []

    def pull(self, repo: str, tag: str | None = None, **_: Any) -> Iterator[dict[str, str]]:
        self.calls.append((repo, tag))
        yield {"status": f"Pulling from {repo}"}
        if repo in self.missing:
            yield {"error": f"manifest for {repo}:{tag} not found: manifest unknown"}


class _Client:
    def __init__(self, missing: set[str]) -> None:
        self.api = _Api(missing)


def test_failures_name_image_and_mirror() -> None:
    wanted = {
        "postgres:15-alpine": "127.0.0.1:5999/library/postgres:15-alpine",
        "chromadb/chroma:1.5.9": "127.0.0.1:5999/chromadb/chroma:1.5.9",
    }
    client = _Client({"127.0.0.1:5999/chromadb/chroma"})
    failed = pull_each(wanted, mirrors=MIRRORS, client=client)
    assert sorted(client.api.calls) == sorted(
        [
            ("127.0.0.1:5999/library/postgres", "15-alpine"),
            ("127.0.0.1:5999/chromadb/chroma", "1.5.9"),
        ]
    )
    assert list(failed) == ["chromadb/chroma:1.5.9"]
    text = str(failed["chromadb/chroma:1.5.9"])
    assert "image chromadb/chroma:1.5.9" in text
    assert "mirror 127.0.0.1:5999" in text and "manifest unknown" in text
    with pytest.raises(ProblemsError, match="nothing was started") as err:
        pull_all(wanted, mirrors=MIRRORS, client=client)
    assert [p.where for p in err.value.problems] == ["image chromadb/chroma:1.5.9"]


def test_direct_pull_failure_suggests_a_mirror() -> None:
    client = _Client({"qdrant/qdrant"})
    failed = pull_each({"qdrant/qdrant:v1.7.3": "qdrant/qdrant:v1.7.3"}, mirrors={}, client=client)
    problem = failed["qdrant/qdrant:v1.7.3"]
    assert "cannot be pulled from docker.io" in problem.what
    assert problem.fix and "STACK_REGISTRY_MIRRORS=docker.io=" in problem.fix


def test_nothing_wanted_needs_no_engine() -> None:
    assert pull_each({}, mirrors=MIRRORS) == {}
    assert pull_all({}, mirrors=MIRRORS) == 0.0
