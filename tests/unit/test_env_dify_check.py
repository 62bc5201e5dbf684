"""env.check --example: a platform checkout's .env against its Dify-format .env.example."""

from __future__ import annotations

import shutil

from test_env_dify_sync import NEW, OLD, USER, run  # the fixtures and the CLI runner

from stack.env.dify_check import check_file
from stack.env.dify_example import repo_definitions
from stack.env.dify_sync import sync


def test_old_file_against_new_example(tmp_path):
    target = tmp_path / ".env"
    shutil.copy(USER, target)
    result = check_file(target, NEW, shown=".env")
    errors = [(p.where, p.what) for p in result.errors]
    assert errors == [
        (
            ".env:94",
            "unknown variable MULTIMODAL_SEND_IMAGE_FORMAT; did you mean MULTIMODAL_SEND_FORMAT?",
        ),
        (
            ".env:96",
            "unknown variable MULTIMODAL_SEND_VIDEO_FORMAT; did you mean MULTIMODAL_SEND_FORMAT?",
        ),
        (
            ".env:103",
            "CODE_EXECUTION_API_KEY must equal SANDBOX_API_KEY (@same-as in "
            f"{repo_definitions()['CODE_EXECUTION_API_KEY'].where}) but differs",
        ),
    ]
    assert all(p.fix for p in result.problems)
    assert [p.where for p in result.warnings] == [".env:66", ".env:138"]  # the user's own
    assert not result.ok


def test_malformed_duplicates_and_typos_all_at_once(tmp_path):
    target = tmp_path / ".env"
    target.write_text(
        "LOG_LEVEL=INFO\nNGINX_SSL_PROTOCOLZ=TLSv1.3\nthis is not a pair\n"
        "LOG_LEVEL=DEBUG\nQ='unterminated\n"
    )
    result = check_file(target, NEW, shown=".env")
    assert [(p.where, p.severity) for p in result.problems] == [
        (".env:2", "error"),
        (".env:3", "error"),
        (".env:4", "error"),
        (".env:5", "error"),
    ]
    texts = [p.what for p in result.problems]
    assert "did you mean NGINX_SSL_PROTOCOLS?" in texts[0]
    assert "cannot parse 'this is not a pair'" in texts[1]
    assert "duplicate key LOG_LEVEL" in texts[2]
    assert "cannot parse" in texts[3]


def test_production_flags_shipped_secrets(tmp_path):
    target = tmp_path / ".env"
    shutil.copy(NEW, target)
    result = check_file(target, NEW, production=True, shown=".env")
    flagged = sorted(p.what.split()[0] for p in result.errors)
    assert flagged == [
        "CELERY_BROKER_URL",
        "CHROMA_SERVER_AUTHN_CREDENTIALS",
        "CODE_EXECUTION_API_KEY",
        "DB_PASSWORD",
        "MINIO_SECRET_KEY",
        "PLUGIN_DAEMON_KEY",
        "PLUGIN_DIFY_INNER_API_KEY",
        "REDIS_PASSWORD",
        "SANDBOX_API_KEY",
        "SECRET_KEY",
        "WEAVIATE_API_KEY",
    ]
    assert all(p.where.startswith(".env:") for p in result.errors)
    placeholder = [p for p in result.warnings if "placeholder" in p.what]
    assert len(placeholder) == 1 and "PLUGIN_ALIYUN_OSS_ACCESS_KEY_SECRET" in placeholder[0].what
    # Without --production the same file is fine.
    assert check_file(target, NEW, shown=".env").ok


def test_synced_file_passes_production(tmp_path):
    target = tmp_path / ".env"
    shutil.copy(USER, target)
    sync(target, NEW, base=OLD)
    result = check_file(target, NEW, production=True)
    assert result.ok, [str(p) for p in result.errors]


def test_cli_check_reports_and_fails(tmp_path):
    shutil.copy(USER, tmp_path / ".env")
    shutil.copy(NEW, tmp_path / "new.example")
    proc = run(tmp_path, "env.check", "--path", ".env", "--example", "new.example")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        ".env:94: error: unknown variable MULTIMODAL_SEND_IMAGE_FORMAT; did you mean" in proc.stderr
    )
    assert "fix: rename it to MULTIMODAL_SEND_FORMAT" in proc.stderr
    assert ".env: 3 error(s), 2 warning(s)" in proc.stdout


def test_cli_check_production_and_clean(tmp_path):
    shutil.copy(NEW, tmp_path / ".env")
    shutil.copy(NEW, tmp_path / "new.example")
    clean = run(tmp_path, "env.check", "--path", ".env", "--example", "new.example")
    assert clean.returncode == 0, clean.stderr
    prod = run(tmp_path, "env.check", "--path", ".env", "--example", "new.example", "--production")
    assert prod.returncode == 1 and "Traceback" not in prod.stderr
    assert ".env:50: error: SECRET_KEY (set in the file) is a shipped default" in prod.stderr


def test_cli_check_bad_paths(tmp_path):
    (tmp_path / "adir").mkdir()
    proc = run(tmp_path, "env.check", "--path", "adir", "--example", "missing.example")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--path adir: error: is a directory" in proc.stderr
    assert "--example missing.example: error: does not exist" in proc.stderr
