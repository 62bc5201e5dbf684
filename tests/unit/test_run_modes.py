"""The MODE table: both faces (container entrypoint, `invoke run.*`) build the same argv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from stack.env.parse import load_definitions
from stack.errors import ProblemsError, RunError
from stack.run import entrypoint, modes, runner

PY = "/opt/python/bin/python3"


@pytest.fixture(scope="module")
def defaults() -> dict[str, str]:
    return load_definitions().defaults()


def both(env: dict[str, str], mode: str, app: Path, state: Path) -> tuple[modes.Command, ...]:
    """(entrypoint's command, runner's command) for the same environment."""
    face1 = entrypoint.plan({**env, "MODE": mode}, app_dir=app, state_dir=state, python=PY)
    face2 = runner.commands(env, [mode], app_dir=app, state_dir=state, python=PY)[mode]
    return face1, face2


VARIANTS = {
    "defaults": {},
    "no migration": {"MIGRATION_ENABLED": "false"},
    "debug": {"DEBUG": "true"},
    "autoscale": {
        "CELERY_AUTO_SCALE": "true",
        "CELERY_MAX_WORKERS": "4",
        "CELERY_MIN_WORKERS": "1",
    },
    "tuned": {"SERVER_WORKER_AMOUNT": "3", "CELERY_QUEUES": "dataset,mail", "DIFY_PORT": "6001"},
}


@pytest.mark.parametrize("mode", list(modes.MODES))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_entrypoint_and_runner_build_the_same_argv(defaults, tmp_path, mode, variant):
    (tmp_path / "gunicorn_conf.py").write_text("")
    env = {**defaults, **VARIANTS[variant]}
    face1, face2 = both(env, mode, tmp_path, tmp_path / "state")
    assert face1.argv == face2.argv
    assert [f.argv for f in face1.first] == [f.argv for f in face2.first]
    assert face1.cwd == face2.cwd == tmp_path


def test_api_argv_is_gunicorn_with_the_definitions_variables(defaults, tmp_path):
    env = {**defaults, "DIFY_BIND_ADDRESS": "127.0.0.1", "DIFY_PORT": "6001"}
    cmd = runner.commands(env, ["api"], app_dir=tmp_path, state_dir=tmp_path, python=PY)["api"]
    assert cmd.argv == (
        PY, "-m", "gunicorn",
        "--bind", "127.0.0.1:6001",
        "--workers", defaults["SERVER_WORKER_AMOUNT"],
        "--worker-class", defaults["SERVER_WORKER_CLASS"],
        "--worker-connections", defaults["SERVER_WORKER_CONNECTIONS"],
        "--timeout", defaults["GUNICORN_TIMEOUT"],
        "app:app",
    )  # fmt: skip
    # MIGRATION_ENABLED=true by default: `flask upgrade-db` runs first, from the same dir.
    assert [f.argv for f in cmd.first] == [(PY, "-m", "flask", "upgrade-db")]
    assert cmd.first[0].cwd == tmp_path


def test_gunicorn_conf_is_used_when_the_app_has_one(defaults, tmp_path):
    (tmp_path / "gunicorn_conf.py").write_text("")
    cmd = modes.command("api", defaults, app_dir=tmp_path, state_dir=tmp_path, python=PY)
    assert cmd.argv[3:5] == ("-c", f"{tmp_path}/gunicorn_conf.py")


def test_the_bundled_app_has_the_conf_file():
    assert (modes.DEFAULT_APP_DIR / "gunicorn_conf.py").is_file()
    assert (modes.DEFAULT_APP_DIR / "app.py").is_file()


def test_debug_runs_the_flask_dev_server(defaults, tmp_path):
    env = {**defaults, "DEBUG": "true", "MIGRATION_ENABLED": "false"}
    cmd = modes.command("api", env, app_dir=tmp_path, state_dir=tmp_path, python=PY)
    port = defaults["DIFY_PORT"]
    host = defaults["DIFY_BIND_ADDRESS"]
    assert cmd.argv == (PY, "-m", "flask", "run", "--host", host, "--port", port, "--debug")
    assert cmd.first == ()


def test_worker_consumes_exactly_celery_queues(defaults, tmp_path):
    env = {**defaults, "CELERY_QUEUES": "dataset,mail,ops_trace", "CELERY_WORKER_AMOUNT": "3"}
    argv = modes.command("worker", env, app_dir=tmp_path, state_dir=tmp_path, python=PY).argv
    assert argv[2:6] == ("celery", "-A", "app.celery", "worker")
    assert argv[argv.index("-Q") + 1] == "dataset,mail,ops_trace"
    assert argv[argv.index("-P") + 1] == defaults["CELERY_WORKER_CLASS"]
    assert argv[argv.index("-c") + 1] == "3"
    assert not any(a.startswith("--autoscale") for a in argv)


def test_autoscale_replaces_the_fixed_concurrency(defaults, tmp_path):
    env = {
        **defaults,
        "CELERY_AUTO_SCALE": "true",
        "CELERY_MAX_WORKERS": "8",
        "CELERY_MIN_WORKERS": "2",
    }
    argv = modes.command("worker", env, app_dir=tmp_path, state_dir=tmp_path, python=PY).argv
    assert "--autoscale=8,2" in argv and "-c" not in argv


@pytest.mark.parametrize(
    ("low", "high", "named"),
    [
        ("", "", ["CELERY_MIN_WORKERS", "CELERY_MAX_WORKERS"]),
        ("1", "", ["CELERY_MAX_WORKERS"]),
        ("x", "4", ["CELERY_MIN_WORKERS"]),
        ("5", "2", ["CELERY_MIN_WORKERS=5", "CELERY_MAX_WORKERS=2"]),
    ],
)
def test_inconsistent_autoscale_is_an_error_naming_the_variables(
    defaults, tmp_path, low, high, named
):
    env = {
        **defaults,
        "CELERY_AUTO_SCALE": "true",
        "CELERY_MIN_WORKERS": low,
        "CELERY_MAX_WORKERS": high,
    }
    for face in ("entrypoint", "runner"):
        with pytest.raises(ProblemsError) as exc:
            if face == "entrypoint":
                entrypoint.plan(
                    {**env, "MODE": "worker"}, app_dir=tmp_path, state_dir=tmp_path, python=PY
                )
            else:
                runner.commands(env, ["worker"], app_dir=tmp_path, state_dir=tmp_path, python=PY)
        text = str(exc.value)
        assert all(n in text for n in named), text
        assert "CELERY_AUTO_SCALE" in text


def test_autoscale_off_ignores_the_bounds(defaults, tmp_path):
    env = {**defaults, "CELERY_MIN_WORKERS": "9", "CELERY_MAX_WORKERS": "1"}
    modes.command("worker", env, app_dir=tmp_path, state_dir=tmp_path, python=PY)


def test_beat_keeps_its_schedule_in_the_state_dir(defaults, tmp_path):
    state = tmp_path / "state"
    argv = modes.command("beat", defaults, app_dir=tmp_path, state_dir=state, python=PY).argv
    assert argv[2:6] == ("celery", "-A", "app.celery", "beat")
    assert argv[argv.index("-s") + 1] == f"{state}/celerybeat-schedule"


def test_every_routed_task_goes_to_a_default_queue(defaults):
    # One list of queues: the worker's -Q (CELERY_QUEUES) covers every task the backend
    # routes, beat's periodic tasks included; there is no implicit `celery` queue.
    from stack.app import config

    queues = set(defaults["CELERY_QUEUES"].split(","))
    assert set(config.TASK_QUEUES.values()) <= queues
    assert set(config.BEAT_TASKS) <= set(config.TASK_QUEUES)
    assert "celery" not in queues


def test_unknown_mode_names_the_known_ones(defaults, tmp_path):
    with pytest.raises(RunError) as exc:
        modes.command("web", defaults, app_dir=tmp_path, state_dir=tmp_path, python=PY)
    assert "unknown MODE 'web'" in str(exc.value)
    assert "api, worker, beat, migration" in str(exc.value)


def test_a_missing_variable_is_named(defaults, tmp_path):
    env = {k: v for k, v in defaults.items() if k != "CELERY_QUEUES"}
    with pytest.raises(ProblemsError) as exc:
        modes.command("worker", env, app_dir=tmp_path, state_dir=tmp_path, python=PY)
    assert "MODE=worker needs CELERY_QUEUES" in str(exc.value)


@pytest.mark.parametrize(("mode", "var"), [("worker", "CELERY_QUEUES"), ("api", "DIFY_PORT")])
def test_an_empty_variable_is_named(defaults, tmp_path, mode, var):
    env = {**defaults, var: " "}
    with pytest.raises(ProblemsError) as exc:
        modes.command(mode, env, app_dir=tmp_path, state_dir=tmp_path, python=PY)
    assert f"MODE={mode} needs {var}, which is empty" in str(exc.value)


def test_reload_uses_gunicorns_reloader_and_watchfiles_for_celery(defaults, tmp_path):
    kw = {"app_dir": tmp_path, "state_dir": tmp_path, "python": PY, "reload": True}
    api = modes.command("api", defaults, **kw)
    assert "--reload" in api.argv and not api.external_reload
    assert runner.watched(api) == list(api.argv)
    for name in ("worker", "beat"):
        cmd = modes.command(name, defaults, **kw)
        assert not cmd.external_reload or "--reload" not in cmd.argv
        watched = runner.watched(cmd)
        assert watched[:3] == [sys.executable, "-m", "watchfiles"]
        assert watched[watched.index("--filter") + 1] == "python"
        assert watched[-1] == str(tmp_path)


# ---------------------------------------------------------------------- entrypoint main


def test_entrypoint_execs_the_program_from_the_app_dir(defaults, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []
    env = {**defaults, "MODE": "worker", "CELERY_QUEUES": "dataset,mail"}
    code = entrypoint.main(
        ["--app-dir", str(tmp_path), "--state-dir", str(tmp_path / "s")],
        environ=env,
        execvpe=lambda file, argv, e: calls.append((file, argv, e, os.getcwd())),
    )
    assert code == 0
    (file, argv, child_env, cwd), *_ = calls
    assert file == sys.executable and argv[:3] == [sys.executable, "-m", "celery"]
    assert argv[argv.index("-Q") + 1] == "dataset,mail"
    assert child_env["MODE"] == "worker" and cwd == str(tmp_path)


def test_entrypoint_runs_the_migration_first_and_stops_when_it_fails(defaults, tmp_path):
    # A stand-in app dir whose `flask upgrade-db` fails: api must not be exec'd.
    env = {**defaults, "MODE": "api", "MIGRATION_ENABLED": "true", "PATH": os.environ["PATH"]}
    calls = []
    code = entrypoint.main(
        ["--app-dir", str(tmp_path), "--state-dir", str(tmp_path)],
        environ=env,
        execvpe=lambda *a: calls.append(a),
    )
    assert code != 0 and calls == []  # no app.py there: flask cannot find the app


def test_entrypoint_unknown_mode_is_a_clean_error(tmp_path, capsys):
    code = entrypoint.main(["--app-dir", str(tmp_path)], environ={"MODE": "nope"})
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown MODE 'nope'" in err and "Traceback" not in err


def test_entrypoint_dry_run_prints_the_command_lines(defaults, tmp_path, capsys):
    env = {**defaults, "MODE": "api", "MIGRATION_ENABLED": "true"}
    assert entrypoint.main(["--app-dir", str(tmp_path), "--dry-run"], environ=env) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("-m flask upgrade-db")
    assert "-m gunicorn" in lines[1] and lines[1].endswith("app:app")
