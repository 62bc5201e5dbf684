"""Dev flags are checked before any work, and the error paths of dev.up and doctor."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from stack.dev.options import check_flags
from stack.errors import ProblemsError


def problems_of(**flags: object) -> str:
    with pytest.raises(ProblemsError) as info:
        check_flags(**flags)  # type: ignore[arg-type]
    return str(info.value)


def test_project_name_follows_the_compose_rule():
    text = problems_of(project="Bad Name!")
    assert "--project: error: 'Bad Name!' is not a valid compose project name" in text
    assert "lowercase letters, digits, '_' and '-', starting with a letter or digit" in text
    assert "for example --project stack-dev" in text
    for bad in ("-leading-dash", "UPPER", "a" * 64, ""):
        assert "--project" in problems_of(project=bad)
    check_flags(project="stack-dev_2")


@pytest.mark.parametrize("value", ["-5", "0", "1e9", "abc", "nan", "0.5"])
def test_timeout_must_be_a_sane_number_of_seconds(value):
    assert "--timeout: error:" in problems_of(timeout=value)


def test_known_vector_store_and_db_and_every_problem_at_once():
    text = problems_of(project="X", vector_store="nope", db="oracle", timeout="-5")
    assert "--vector-store: error: 'nope' is not one of: weaviate" in text
    assert "--db: error: 'oracle' is not one of: postgresql, mysql" in text
    assert text.count("error:") == 4
    check_flags(project=None, vector_store="chroma", db="mysql", timeout="30")


def test_stop_process_kills_a_child_that_ignores_sigterm():
    from stack.dev.readiness import stop_process

    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    start = time.monotonic()
    code = stop_process(proc, grace=0.5)  # proc.wait(grace) raises TimeoutExpired inside
    assert code == -9 and proc.poll() == -9
    assert time.monotonic() - start < 30  # did not wait for the sleep


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/stack-test.sock")
    from stack.engine import client

    client.reset_client()


def test_doctor_reports_malformed_mirrors_and_goes_on(no_engine):
    from stack.dev import doctor

    checks = doctor.run({"STACK_REGISTRY_MIRRORS": "no-equals-sign", "PATH": "/usr/bin:/bin"})
    by = {c.name: c for c in checks}
    assert by["registry"].ok is False
    assert "STACK_REGISTRY_MIRRORS: malformed entry 'no-equals-sign'" in by["registry"].detail
    assert "docker.io=mirror.example:5000/dockerhub" in by["registry"].fix
    assert by["engine"].ok is False and "disk" in by  # the later checks still ran


def test_doctor_reports_broken_definitions_and_goes_on(no_engine, tmp_path, monkeypatch):
    from stack import paths
    from stack.dev import doctor

    (tmp_path / "definitions.env").write_text("# @type=nonsense\nBROKEN\n")
    monkeypatch.setattr(paths, "ENV_DIR", tmp_path)
    checks = doctor.run({"STACK_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    by = {c.name: c for c in checks}
    assert by["settings"].ok is False
    assert "definitions.env" in by["settings"].detail
    assert "invoke env.check" in by["settings"].fix
    assert "disk" in by
    assert "FAIL" in by["settings"].line()


def test_doctor_online_calls_only_local_images_present():
    from stack.dev import doctor
    from stack.images.build import standin_tag

    postgres = standin_tag("postgres")
    checks = doctor._images({"PATH": "/usr/bin:/bin"}, refs={postgres, "redis:6.2.16-alpine"})
    present = next(c for c in checks if c.detail.startswith("present:"))
    assert present.detail == "present: postgres (standin), redis (upstream)"
    pulled = next(c for c in checks if c.detail.startswith("would be pulled:"))
    assert "mysql" in pulled.detail and "postgres" not in pulled.detail
    nothing = doctor._images({"PATH": "/usr/bin:/bin"}, refs=set())
    assert nothing[0].detail == "present: none" and nothing[0].ok is None
