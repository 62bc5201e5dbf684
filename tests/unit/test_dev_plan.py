"""Deriving the dev middleware from the production template (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import paths
from stack.dev import plan as p
from stack.dev.settings import resolve
from stack.env.parse import load_definitions
from stack.errors import ProblemsError


@pytest.fixture(scope="module")
def raw():
    return p.raw_template(paths.TEMPLATE.read_text())


@pytest.fixture(scope="module")
def defs():
    return load_definitions()


@pytest.mark.parametrize(
    ("db", "store", "expected"),
    [
        (
            "postgresql",
            "pgvector",
            ["db_postgres", "redis", "sandbox", "plugin_daemon", "ssrf_proxy", "pgvector"],
        ),
        (
            "mysql",
            "chroma",
            ["db_mysql", "redis", "sandbox", "plugin_daemon", "ssrf_proxy", "chroma"],
        ),
        ("postgresql", "milvus", ["etcd", "minio", "milvus-standalone"]),
    ],
)
def test_selection_follows_db_type_and_vector_store(raw, db, store, expected):
    chosen, notes = p.select(raw, db, store)
    if store == "milvus":
        assert chosen[-3:] == expected  # milvus brings its etcd and minio
    else:
        assert sorted(chosen) == sorted(expected)
    assert notes == []


def test_every_store_with_a_profile_is_selectable(raw, defs):
    """Each VECTOR_STORE that has a template service is started by dev.up (not only one)."""
    profiles = {prof for svc in raw["services"].values() for prof in svc.get("profiles") or []} - {
        "postgresql",
        "mysql",
        "certbot",
    }
    assert {"pgvector", "chroma", "milvus", "qdrant", "weaviate", "opensearch"} <= profiles
    for store in profiles:
        assert store in defs["VECTOR_STORE"].type.choices
        chosen, notes = p.select(raw, "postgresql", store)
        assert notes == [] and any(
            store in (raw["services"][n].get("profiles") or []) for n in chosen
        )


def test_hosted_store_starts_no_vector_container(raw):
    chosen, notes = p.select(raw, "postgresql", "tencent")
    assert "pgvector" not in chosen
    assert "VECTOR_STORE=tencent has no service in the template" in notes[0]


def test_every_dev_service_names_an_expose_variable(raw, defs):
    for name, svc in raw["services"].items():
        hint = svc.get("x-stack-dev")
        if hint and hint.get("port"):
            assert hint["expose"] in defs, (name, hint)
            assert defs[hint["expose"]].type.kind == "port"


def test_settings_precedence(tmp_path, defs):
    dotenv = tmp_path / ".env"
    dotenv.write_text("VECTOR_STORE=chroma\nDB_TYPE=mysql\nREDIS_PASSWORD=from-file\n")
    s = resolve(
        defs,
        flags={"DB_TYPE": "postgresql", "VECTOR_STORE": None},
        environ={"VECTOR_STORE": "milvus", "PATH": "/bin"},
        dotenv=dotenv,
    )
    assert (s["DB_TYPE"], s.source("DB_TYPE")) == ("postgresql", "flag")
    assert (s["VECTOR_STORE"], s.source("VECTOR_STORE")) == ("milvus", "environment")
    assert (s["REDIS_PASSWORD"], s.source("REDIS_PASSWORD")) == ("from-file", ".env:3")
    assert s.source("DB_USERNAME") == "default"
    assert "PATH" not in s.items


def test_invalid_setting_names_key_and_source(tmp_path, defs):
    dotenv = tmp_path / ".env"
    dotenv.write_text("EXPOSE_REDIS_PORT=notaport\n")
    with pytest.raises(ProblemsError) as info:
        resolve(defs, flags={"VECTOR_STORE": "nope"}, environ={}, dotenv=dotenv)
    text = str(info.value)
    assert "VECTOR_STORE (flag): error: 'nope' is not one of" in text
    assert "EXPOSE_REDIS_PORT (.env:1): error: 'notaport' is not a port" in text


def test_broken_dotenv_is_reported_with_lines(tmp_path, defs):
    dotenv = tmp_path / ".env"
    dotenv.write_text("A=1\nthis is wrong\nA=2\n")
    with pytest.raises(ProblemsError) as info:
        resolve(defs, environ={}, dotenv=dotenv)
    assert ".env:2: error: cannot parse" in str(info.value)
    assert ".env:3: error: duplicate key A (first at 1)" in str(info.value)


@pytest.fixture(scope="module")
def config(defs):
    from stack.compose import render, validate
    from stack.compose.cli import find_compose
    from stack.errors import ComposeError

    try:
        find_compose()
    except ComposeError as exc:
        pytest.skip(f"no docker compose v2 binary: {exc}")
    text = render.render(paths.TEMPLATE.read_text(), render.shared_from_definitions(defs))
    s = resolve(defs, environ={"EXPOSE_REDIS_PORT": "16379"}, dotenv=None)
    return validate.config(text, project_dir=paths.COMPOSE_DIR, profiles=("*",), env=s.values()), s


def make_plan(raw, config, names, ports):
    cfg, _ = config
    data_root = paths.COMPOSE_DIR / "volumes"
    services = []
    for name in names:
        hint = raw["services"][name]["x-stack-dev"]
        services.append(
            p.DevService(
                name=name,
                image=raw["services"][name]["image"],
                run_image=f"local/{name}:1",
                image_kind="standin",
                container_port=hint.get("port"),
                expose=hint.get("expose"),
                host_port=ports.get(name),
                scheme=hint.get("scheme"),
                volumes=p.data_volumes("proj", name, cfg["services"][name], data_root),
                credential=p.credential(name, raw["services"][name], cfg["services"][name]),
            )
        )
    return p.Plan("proj", services)


def test_dev_document(raw, config):
    cfg, _ = config
    names = ["db_postgres", "redis", "sandbox", "plugin_daemon", "ssrf_proxy"]
    plan = make_plan(raw, config, names, {"db_postgres": 15432, "redis": 16379, "sandbox": 18194})
    doc = p.render_dev(
        plan,
        cfg,
        labels={"org.stack.project": "stack"},
        data_root=paths.COMPOSE_DIR / "volumes",
        inner_api_url="http://host.docker.internal:5001",
    )
    services = doc["services"]
    assert services["db_postgres"]["ports"] == ["127.0.0.1:15432:5432"]
    assert services["db_postgres"]["image"] == "local/db_postgres:1"
    assert services["db_postgres"]["volumes"] == [
        {"type": "volume", "source": "db_postgres_data", "target": "/var/lib/postgresql/data"}
    ]
    assert doc["volumes"]["db_postgres_data"] == {"name": "proj_db_postgres_data", "external": True}
    # depends_on only names selected services (db_mysql is not selected).
    assert set(services["plugin_daemon"]["depends_on"]) == {"db_postgres", "redis"}
    assert services["plugin_daemon"]["environment"]["DIFY_INNER_API_URL"] == (
        "http://host.docker.internal:5001"
    )
    # The sandbox is on the internal network only in production; to publish a port it
    # joins the default network in dev.
    assert services["sandbox"]["networks"] == ["ssrf_proxy_network", "default"]
    assert doc["networks"]["ssrf_proxy_network"]["internal"] is True
    assert all(s["extra_hosts"] == ["host.docker.internal:host-gateway"] for s in services.values())
    assert all(s["labels"]["org.stack.dev-project"] == "proj" for s in services.values())
    assert "profiles" not in services["db_postgres"]
    # Config files stay bind mounts.
    proxy_sources = [m["source"] for m in services["ssrf_proxy"]["volumes"]]
    assert str(paths.COMPOSE_DIR / "ssrf_proxy" / "squid.conf.template") in proxy_sources
    text = p.dump(doc, "proj")
    assert text == p.dump(doc, "proj")
    assert text.startswith("# GENERATED by `invoke dev.up`")


def test_credentials_and_urls(raw, config):
    plan = make_plan(raw, config, ["db_postgres", "redis"], {"db_postgres": 5432, "redis": 6379})
    pg, redis = plan.services
    assert pg.credential == p.Credential("postgres", "difyai123456", "dify", "DB_PASSWORD")
    assert pg.url == "postgresql://postgres@127.0.0.1:5432/dify"
    assert redis.credential.password == "difyai123456"
    assert redis.credential.password_var == "REDIS_PASSWORD"
    assert redis.url == "redis://127.0.0.1:6379"


def test_volume_key_is_stable():
    assert p.volume_key("milvus-standalone", "/var/lib/milvus") == "milvus-standalone_milvus"
    assert p.volume_key("redis", "/data") == "redis_data"


def test_raw_template_reads_x_stack_dev(raw):
    assert raw["services"]["db_postgres"]["x-stack-dev"]["expose"] == "EXPOSE_POSTGRES_PORT"
    assert raw["services"]["sandbox"]["x-stack-dev"]["optional"] is True


def test_paths_are_repo_relative():
    assert paths.TEMPLATE.is_file() and Path(paths.ROOT / "tasks.py").is_file()
