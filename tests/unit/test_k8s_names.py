"""The compose -> Kubernetes name mapping (pure)."""

from __future__ import annotations

import pytest

from stack.k8s.names import is_label, k8s_name, map_value, renames


@pytest.mark.parametrize(
    ("compose", "k8s"),
    [
        ("db_postgres", "db-postgres"),
        ("ssrf_proxy", "ssrf-proxy"),
        ("api", "api"),
        ("milvus-standalone", "milvus-standalone"),
        ("Worker_Beat", "worker-beat"),
    ],
)
def test_k8s_name(compose: str, k8s: str) -> None:
    assert k8s_name(compose) == k8s
    assert is_label(k8s)


@pytest.mark.parametrize("bad", ["_", "1abc", "a" * 64, "---"])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        k8s_name(bad)


MAPPING = renames(["db_postgres", "ssrf_proxy", "plugin_daemon", "api", "redis"])


@pytest.mark.parametrize(
    ("value", "mapped"),
    [
        ("db_postgres", "db-postgres"),
        ("http://ssrf_proxy:3128", "http://ssrf-proxy:3128"),
        ("http://plugin_daemon:5002/x", "http://plugin-daemon:5002/x"),
        ("redis://:p@ss@db_postgres:6379/1", "redis://:p@ss@db-postgres:6379/1"),
        ("ssrf_proxy:3128,db_postgres:5432", "ssrf-proxy:3128,db-postgres:5432"),
        # not a host: left alone
        ("my_db_postgres", "my_db_postgres"),
        ("db_postgres_backup", "db_postgres_backup"),
        ("postgresql", "postgresql"),
        ("", ""),
    ],
)
def test_map_value(value: str, mapped: str) -> None:
    assert map_value(value, MAPPING) == mapped


def test_only_changed_names_are_renamed() -> None:
    assert MAPPING == {
        "db_postgres": "db-postgres",
        "ssrf_proxy": "ssrf-proxy",
        "plugin_daemon": "plugin-daemon",
    }
