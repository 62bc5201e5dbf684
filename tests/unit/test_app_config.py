"""Settings, queues and routing of the reference backend (pure: no broker, no database)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stack.app import config
from stack.app.celery_app import beat_schedule, celery_config
from stack.errors import ProblemsError

DEFAULTS = config.definition_defaults()


def _load(**env: str) -> config.Settings:
    return config.load(env, DEFAULTS)


def test_defaults_come_from_the_definitions() -> None:
    assert DEFAULTS["CELERY_BEAT_HEARTBEAT_INTERVAL"].isdigit()
    s = _load()
    assert s.queues == config.parse_queues(DEFAULTS["CELERY_QUEUES"])
    assert s.heartbeat_interval == int(DEFAULTS["CELERY_BEAT_HEARTBEAT_INTERVAL"])
    assert s.cleanup_days == int(DEFAULTS["CELERY_BEAT_SCHEDULER_TIME"])
    assert s.vector_store == DEFAULTS["VECTOR_STORE"]
    assert s.db_url.startswith("postgresql+psycopg://")
    assert s.result_backend == DEFAULTS["CELERY_BROKER_URL"]  # CELERY_BACKEND=redis


def test_every_routed_and_beat_queue_is_in_the_shipped_celery_queues() -> None:
    shipped = set(config.parse_queues(DEFAULTS["CELERY_QUEUES"]))
    assert set(config.TASK_QUEUES.values()) <= shipped
    cfg = celery_config(_load())
    declared = {q.name for q in cfg["task_queues"]}
    assert declared == shipped
    assert cfg["task_default_queue"] in declared and cfg["task_default_queue"] != "celery"
    assert cfg["task_create_missing_queues"] is False
    for entry in cfg["beat_schedule"].values():
        assert entry["task"] in config.BEAT_TASKS
        assert entry["options"]["queue"] in declared
        assert cfg["task_routes"][entry["task"]]["queue"] == entry["options"]["queue"]
    assert cfg["task_routes"]["stack.index_document"] == {"queue": "dataset"}


def test_queues_follow_celery_queues_exactly() -> None:
    s = _load(CELERY_QUEUES=" mail, dataset ,mail,,")
    assert s.queues == ("mail", "dataset") and s.default_queue == "mail"
    assert [q.name for q in celery_config(s)["task_queues"]] == ["mail", "dataset"]


def test_missing_dataset_queue_fails_clearly() -> None:
    with pytest.raises(ProblemsError) as info:
        _load(CELERY_QUEUES="mail,generation")
    text = str(info.value)
    assert "env CELERY_QUEUES" in text and "'dataset'" in text and text.count("CELERY_QUEUES=") == 1
    assert "stack.index_document" in text and "add dataset to CELERY_QUEUES" in text
    with pytest.raises(ProblemsError, match=r"\(empty\)"):
        _load(CELERY_QUEUES=" , ")


def test_beat_schedule_intervals() -> None:
    sched = beat_schedule(_load(CELERY_BEAT_HEARTBEAT_INTERVAL="7", CELERY_BEAT_SCHEDULER_TIME="3"))
    assert sched["heartbeat"]["schedule"] == timedelta(seconds=7)
    assert sched["cleanup"]["schedule"] == timedelta(days=3)


def test_database_backend_and_mysql() -> None:
    s = _load(
        DB_TYPE="mysql",
        DB_HOST="h",
        DB_PORT="3306",
        DB_PASSWORD="p@ss/w",
        CELERY_BACKEND="database",
    )
    assert s.db_url.startswith("mysql+pymysql://") and "charset=utf8mb4" in s.db_url
    assert "p%40ss%2Fw@h:3306" in s.db_url  # the password is URL-escaped
    assert s.result_backend == "db+" + s.db_url
    assert celery_config(s)["database_create_tables_at_setup"] is True


def test_store_settings_come_from_their_variables() -> None:
    pg = _load(VECTOR_STORE="pgvector", PGVECTOR_HOST="v", PGVECTOR_PORT="6000")
    assert pg.store_options["host"] == "v" and pg.store_options["port"] == 6000
    ch = _load(VECTOR_STORE="chroma", CHROMA_HOST="c", CHROMA_PORT="8001")
    assert ch.store_options == {"host": "c", "port": 8001}
    mv = _load(VECTOR_STORE="milvus", MILVUS_URI="http://m:19530", MILVUS_TOKEN="")
    assert mv.store_options["uri"] == "http://m:19530"
    assert mv.store_options["user"] == DEFAULTS["MILVUS_USER"]
    assert "user" not in _load(VECTOR_STORE="milvus", MILVUS_TOKEN="t").store_options


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ProblemsError) as info:
        _load(
            DB_TYPE="oracle",
            DB_PORT="x",
            CELERY_BACKEND="rpc",
            VECTOR_STORE="qdrant",
            CELERY_BEAT_HEARTBEAT_INTERVAL="0",
            OPENDAL_SCHEME="s3",
        )
    wheres = {p.where for p in info.value.problems}
    assert wheres >= {
        "env DB_TYPE",
        "env DB_PORT",
        "env CELERY_BACKEND",
        "env VECTOR_STORE",
        "env CELERY_BEAT_HEARTBEAT_INTERVAL",
        "env OPENDAL_SCHEME",
    }
    assert "pgvector, chroma, milvus" in str(info.value)


def test_state_dir_and_storage_root(tmp_path: Path) -> None:
    s = _load(STACK_RUN_STATE_DIR=str(tmp_path), OPENDAL_FS_ROOT="storage")
    assert s.fs_root == tmp_path / "storage"
    assert _load(STACK_RUN_STATE_DIR=str(tmp_path), OPENDAL_FS_ROOT="/srv/x").fs_root == Path(
        "/srv/x"
    )
    from stack import paths

    default = config.state_dir({})
    assert default == paths.ROOT / ".stack" / "run"  # ignored by git, outside the sources


def test_a_process_with_bad_settings_stops_with_the_problems_not_a_traceback() -> None:
    import os
    import subprocess
    import sys

    from stack.run.modes import DEFAULT_APP_DIR

    env = {**os.environ, "CELERY_QUEUES": "mail", "DB_PORT": "none"}
    proc = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=DEFAULT_APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3  # gunicorn: worker boot error; celery/flask: exit status
    assert proc.stderr.startswith("reference backend: invalid settings\n"), proc.stderr
    assert "env DB_PORT: error: must be an integer, got 'none'" in proc.stderr
    assert proc.stderr.count("env CELERY_QUEUES") == 1
    assert "Traceback" not in proc.stderr
