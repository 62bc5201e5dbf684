"""Deriving the dev middleware from the production template (no engine needed).

The plan tests call the very derivation `dev.up` runs (`stack.dev.prepare.plan_services`)
on the real template and definitions, with the image presence given as a function.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stack import paths
from stack.dev import plan as p
from stack.dev.options import STATE_DIR_VAR
from stack.dev.prepare import (
    DevOptions,
    Images,
    Prepared,
    derive,
    plan_services,
    prepare,
    read_sources,
)
from stack.dev.settings import Settings, resolve
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


def standins_only(ref: str) -> bool:
    """Images present locally: every offline stand-in, no upstream image."""
    return ref.startswith("stack-standin/")


def nothing(_ref: str) -> bool:
    return False


PORTS = {"EXPOSE_POSTGRES_PORT": "15432", "EXPOSE_REDIS_PORT": "16379"}


def options(tmp: Path, **env: str) -> DevOptions:
    return DevOptions(
        project="proj",
        environ={"STACK_OFFLINE": "1", **PORTS, **env},
        dotenv=tmp / "absent.env",
        state_dir=tmp / "state",
        labels={"org.stack.test": "1"},
    )


@pytest.fixture(scope="module")
def compose_ok():
    from stack.compose.cli import find_compose
    from stack.errors import ComposeError

    try:
        find_compose()
    except ComposeError as exc:
        pytest.skip(f"no docker compose v2 binary: {exc}")


@pytest.fixture(scope="module")
def sources(compose_ok, tmp_path_factory):
    """The real inputs (template, definitions, `docker compose config`), read once."""
    return read_sources(options(tmp_path_factory.mktemp("src")), cache=False)


def test_plan_with_every_standin_present(sources):
    plan = plan_services(sources, "proj", Images(standins_only, offline=True))
    by = {s.name: s for s in plan.services}
    assert list(by) == ["db_postgres", "redis", "ssrf_proxy", "pgvector"]
    assert all(
        s.image_kind == "standin" and s.run_image.startswith("stack-standin/") for s in by.values()
    )
    pg = by["db_postgres"]
    assert (pg.image, pg.container_port, pg.expose, pg.host_port) == (
        "postgres:15-alpine",
        5432,
        "EXPOSE_POSTGRES_PORT",
        15432,
    )
    assert pg.credential == p.Credential("postgres", "difyai123456", "dify", "DB_PASSWORD")
    assert pg.url == "postgresql://postgres@127.0.0.1:15432/dify"
    assert [v.name for v in pg.volumes] == ["proj_db_postgres_data"]
    assert by["redis"].credential.password_var == "REDIS_PASSWORD"
    assert by["redis"].url == "redis://127.0.0.1:16379"
    # sandbox and plugin_daemon have no stand-in: optional, left out with the reason.
    assert dict(plan.skipped) == {
        "sandbox": "optional; image langgenius/dify-sandbox:0.2.12 not available locally",
        "plugin_daemon": "optional; image langgenius/dify-plugin-daemon:0.5.2-local "
        "not available locally",
    }
    assert plan.missing == [] and plan.notes[0].startswith("sandbox: offline")


def test_plan_offline_without_images_lists_every_required_service_as_missing(sources):
    plan = plan_services(sources, "proj", Images(nothing, offline=True))
    assert plan.services == []
    missing = {svc: (ref, fix) for svc, ref, fix in plan.missing}
    assert set(missing) == {"db_postgres", "redis", "ssrf_proxy", "pgvector"}
    assert "invoke images.build --only postgres" in missing["db_postgres"][1]
    assert {name for name, _ in plan.skipped} == {"sandbox", "plugin_daemon"}


def test_plan_online_pulls_required_and_skips_optional_images(sources):
    images = Images(nothing, offline=False, mirrors={"docker.io": "127.0.0.1:5000/hub"})
    plan = plan_services(sources, "proj", images)
    by = {s.name: s for s in plan.services}
    assert by["db_postgres"].needs_pull and by["db_postgres"].image_kind == "mirror"
    assert by["db_postgres"].run_image == "127.0.0.1:5000/hub/library/postgres:15-alpine"
    assert "sandbox: `docker pull 127.0.0.1:5000/hub/langgenius/dify-sandbox:0.2.12`" in "\n".join(
        plan.notes
    )
    assert plan.missing == []


def test_plan_milvus_standin_folds_etcd_and_minio(compose_ok, tmp_path):
    src = read_sources(options(tmp_path, VECTOR_STORE="milvus"), cache=False)
    plan = plan_services(src, "proj", Images(standins_only))
    assert "milvus-standalone" in plan.names()
    skipped = dict(plan.skipped)
    assert skipped["etcd"] == skipped["minio"] == "folded into the milvus-standalone stand-in"


def test_derive_writes_nothing_and_needs_no_engine(compose_ok, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/stack-test.sock")
    opts = options(tmp_path)
    first = derive(opts, present=standins_only)
    assert not opts.state_root.exists()  # no compose file, no cache
    assert first.text == derive(opts, present=standins_only).text  # byte-identical
    assert first.text.startswith("# GENERATED by `invoke dev.up` for compose project proj")
    assert first.compose_file == tmp_path / "state" / "proj" / "compose.yaml"
    assert first.settings.source("EXPOSE_REDIS_PORT") == "environment"
    # The contract `invoke run.*` builds on.
    svc = first.plan.services[0]
    assert (svc.name, svc.host_port, svc.container_port, svc.expose, svc.scheme) == (
        "db_postgres",
        15432,
        5432,
        "EXPOSE_POSTGRES_PORT",
        "postgresql",
    )
    assert isinstance(first, Prepared) and isinstance(first.settings, Settings)


def test_derive_reports_missing_images_instead_of_raising(compose_ok, tmp_path):
    prep = derive(options(tmp_path), present=nothing)
    assert prep.text == "" and {m[0] for m in prep.plan.missing} >= {"db_postgres"}
    with pytest.raises(ProblemsError, match="images are missing") as info:
        prepare(options(tmp_path), present=nothing)
    assert "service db_postgres: error: image postgres:15-alpine is not available" in str(
        info.value
    )
    assert not (tmp_path / "state").exists()


def test_prepare_writes_the_secrets_privately(compose_ok, tmp_path, monkeypatch):
    """compose.yaml (real passwords) is 0600, every directory from .stack/ down is 0700."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)  # the default state root: ROOT/.stack/dev
    old = os.umask(0o022)
    try:
        (tmp_path / ".stack").mkdir(mode=0o755)  # made earlier by something else
        opts = DevOptions(
            project="proj",
            environ={"STACK_OFFLINE": "1", "DB_PASSWORD": "s3cret-pw", **PORTS},
            dotenv=tmp_path / "absent.env",
        )
        prep = prepare(opts, present=standins_only)
    finally:
        os.umask(old)
    assert prep.compose_file == tmp_path / ".stack" / "dev" / "proj" / "compose.yaml"
    assert "s3cret-pw" in prep.compose_file.read_text()
    for directory in (".stack", ".stack/dev", ".stack/dev/proj"):
        assert stat.S_IMODE((tmp_path / directory).stat().st_mode) == 0o700, directory
    for name in ("compose.yaml", "config.json"):
        path = tmp_path / ".stack" / "dev" / "proj" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert "s3cret-pw" in (tmp_path / ".stack" / "dev" / "proj" / "config.json").read_text()
    # nothing else in the checkout: the state tree is exactly .stack/dev/proj
    assert sorted(p.name for p in (tmp_path / ".stack").iterdir()) == ["dev"]


def test_state_dir_from_the_environment(tmp_path):
    opts = DevOptions(project="p1", environ={STATE_DIR_VAR: str(tmp_path / "s")})
    assert opts.compose_file == tmp_path / "s" / "p1" / "compose.yaml"
    assert opts.private_top == tmp_path / "s"


def test_config_cache_is_used_until_an_input_changes(compose_ok, tmp_path):
    opts = options(tmp_path)
    assert not read_sources(opts).config_cached
    prepare(opts, present=standins_only)
    cached = read_sources(opts)
    fresh = read_sources(opts, cache=False)
    assert cached.config_cached and cached.config == fresh.config
    # The same bytes either way (a cache that reorders keys would change the file).
    assert list(cached.config["services"]) == list(fresh.config["services"])
    from_cache = derive(opts, present=standins_only, sources=cached).text
    assert from_cache == derive(opts, present=standins_only, sources=fresh).text
    assert from_cache == opts.compose_file.read_text()
    changed = options(tmp_path, DB_PASSWORD="another-one")
    assert not read_sources(changed).config_cached  # a setting changed: compose runs again
    prepare(changed, present=standins_only)
    env = read_sources(changed).config["services"]["db_postgres"]["environment"]
    assert env["POSTGRES_PASSWORD"] == "another-one"


def test_dev_document(sources):
    names = ["db_postgres", "redis", "sandbox", "plugin_daemon", "ssrf_proxy"]
    plan = plan_services(sources, "proj", Images(lambda ref: True))  # every upstream image
    plan.services = [s for s in plan.services if s.name in names]
    cfg = sources.config
    doc = p.render_dev(
        plan,
        cfg,
        labels={"org.stack.project": "stack"},
        data_root=paths.COMPOSE_DIR / "volumes",
        inner_api_url="http://host.docker.internal:5001",
    )
    services = doc["services"]
    assert services["db_postgres"]["ports"] == ["127.0.0.1:15432:5432"]
    assert services["db_postgres"]["image"] == "postgres:15-alpine"
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


def test_volume_key_is_stable():
    assert p.volume_key("milvus-standalone", "/var/lib/milvus") == "milvus-standalone_milvus"
    assert p.volume_key("redis", "/data") == "redis_data"


def test_raw_template_reads_x_stack_dev(raw):
    assert raw["services"]["db_postgres"]["x-stack-dev"]["expose"] == "EXPOSE_POSTGRES_PORT"
    assert raw["services"]["sandbox"]["x-stack-dev"]["optional"] is True


def test_paths_are_repo_relative():
    assert paths.TEMPLATE.is_file() and Path(paths.ROOT / "tasks.py").is_file()
