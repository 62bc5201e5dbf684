"""Choosing upstream / mirror / stand-in / missing (pure; ``present`` is a set lookup)."""

from __future__ import annotations

import pytest

from stack.images.catalog import IMAGES
from stack.images.resolve import offline, present_checker, resolve, standin_ref

MIRRORS = {"docker.io": "mirror.local:5000/hub"}


def test_offline_flag() -> None:
    for value in ("1", "true", "YES", "on"):
        assert offline({"STACK_OFFLINE": value})
    for value in ("", "0", "false", "no"):
        assert not offline({"STACK_OFFLINE": value})
    assert not offline({})


def test_upstream_present_wins() -> None:
    entry = IMAGES["postgres"]
    have = {"postgres:15-alpine", standin_ref("postgres")}
    res = resolve(entry, offline=True, mirrors=MIRRORS, present=have.__contains__)
    assert (res.kind, res.ref_to_use) == ("upstream", "postgres:15-alpine")


def test_long_form_local_tag_counts_as_present() -> None:
    present = present_checker({"docker.io/library/postgres:15-alpine"})
    res = resolve(IMAGES["postgres"], offline=True, mirrors={}, present=present)
    assert res.kind == "upstream"


def test_mirrored_copy_present() -> None:
    have = {"mirror.local:5000/hub/library/redis:6.2.16-alpine"}
    res = resolve(IMAGES["redis"], offline=True, mirrors=MIRRORS, present=have.__contains__)
    assert (res.kind, res.ref_to_use) == ("mirror", next(iter(have)))


def test_standin_used_when_upstream_absent() -> None:
    ref = standin_ref("redis")
    assert ref.startswith("stack-standin/redis:") and len(ref.split(":")[1]) == 12
    res = resolve(IMAGES["redis"], offline=True, mirrors={}, present={ref}.__contains__)
    assert (res.kind, res.ref_to_use) == ("standin", ref)


def test_online_falls_back_to_pull_through_mirror() -> None:
    res = resolve(IMAGES["qdrant"], offline=False, mirrors=MIRRORS, present=set().__contains__)
    assert res.kind == "mirror"
    assert res.ref_to_use == "mirror.local:5000/hub/qdrant/qdrant:v1.7.3"
    res = resolve(IMAGES["etcd"], offline=False, mirrors=MIRRORS, present=set().__contains__)
    assert (res.kind, res.ref_to_use) == ("upstream", "quay.io/coreos/etcd:v3.5.5")


@pytest.mark.parametrize("name", ["postgres", "qdrant"])
def test_offline_missing_names_the_remedy(name: str) -> None:
    res = resolve(IMAGES[name], offline=True, mirrors={}, present=set().__contains__)
    assert res.kind == "missing"
    assert "STACK_REGISTRY_MIRRORS" in res.remedy
    if IMAGES[name].standin:
        assert f"invoke images.build --only {name}" in res.remedy
    else:
        assert "no offline stand-in" in res.remedy
