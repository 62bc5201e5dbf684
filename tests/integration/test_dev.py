"""`invoke dev.*` against the real engine with the offline stand-in images.

One compose project per test module (`stack-it-<session>`), on free host ports,
labelled with this test session so that a killed run is swept by the next one.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.dev.ports import free_dev_ports
from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def session() -> Iterator[str]:
    from stack.engine import labels

    labels.sweep()
    sid = labels.new_session_id()
    yield sid
    labels.remove_session(sid)
    assert labels.count_labelled(session=sid) == {"containers": 0, "networks": 0, "volumes": 0}


def make_options(session: str, tmp: Path, project: str, **env: str):
    from stack.dev.prepare import DevOptions
    from stack.engine.labels import session_labels

    environ = {
        "STACK_OFFLINE": "1",
        **free_dev_ports(),
    }
    environ.update(env)
    lines: list[str] = []
    return (
        DevOptions(
            project=project,
            timeout=120,
            environ=environ,
            dotenv=tmp / "absent.env",
            labels=session_labels(session, purpose="test"),
            state_dir=tmp / "state",
            out=lines.append,
        ),
        lines,
    )


@pytest.fixture(scope="module")
def stack(session, tmp_path_factory):
    """The default middleware (postgres, redis, ssrf_proxy, pgvector) brought up once."""
    from stack.dev import lifecycle

    opts, lines = make_options(session, tmp_path_factory.mktemp("dev"), f"stack-it-{session}")
    try:
        rows = lifecycle.up(opts)
        yield opts, rows, lines
    finally:
        lifecycle.reset(opts)


def containers(project: str) -> dict[str, dict]:
    from stack.dev.checks import project_containers, service_of

    return {service_of(c): c for c in project_containers(project)}


def test_up_reaches_healthy_and_reports_endpoints(stack):
    opts, rows, lines = stack
    by = {r.service: r for r in rows}
    for name in ("db_postgres", "redis", "ssrf_proxy", "pgvector"):
        assert by[name].state == "running", by[name]
        assert by[name].health == "healthy", by[name]
    port = opts.environ["EXPOSE_POSTGRES_PORT"]
    assert by["db_postgres"].url == f"postgresql://postgres@127.0.0.1:{port}/dify"
    assert by["db_postgres"].credentials == "DB_PASSWORD (default)"
    assert "stack-standin/postgres:" in by["db_postgres"].image
    assert by["sandbox"].state == "skipped"  # no image offline, and it is optional
    text = "\n".join(lines)
    assert "db_postgres: ready: logged in as postgres" in text  # a real login, not just health
    assert "EXPOSE_POSTGRES_PORT" in text and "(environment)" in text  # settings and sources


def test_published_on_loopback_only(stack):
    opts, _, _ = stack
    info = containers(opts.project)["redis"]
    bindings = info["HostConfig"]["PortBindings"]["6379/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": opts.environ["EXPOSE_REDIS_PORT"]}]
    assert "host.docker.internal:host-gateway" in info["HostConfig"]["ExtraHosts"]


def test_repeated_up_changes_nothing(stack):
    from stack.dev import lifecycle

    opts, _, lines = stack
    before = {n: (c["Id"], c["State"]["StartedAt"]) for n, c in containers(opts.project).items()}
    del lines[:]
    rows = lifecycle.up(opts)
    after = {n: (c["Id"], c["State"]["StartedAt"]) for n, c in containers(opts.project).items()}
    assert before == after
    text = "\n".join(lines)
    # Nothing changed since the last up: compose is not run, every login is proven again.
    assert "every container is running and up to date: compose up not needed" in text
    assert "db_postgres: ready: logged in as postgres" in text
    assert {r.service: r.health for r in rows}["redis"] == "healthy"


def test_repeated_up_after_a_change_runs_compose(stack):
    from stack.dev import lifecycle
    from stack.engine.client import client

    opts, _, lines = stack
    old = containers(opts.project)["redis"]["Id"]
    client().api.remove_container(old, force=True)  # replaced behind our back
    del lines[:]
    lifecycle.up(opts)
    assert "compose up not needed" not in "\n".join(lines)
    assert containers(opts.project)["redis"]["Id"] != old
    assert containers(opts.project)["redis"]["State"]["Status"] == "running"


def test_status_shows_a_stopped_service(stack):
    from stack.dev import lifecycle
    from stack.engine.client import client

    opts, _, _ = stack
    client().api.stop(containers(opts.project)["redis"]["Id"], timeout=5)
    rows = {r.service: r for r in lifecycle.status(opts)}
    assert rows["redis"].state.startswith("exited"), rows["redis"]
    assert rows["db_postgres"].state == "running"
    lifecycle.up(opts)  # brings it back
    assert containers(opts.project)["redis"]["State"]["Status"] == "running"


def test_data_survives_down_and_up(stack):
    import psycopg

    from stack.dev import lifecycle

    opts, _, _ = stack
    dsn = dict(
        host="127.0.0.1",
        port=int(opts.environ["EXPOSE_POSTGRES_PORT"]),
        user="postgres",
        password="difyai123456",
        dbname="dify",
    )
    with psycopg.connect(**dsn, autocommit=True) as conn:
        conn.execute("create table if not exists keep (v text)")
        conn.execute("insert into keep values ('survives')")
    lifecycle.down(opts)
    assert containers(opts.project) == {}
    assert not opts.project_dir.exists()  # down removes the state (its secrets) too
    lifecycle.up(opts)
    with psycopg.connect(**dsn) as conn:
        assert conn.execute("select v from keep").fetchall() == [("survives",)]


def test_other_password_on_existing_volume_is_explained(stack):
    from stack.dev import lifecycle
    from stack.errors import DevError

    opts, _, _ = stack
    wrong = lifecycle.DevOptions(
        **{**opts.__dict__, "environ": {**opts.environ, "DB_PASSWORD": "changed-later"}}
    )
    with pytest.raises(DevError) as info:
        lifecycle.up(wrong)
    text = str(info.value)
    assert "db_postgres" in text
    assert "initialised earlier with another password" in text
    assert "DB_PASSWORD" in text and "dev.reset" in text
    lifecycle.up(opts)  # the right password works again


def test_switching_selection_removes_stale_services(stack):
    from stack.dev import lifecycle

    opts, _, _ = stack
    hosted = lifecycle.DevOptions(**{**opts.__dict__, "vector_store": "tencent"})
    rows = {r.service: r for r in lifecycle.status(hosted)}
    assert rows["pgvector"].state.startswith("stale"), rows["pgvector"]
    lifecycle.up(hosted)
    assert "pgvector" not in containers(opts.project)
    lifecycle.up(opts)
    assert "pgvector" in containers(opts.project)


def test_port_conflict_fails_before_anything_starts(session, tmp_path):
    from stack.dev import lifecycle
    from stack.errors import ProblemsError

    opts, _ = make_options(session, tmp_path, f"stack-it-{session}-ports")
    holder = socket.socket()
    holder.bind(("127.0.0.1", int(opts.environ["EXPOSE_REDIS_PORT"])))
    holder.listen()
    try:
        with pytest.raises(ProblemsError) as info:
            lifecycle.up(opts)
    finally:
        holder.close()
    text = str(info.value)
    port = opts.environ["EXPOSE_REDIS_PORT"]
    assert f"service redis: error: host port 127.0.0.1:{port} (EXPOSE_REDIS_PORT) is taken" in text
    assert f"pid {__import__('os').getpid()}" in text  # the holder process is named
    assert containers(opts.project) == {}


def test_volume_from_another_image_is_refused(session, tmp_path):
    from stack.dev import checks
    from stack.dev.plan import DATA_LABEL
    from stack.dev.prepare import prepare
    from stack.engine.client import client

    opts, _ = make_options(session, tmp_path, f"stack-it-{session}-vol")
    prep = prepare(opts)
    vol = prep.plan.by_name("db_postgres").volumes[0]
    client().api.create_volume(
        name=vol.name, labels={**opts.labels, DATA_LABEL: "mysql:8.0.40 (upstream)"}
    )
    try:
        problems = checks.check_volumes(prep)
    finally:
        client().api.remove_volume(vol.name)
    assert len(problems) == 1
    assert f"volume {vol.name} holds data created by mysql:8.0.40 (upstream)" in str(problems[0])


def test_never_healthy_service_gets_a_failure_report(session, tmp_path):
    import yaml

    from stack.dev import lifecycle
    from stack.dev.prepare import prepare
    from stack.errors import DevError

    opts, _ = make_options(session, tmp_path, f"stack-it-{session}-sick", VECTOR_STORE="tencent")
    opts.timeout = 60
    prep = prepare(opts)
    doc = yaml.safe_load(prep.compose_file.read_text())
    doc["services"]["redis"]["healthcheck"] = {
        "test": ["CMD-SHELL", "echo deliberately-broken-check; exit 1"],
        "interval": "1s",
        "timeout": "2s",
        "retries": 2,
    }
    prep.compose_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        with pytest.raises(DevError) as info:
            lifecycle.start_prepared(prep, opts)
    finally:
        lifecycle.reset(opts)
    text = str(info.value)
    assert "== redis: health check reports unhealthy" in text
    assert "deliberately-broken-check" in text  # last health output
    assert "log tail:" in text and "Ready to accept connections" in text


def test_cli_reports_bad_flags_before_any_work(tmp_path):
    argv = [sys.executable, "-m", "invoke", "dev.up", "--db", "oracle", "--timeout", "-5"]
    proc = subprocess.run(
        [*argv, "--project", "Bad Name!", "--vector-store", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "STACK_OFFLINE": "1", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "APIError" not in proc.stderr
    assert "invalid arguments (nothing was done)" in proc.stderr
    assert "--db: error: 'oracle' is not one of: postgresql, mysql" in proc.stderr
    assert "--timeout: error: -5 is out of range: it must be 1 to 3600" in proc.stderr
    assert "--project: error: 'Bad Name!' is not a valid compose project name" in proc.stderr
    assert "for example --project stack-dev" in proc.stderr
    assert "--vector-store: error: 'nope' is not one of:" in proc.stderr
    assert "settings (flags" not in proc.stdout  # no work started


def test_nothing_to_act_on_names_the_existing_projects(stack, session):
    from stack.dev import lifecycle
    from stack.dev.prepare import DevOptions
    from stack.errors import DevError

    opts, _, _ = stack
    nope = DevOptions(project=f"stack-it-{session}-nope", state_dir=opts.state_dir)
    for action in ("dev.logs", "dev.down", "dev.reset"):
        with pytest.raises(DevError) as info:
            lifecycle.require_existing(nope, action, running=action == "dev.logs")
        text = str(info.value)
        assert f"{action}: no dev middleware named stack-it-{session}-nope exists" in text
        assert opts.project in text.split("existing dev middleware:")[1]
    assert lifecycle.require_existing(opts, "dev.logs", running=True).containers


def test_doctor_offline_never_probes_registries():
    from stack.dev import doctor

    checks = doctor.run({"STACK_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    by = {c.name: c for c in checks}
    assert by["engine"].ok is True and "API" in by["engine"].detail
    assert by["compose"].ok is True
    assert by["registry"].ok is None and "not probed" in by["registry"].detail
    assert any(c.name == "images" and "present:" in c.detail for c in checks)
    assert by["disk"].detail.endswith(("/var/lib/docker", "/"))
    assert all(c.line().startswith("[") for c in checks)


def _store_profiles() -> list[str]:
    from stack import paths
    from stack.dev.plan import raw_template

    raw = raw_template(paths.TEMPLATE.read_text())
    found = {
        prof
        for svc in raw["services"].values()
        if "x-stack-dev" in svc
        for prof in svc.get("profiles") or []
    }
    return sorted(found - {"postgresql", "mysql"})


@pytest.mark.slow
@pytest.mark.parametrize("store", _store_profiles())
def test_every_vector_store_with_an_image_runs_in_dev(session, tmp_path, store):
    """Each VECTOR_STORE that has a template service comes up in dev when its image exists.

    Only a missing image skips; any other problem (settings, template) fails the test.
    """
    from stack.dev import lifecycle
    from stack.dev.prepare import derive, prepare

    opts, lines = make_options(session, tmp_path, f"stack-it-{session}-{store}", VECTOR_STORE=store)
    missing = derive(opts).plan.missing
    if missing:
        images = "; ".join(f"{svc}: image {ref} is not available" for svc, ref, _ in missing)
        pytest.skip(f"VECTOR_STORE={store}: {images} (offline, no stand-in)")
    prep = prepare(opts)
    store_services = [
        s.name for s in prep.plan.services if s.name not in ("db_postgres", "redis", "ssrf_proxy")
    ]
    assert store_services, prep.plan
    try:
        rows = {r.service: r for r in lifecycle.start_prepared(prep, opts)}
    finally:
        lifecycle.reset(opts)
    for name in store_services:
        assert rows[name].state == "running" and rows[name].health in ("healthy", "-"), rows[name]
        assert f"{name}: ready" in "\n".join(lines)


def test_status_shows_services_whose_image_is_missing(session, tmp_path):
    from stack.dev import lifecycle

    opts, _ = make_options(session, tmp_path, f"stack-it-{session}-st", VECTOR_STORE="qdrant")
    rows = {r.service: r for r in lifecycle.status(opts)}
    assert rows["qdrant"].state == "image missing"
    from stack.images.catalog import IMAGES

    assert IMAGES["qdrant"].ref in rows["qdrant"].detail
    assert "STACK_OFFLINE" in rows["qdrant"].detail
    assert rows["db_postgres"].state == "not created"
