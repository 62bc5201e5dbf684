"""`invoke run.*` environment: the four layers, the endpoint rewrite, --explain, the checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stack import paths
from stack.dev.plan import DevService, Plan, raw_template
from stack.env.parse import load_definitions
from stack.errors import ProblemsError
from stack.run import middleware, runner
from stack.run.endpoints import Endpoint, rewrite, rewrite_all
from stack.run.environment import layer

EPS = {
    "db_postgres": Endpoint("db_postgres", 5432, 15432),
    "redis": Endpoint("redis", 6379, 16379),
    "pgvector": Endpoint("pgvector", 5432, 15433),
    "weaviate": Endpoint("weaviate", 8080, 18080),
}


@pytest.fixture(scope="module")
def defs():
    return load_definitions()


# ---------------------------------------------------------------------- the rewrite rule


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DB_HOST", "db_postgres", "127.0.0.1"),
        ("CELERY_BROKER_URL", "redis://:s3cr3t@redis:6379/1", "redis://:s3cr3t@127.0.0.1:16379/1"),
        ("ANY_NAME", "redis://user:p%40ss@redis:6379/0", "redis://user:p%40ss@127.0.0.1:16379/0"),
        ("WEAVIATE_ENDPOINT", "http://weaviate:8080", "http://127.0.0.1:18080"),
        ("SOME_URL", "postgresql://pgvector/dify", "postgresql://127.0.0.1:15433/dify"),
        ("ORACLE_DSN", "db_postgres:5432/FREE", "127.0.0.1:15432/FREE"),
        # words that happen to equal a service name are not hosts
        ("CELERY_BACKEND", "redis", "redis"),
        ("VECTOR_STORE", "pgvector", "pgvector"),
        # hosts the user chose are kept
        ("DB_HOST", "10.1.2.3", "10.1.2.3"),
        (
            "CELERY_BROKER_URL",
            "redis://:pw@cache.internal:6379/1",
            "redis://:pw@cache.internal:6379/1",
        ),
        # a port the dev middleware does not publish: kept
        ("WEAVIATE_GRPC_ENDPOINT", "grpc://weaviate:50051", "grpc://weaviate:50051"),
    ],
)
def test_rewrite(name, value, expected):
    assert rewrite(name, value, EPS).value == expected


def test_unpublished_port_is_reported():
    result = rewrite("WEAVIATE_GRPC_ENDPOINT", "grpc://weaviate:50051", EPS)
    assert not result.changed and "not published" in result.note


def test_companion_port_follows_its_host_only_when_it_is_the_container_port():
    out = rewrite_all({"DB_HOST": "db_postgres", "DB_PORT": "5432"}, EPS)
    assert out["DB_PORT"].value == "15432"
    kept = rewrite_all({"DB_HOST": "db_postgres", "DB_PORT": "6000"}, EPS)
    assert "DB_PORT" not in kept
    user = rewrite_all({"DB_HOST": "10.0.0.1", "DB_PORT": "5432"}, EPS)
    assert user == {}


# ---------------------------------------------------------------------- the layers


def test_layers_in_order_with_sources(defs):
    env = layer(
        defs,
        endpoints=EPS,
        dotenv={
            "DB_HOST": ("db_postgres", 348),
            "DB_PORT": ("5432", 352),
            "LOG_LEVEL": ("DEBUG", 7),
        },
        environ={"LOG_LEVEL": "WARNING", "PATH": "/usr/bin", "SERVER_WORKER_AMOUNT": "2"},
    )
    # 1. default
    assert env.values["GUNICORN_TIMEOUT"].source == "default"
    # 2. dev endpoints: the default broker URL names `redis`
    broker = env.values["CELERY_BROKER_URL"]
    assert broker.value.startswith("redis://:") and "@127.0.0.1:16379/1" in broker.value
    assert broker.origin.startswith("dev plan (redis")
    # 3. .env, still naming the container: rewritten, and the origin says both
    assert env["DB_HOST"] == "127.0.0.1" and env["DB_PORT"] == "15432"
    assert env.values["DB_HOST"].origin == ".env:348, db_postgres -> dev endpoint of db_postgres"
    # 4. the process environment wins over .env
    assert env["LOG_LEVEL"] == "WARNING" and env.values["LOG_LEVEL"].source == "environment"
    assert env["SERVER_WORKER_AMOUNT"] == "2"
    assert "PATH" not in env.values  # only definitions are settings


def test_a_user_host_wins_and_is_kept(defs):
    env = layer(defs, endpoints=EPS, environ={"REDIS_HOST": "cache.example", "REDIS_PORT": "6379"})
    assert env["REDIS_HOST"] == "cache.example" and env["REDIS_PORT"] == "6379"
    assert env.values["REDIS_HOST"].original is None


def test_explain_masks_secrets_and_names_every_origin(defs):
    env = layer(defs, endpoints=EPS, dotenv={"DB_PASSWORD": ("hunter22", 3)})
    text = env.explain(["DB_PASSWORD", "CELERY_BROKER_URL", "DB_HOST", "DIFY_PORT"])
    assert "hunter22" not in text and "difyai123456" not in text
    assert "DB_PASSWORD" in text and "= ****   (.env:3)" in text
    assert "redis://:****@127.0.0.1:16379/1" in text
    assert "DIFY_PORT" in text and "(default)" in text


def test_invalid_values_are_reported_with_their_layer(defs):
    with pytest.raises(ProblemsError) as exc:
        layer(
            defs,
            endpoints={},
            environ={"SERVER_WORKER_AMOUNT": "many"},
            dotenv={"DIFY_PORT": ("0", 9)},
        )
    text = str(exc.value)
    assert "SERVER_WORKER_AMOUNT (environment)" in text and "DIFY_PORT (.env:9)" in text


def test_child_env_carries_the_backend_variables_and_mode(defs):
    env = layer(defs, endpoints=EPS)
    child = env.child_env({"PATH": "/bin", "HOME": "/h"}, "worker")
    assert child["MODE"] == "worker" and child["PATH"] == "/bin"
    assert (
        child["DB_HOST"] == "127.0.0.1" and child["CELERY_QUEUES"] == defs["CELERY_QUEUES"].default
    )
    assert "EXPOSE_POSTGRES_PORT" not in child  # not a backend variable


# ---------------------------------------------------------------------- roles from the plan


def _svc(name, port, host_port, scheme):
    return DevService(
        name, "img", "img", "upstream", port, f"EXPOSE_{name.upper()}", host_port, scheme
    )


@pytest.fixture(scope="module")
def raw():
    return raw_template(paths.TEMPLATE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("db", "store", "services", "roles"),
    [
        (
            "postgresql", "pgvector",
            [("db_postgres", 5432, "postgresql"), ("redis", 6379, "redis"),
             ("pgvector", 5432, "postgresql")],
            {"database": ["db_postgres"], "redis": ["redis"], "vector_store": ["pgvector"]},
        ),
        (
            "mysql", "chroma",
            [("db_mysql", 3306, "mysql"), ("redis", 6379, "redis"), ("chroma", 8000, "http")],
            {"database": ["db_mysql"], "redis": ["redis"], "vector_store": ["chroma"]},
        ),
        (
            "postgresql", "tencent",  # a hosted store: no container
            [("db_postgres", 5432, "postgresql"), ("redis", 6379, "redis")],
            {"database": ["db_postgres"], "redis": ["redis"], "vector_store": []},
        ),
    ],
)  # fmt: skip
def test_roles_resolve_against_the_plan(raw, db, store, services, roles):
    plan = Plan("p", [_svc(n, port, 20000 + i, s) for i, (n, port, s) in enumerate(services)])
    view = middleware.DevView("p", plan, raw, db, store)
    for role, names in roles.items():
        assert [s.name for s in view.role_services(role)] == names


def test_endpoints_come_from_the_same_derivation_as_dev_up(tmp_path):
    # The derivation dev.up runs (plan_services on the same settings and template).
    environ = {
        "DB_TYPE": "mysql",
        "VECTOR_STORE": "chroma",
        "EXPOSE_MYSQL_PORT": "23306",
        "EXPOSE_CHROMA_PORT": "28000",
        "EXPOSE_REDIS_PORT": "26379",
        "STACK_OFFLINE": "1",
    }
    view = middleware.view(
        "stack-unit-run", environ=environ, dotenv=tmp_path / "none.env",
    )  # fmt: skip
    eps = view.endpoints()
    assert eps["db_mysql"] == Endpoint("db_mysql", 3306, 23306)
    assert eps["chroma"].host_port == 28000 and eps["redis"].host_port == 26379
    assert "db_postgres" not in eps and "pgvector" not in eps
    env = layer(
        load_definitions(),
        endpoints=eps,
        environ={**environ, "DB_HOST": "db_mysql", "DB_PORT": "3306", "CHROMA_HOST": "chroma"},
    )
    assert (env["DB_HOST"], env["DB_PORT"]) == ("127.0.0.1", "23306")
    assert (env["CHROMA_HOST"], env["CHROMA_PORT"]) == ("127.0.0.1", "28000")
    assert "@127.0.0.1:26379/1" in env["CELERY_BROKER_URL"]
    assert [s.name for s in middleware.needed(view, ("database", "redis", "vector_store"))] == [
        "db_mysql", "redis", "chroma",
    ]  # fmt: skip


# ---------------------------------------------------------------------- fail fast


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_down_service_is_named_with_dev_up():
    svc = _svc("db_postgres", 5432, _closed_port(), "postgresql")
    problems = middleware.check_up([svc], "stack-e2e-x", "api")
    assert len(problems) == 1
    text = str(problems[0])
    assert "service db_postgres" in text and "MODE=api needs db_postgres" in text
    assert "invoke dev.up --project stack-e2e-x" in text


def test_an_answering_service_passes():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        svc = _svc("redis", 6379, s.getsockname()[1], "redis")
        assert middleware.check_up([svc], "stack-dev", "beat") == []


def test_check_middleware_reports_only_what_the_mode_needs(raw):
    plan = Plan(
        "stack-dev",
        [
            _svc("db_postgres", 5432, _closed_port(), "postgresql"),
            _svc("redis", 6379, _closed_port(), "redis"),
        ],
    )
    run_plan = runner.RunPlan(
        env=None, commands={"beat": None},  # type: ignore[arg-type]
        dev=middleware.DevView("stack-dev", plan, raw, "postgresql", "pgvector"),
        needs={"beat": ["redis"]},
    )  # fmt: skip
    with pytest.raises(ProblemsError) as exc:
        runner.check_middleware(run_plan, runner.RunOptions())
    text = str(exc.value)
    assert "service redis" in text and "db_postgres" not in text and "`invoke dev.up`" in text


# ---------------------------------------------------------------------- flags


def test_bad_flags_are_reported_together(tmp_path):
    opts = runner.RunOptions(
        project="Bad Name",
        app_dir=tmp_path / "missing",
        python=str(tmp_path / "nopython"),
        env_file=tmp_path / "absent.env",
    )
    with pytest.raises(ProblemsError) as exc:
        runner.validate(opts)
    text = str(exc.value)
    for flag in ("--project", "--app-dir", "--python", "--env-file"):
        assert f"\n{flag}" in text, text


def test_app_dir_needs_app_py_and_a_python(tmp_path):
    with pytest.raises(ProblemsError, match=r"has no app\.py"):
        runner.validate(runner.RunOptions(app_dir=tmp_path))
    (tmp_path / "app.py").write_text("")
    with pytest.raises(ProblemsError, match=r"no \.venv/bin/python and no --python"):
        runner.validate(runner.RunOptions(app_dir=tmp_path))
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(Path(__import__("sys").executable))
    runner.validate(runner.RunOptions(app_dir=tmp_path))
    assert runner.python_for(tmp_path, None) == str(venv / "python")
    assert runner.python_for(tmp_path, "/x/python") == "/x/python"


# ---------------------------------------------------------------------- the task face


def _invoke(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "STACK_OFFLINE": "1",
        "STACK_STATE_DIR": str(tmp_path / "state"),
        "EXPOSE_REDIS_PORT": "26380",
        "EXPOSE_POSTGRES_PORT": "25433",
        "DOCKER_CONFIG": os.environ.get("DOCKER_CONFIG", str(Path.home() / ".docker")),
    }
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_dry_run_and_explain_through_invoke(tmp_path):
    dotenv = tmp_path / "my.env"
    dotenv.write_text("CELERY_QUEUES=dataset,mail\nDB_HOST=db_postgres\nDB_PASSWORD=s3cret-pw\n")
    proc = _invoke(
        tmp_path, "run.all", "--dry-run", "--explain", "--env-file", str(dotenv), "--project", "p1"
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "s3cret-pw" not in out
    assert "DB_HOST" in out and f"({dotenv}:2, db_postgres -> dev endpoint of db_postgres)" in out
    assert "DB_PORT" in out and "= 25433" in out
    assert "redis://:****@127.0.0.1:26380/1" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("(cd ")]
    assert len(lines) == 4  # migration (MIGRATION_ENABLED=true), api, worker, beat
    assert lines[0].endswith("-m flask upgrade-db)")
    assert "-Q dataset,mail " in lines[2]
    assert f"{tmp_path}/state/p1/run/celerybeat-schedule" in lines[3]


def test_bad_flags_through_invoke_are_clean_errors(tmp_path):
    proc = _invoke(tmp_path, "run.api", "--app-dir", str(tmp_path / "nope"), "--dry-run")
    assert proc.returncode != 0
    assert "--app-dir" in proc.stderr and "is not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr
    dotenv = tmp_path / "auto.env"
    dotenv.write_text("CELERY_AUTO_SCALE=true\nCELERY_MIN_WORKERS=4\nCELERY_MAX_WORKERS=2\n")
    auto = _invoke(tmp_path, "run.worker", "--dry-run", "--env-file", str(dotenv))
    assert auto.returncode != 0 and "Traceback" not in auto.stderr
    assert "CELERY_MIN_WORKERS=4 above CELERY_MAX_WORKERS=2" in auto.stderr
    unknown = _invoke(tmp_path, "run.worker", "--dry-run", "--project", "Bad_Name")
    assert unknown.returncode != 0 and "--project" in unknown.stderr


@pytest.mark.parametrize(
    "environ",
    [
        {"DB_TYPE": "postgresql", "VECTOR_STORE": "pgvector", "EXPOSE_PGVECTOR_PORT": "25433"},
        {"DB_TYPE": "mysql", "VECTOR_STORE": "milvus", "EXPOSE_MILVUS_PORT": "29530"},
    ],
)
def test_the_run_view_has_the_names_and_ports_of_dev_ups_plan(tmp_path, environ):
    # dev.up's own derivation, with `docker compose config` (no engine needed for it).
    from stack.dev.options import DevOptions
    from stack.dev.prepare import derive

    env = {**environ, "STACK_OFFLINE": "1"}
    opts = DevOptions(project="p", environ=env, dotenv=tmp_path / "none.env", state_dir=tmp_path)
    full = derive(opts, present=lambda _ref: True).plan
    fast = middleware.view("p", environ=env, dotenv=tmp_path / "none.env").plan

    def ports(plan):
        return [(s.name, s.container_port, s.expose, s.host_port, s.scheme) for s in plan.services]

    assert ports(fast) == ports(full)
    assert fast.skipped == full.skipped
