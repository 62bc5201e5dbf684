"""Env parity: every pod sees the environment compose gives the same service.

For random overrides (hypothesis), the manifests rendered with `--env-file` and the
compose model from `docker compose config` with the same values in its environment
(a second, independent path) agree for every variable of every workload, up to the
service-name mapping and the one documented difference (api's MIGRATION_ENABLED=false).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack import paths
from stack.compose import production
from stack.compose.validate import config
from stack.env.parse import load_definitions
from stack.k8s import release as k
from stack.k8s.names import k8s_name, map_env, renames
from stack.k8s.render import objects
from stack.k8s.workloads import REPLACED

DEFS = load_definitions()
POOL = sorted(
    v.name
    for v in DEFS
    if v.services and not v.interpolated and v.name not in ("VECTOR_STORE", "DB_TYPE")
)


@functools.cache
def compose_text() -> str:
    return production.build().text


def pod_envs(objs: list[dict]) -> dict[str, dict[str, str]]:
    """workload name -> the environment its container sees (envFrom, then env)."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"]: o["stringData"] for o in objs if o["kind"] == "Secret"}
    out = {}
    for o in objs:
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        box = o["spec"]["template"]["spec"]["containers"][0]
        env: dict[str, str] = {}
        for src in box.get("envFrom", []):
            if "configMapRef" in src:
                env.update(maps[src["configMapRef"]["name"]])
            else:
                env.update(secrets[src["secretRef"]["name"]])
        for item in box.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            ref = item["valueFrom"]
            if "secretKeyRef" in ref:
                env[item["name"]] = secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
            else:
                env[item["name"]] = maps[ref["configMapKeyRef"]["name"]][
                    ref["configMapKeyRef"]["key"]
                ]
        out[o["metadata"]["name"]] = env
    return out


def compose_envs(overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    """k8s name -> the environment `docker compose config` gives the service, mapped."""
    env = {"VECTOR_STORE": DEFS["VECTOR_STORE"].default, "DB_TYPE": DEFS["DB_TYPE"].default}
    env.update(overrides)
    data = config(
        compose_text(),
        project_dir=paths.COMPOSE_DIR,
        profiles=[env["VECTOR_STORE"], env["DB_TYPE"]],
        env=env,
    )
    services = data["services"]
    mapping = renames(services)
    out = {}
    for name, svc in services.items():
        if name in REPLACED or not svc.get("image"):
            continue
        values = {k: "" if v is None else str(v) for k, v in (svc.get("environment") or {}).items()}
        mapped = map_env(values, mapping)
        if name == "api":
            mapped["MIGRATION_ENABLED"] = "false"  # the migration Job migrates instead
        out[k8s_name(name)] = mapped
    return out


def rendered_envs(overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / ".env"
        env_file.write_text("".join(f"{key}='{value}'\n" for key, value in overrides.items()))
        return pod_envs(objects(k.build(k.Request(env_file=env_file))))


def assert_parity(overrides: dict[str, str]) -> None:
    pods, composed = rendered_envs(overrides), compose_envs(overrides)
    assert set(pods) == set(composed)
    for name in composed:
        assert pods[name] == composed[name], name


def test_parity_with_the_defaults() -> None:
    assert_parity({})


def test_parity_of_renamed_hosts_and_secrets() -> None:
    overrides = {
        "DB_HOST": "db_postgres",
        "SANDBOX_API_KEY": "fresh-sandbox-key",
        "REDIS_PASSWORD": "r3dis",
        "PLUGIN_DAEMON_PORT": "5999",
    }
    assert_parity(overrides)
    pods = rendered_envs(overrides)
    assert pods["sandbox"]["API_KEY"] == "fresh-sandbox-key"
    assert pods["plugin-daemon"]["SERVER_PORT"] == "5999"
    assert pods["api"]["DB_HOST"] == "db-postgres"


TEXT = st.text(alphabet="abcXYZ019 -_./:@,", max_size=12)


def value_of(name: str) -> st.SearchStrategy[str]:
    """A value of the variable's type (compose itself rejects e.g. a port 0 for nginx)."""
    kind = DEFS[name].type
    if kind.kind == "port":
        return st.integers(1, 65535).map(str)
    if kind.kind == "integer":
        return st.integers(0, 10**6).map(str)
    if kind.kind == "boolean":
        return st.sampled_from(["true", "false"])
    if kind.kind == "enum":
        return st.sampled_from(kind.choices)
    # hosts that name a service (mapped) and free text
    return st.one_of(TEXT, st.sampled_from(["db_postgres", "http://ssrf_proxy:3128", "redis"]))


OVERRIDES = st.lists(
    st.sampled_from(POOL).flatmap(lambda n: st.tuples(st.just(n), value_of(n))),
    min_size=1,
    max_size=8,
).map(dict)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OVERRIDES)
def test_parity_under_random_overrides(overrides: dict[str, str]) -> None:
    assert_parity(overrides)


@pytest.mark.parametrize(("store", "db"), [("qdrant", "mysql"), ("milvus", "postgresql")])
def test_parity_of_other_profiles(store: str, db: str) -> None:
    assert_parity({"VECTOR_STORE": store, "DB_TYPE": db})
