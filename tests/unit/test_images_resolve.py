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
    have = {entry.ref, standin_ref("postgres")}
    res = resolve(entry, offline=True, mirrors=MIRRORS, present=have.__contains__)
    assert (res.kind, res.ref_to_use) == ("upstream", entry.ref)


def test_long_form_local_tag_counts_as_present() -> None:
    present = present_checker({f"docker.io/library/{IMAGES['postgres'].ref}"})
    res = resolve(IMAGES["postgres"], offline=True, mirrors={}, present=present)
    assert res.kind == "upstream"


def test_mirrored_copy_present() -> None:
    have = {f"mirror.local:5000/hub/library/{IMAGES['redis'].ref}"}
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
    assert res.ref_to_use == f"mirror.local:5000/hub/{IMAGES['qdrant'].ref}"
    res = resolve(IMAGES["etcd"], offline=False, mirrors=MIRRORS, present=set().__contains__)
    assert (res.kind, res.ref_to_use) == ("upstream", IMAGES["etcd"].ref)


@pytest.mark.parametrize("name", ["postgres", "qdrant"])
def test_offline_missing_names_the_remedy(name: str) -> None:
    res = resolve(IMAGES[name], offline=True, mirrors={}, present=set().__contains__)
    assert res.kind == "missing"
    assert "STACK_REGISTRY_MIRRORS" in res.remedy
    if IMAGES[name].standin:
        assert f"invoke images.build --only {name}" in res.remedy
    else:
        assert "no offline stand-in" in res.remedy


def test_online_mirror_wins_over_a_built_standin() -> None:
    # A configured mirror means "run the real image": pulled through it, stand-in or not.
    have = {standin_ref("postgres")}
    res = resolve(IMAGES["postgres"], offline=False, mirrors=MIRRORS, present=have.__contains__)
    assert (res.kind, res.ref_to_use) == (
        "mirror",
        f"mirror.local:5000/hub/library/{IMAGES['postgres'].ref}",
    )
    assert res.needs_pull
    # ...but offline, or with no mirror for its registry, the stand-in is used.
    res = resolve(IMAGES["postgres"], offline=True, mirrors=MIRRORS, present=have.__contains__)
    assert res.kind == "standin" and not res.needs_pull
    res = resolve(IMAGES["postgres"], offline=False, mirrors={}, present=have.__contains__)
    assert res.kind == "standin" and not res.needs_pull


def test_online_without_mirror_pulls_upstream() -> None:
    res = resolve(IMAGES["qdrant"], offline=False, mirrors={}, present=set().__contains__)
    assert (res.kind, res.ref_to_use, res.needs_pull) == ("upstream", IMAGES["qdrant"].ref, True)
