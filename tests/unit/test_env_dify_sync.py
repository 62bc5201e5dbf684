"""env.sync --example: a platform checkout's .env carried across Dify-format releases.

The fixtures in data/dify-releases/ are two abridged releases of Dify's docker/.env.example
and an operator's .env made from the old one.  Between them (facts of real releases):
NGINX_SSL_PROTOCOLS dropped TLSv1.1 and SWAGGER_UI_ENABLED (the API docs UI) went from true
to false.  Also: GUNICORN_TIMEOUT 200 -> 360 and NGINX_CLIENT_MAX_BODY_SIZE 15M -> 100M;
MULTIMODAL_SEND_IMAGE_FORMAT and MULTIMODAL_SEND_VIDEO_FORMAT were replaced by
MULTIMODAL_SEND_FORMAT; new: SERVICE_API_URL, CODE_EXECUTION_ENDPOINT,
CODE_EXECUTION_API_KEY (must equal SANDBOX_API_KEY), CHROMA_SERVER_AUTHN_CREDENTIALS and
MINIO_SECRET_KEY (shipped secrets), NGINX_KEEPALIVE_TIMEOUT, a placeholder credential
PLUGIN_ALIYUN_OSS_ACCESS_KEY_SECRET, ENABLE_OTEL and an empty OTLP_API_KEY.

The operator changed CONSOLE_API_URL, FILES_URL, LOG_LEVEL, SECRET_KEY, GUNICORN_TIMEOUT
(to what became the new default), DB/REDIS passwords and the broker URL, WEAVIATE_API_KEY,
MULTIMODAL_SEND_IMAGE_FORMAT, SANDBOX_API_KEY, NGINX_CLIENT_MAX_BODY_SIZE (with a comment)
and both plugin keys; deleted SQLALCHEMY_POOL_RECYCLE; added ACME_REPORTS_DB_HOST and
ACME_BACKUP_BUCKET with comments, and a header.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.env.dify_example import fresh_decision, read_example, secret_reason
from stack.env.dify_sync import REMOVED_MARKER, plan_dify_sync, sync
from stack.env.parse import read_entries
from stack.env.sync import read_sidecar, sidecar_path, sidecar_text
from stack.env.userenv import UserEnv
from stack.errors import ProblemsError

DATA = Path(__file__).parent / "data" / "dify-releases"
OLD, NEW, USER = DATA / "old" / ".env.example", DATA / "new" / ".env.example", DATA / "user.env"
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {
    "difyai123456",
    "dify-sandbox",
    "minioadmin",
    "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U",
}


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    target = tmp_path / ".env"
    target.write_bytes(USER.read_bytes())
    return target


def values(text: str) -> dict[str, str]:
    return {
        e.key: e.value
        for e in read_entries(text)
        if e.kind == "binding" and e.key and e.value is not None
    }


def lines(text: str) -> list[str]:
    return text.splitlines()


# ----------------------------------------------------------------- the two-release fixture


def test_two_releases_counts_and_decisions(env_file):
    result = sync(env_file, NEW, base=OLD, dry_run=True)
    plan = result.plan
    assert plan.counts() == {
        "kept": 13,
        "followed": 2,
        "added": 10,
        "commented out": 2,
        "fresh secrets": 2,
    }
    assert plan.followed == [
        ("NGINX_SSL_PROTOCOLS", "TLSv1.1 TLSv1.2 TLSv1.3", "TLSv1.2 TLSv1.3"),
        ("SWAGGER_UI_ENABLED", "true", "false"),
    ]
    assert plan.kept_changed == [("NGINX_CLIENT_MAX_BODY_SIZE", "15M", "100M")]
    assert plan.removed == ["MULTIMODAL_SEND_IMAGE_FORMAT", "MULTIMODAL_SEND_VIDEO_FORMAT"]
    assert plan.own == ["ACME_REPORTS_DB_HOST", "ACME_BACKUP_BUCKET"]
    assert plan.deleted == ["SQLALCHEMY_POOL_RECYCLE"]
    assert sorted(plan.fresh) == ["CHROMA_SERVER_AUTHN_CREDENTIALS", "MINIO_SECRET_KEY"]
    decisions = dict(plan.added)
    assert decisions["SERVICE_API_URL"].startswith("not a secret")
    assert "takes your value of SANDBOX_API_KEY" in decisions["CODE_EXECUTION_API_KEY"]
    assert "placeholder" in decisions["PLUGIN_ALIYUN_OSS_ACCESS_KEY_SECRET"]
    assert "empty" in decisions["OTLP_API_KEY"]
    assert "same default as DB_PASSWORD" in decisions["CHROMA_SERVER_AUTHN_CREDENTIALS"]
    report = "\n".join(plan.report())
    assert "summary: 13 kept, 2 followed, 10 added, 2 commented out, 2 fresh secrets" in report


def test_two_releases_text(env_file):
    before = env_file.read_text()
    new = sync(env_file, NEW, base=OLD, dry_run=True).plan.new
    got, mine = values(new), values(before)
    # Untouched changed defaults follow; the user's values are kept byte for byte.
    assert "NGINX_SSL_PROTOCOLS=TLSv1.2 TLSv1.3" in lines(new)
    assert "SWAGGER_UI_ENABLED=false" in lines(new)
    for key in (
        "CONSOLE_API_URL",
        "SECRET_KEY",
        "DB_PASSWORD",
        "CELERY_BROKER_URL",
        "GUNICORN_TIMEOUT",
    ):
        assert f"{key}={mine[key]}" in lines(new)
    assert (
        "# ops: raised for large PDF uploads (ticket OPS-42)\nNGINX_CLIENT_MAX_BODY_SIZE=50M" in new
    )
    # New secrets: linked, fresh, left for the user.
    assert got["CODE_EXECUTION_API_KEY"] == mine["SANDBOX_API_KEY"]
    for key in ("CHROMA_SERVER_AUTHN_CREDENTIALS", "MINIO_SECRET_KEY"):
        assert got[key] not in SHIPPED and len(got[key]) >= 32
    assert got["PLUGIN_ALIYUN_OSS_ACCESS_KEY_SECRET"] == "your-secret-key"
    assert got["OTLP_API_KEY"] == ""
    # Removed: commented out behind the marker, the user's value still readable.
    assert REMOVED_MARKER + "MULTIMODAL_SEND_IMAGE_FORMAT=url" in lines(new)
    assert "MULTIMODAL_SEND_IMAGE_FORMAT" not in got
    # Deleted by the user: not back.  Added after its predecessor, with its comments.
    assert "SQLALCHEMY_POOL_RECYCLE" not in got
    assert (
        "CONSOLE_WEB_URL=\n\n# Service API Url,\n# used to display Service API Base Url to the "
        "front-end.\n# If empty, it is the same domain.\n# Example: https://api.dify.ai\n"
        "SERVICE_API_URL=\n"
    ) in new
    # A section header both files share is not repeated; a new section brings its own.
    assert new.count("# Multi-modal Configuration") == 1
    assert new.index("MULTIMODAL_SEND_FORMAT=base64") < new.index("MULTIMODAL_SEND_IMAGE_FORMAT")
    assert "# Code execution (the api side of the sandbox)" in new
    assert "NGINX_CLIENT_MAX_BODY_SIZE=50M\nNGINX_KEEPALIVE_TIMEOUT=65\n" in new
    # The user's own lines are where they were.
    assert new.startswith("# ACME production: copied from the old release's .env.example")
    assert new.endswith("# --- local additions (ops) ---\nACME_BACKUP_BUCKET=s3://acme-backups\n")
    assert (
        "# ops: read replica for the monthly reports\nACME_REPORTS_DB_HOST=replica.acme.internal"
        in new
    )


def test_every_user_line_survives_in_order(env_file):
    old_text = env_file.read_text()
    plan = sync(env_file, NEW, base=OLD, dry_run=True).plan
    followed = {name for name, _, _ in plan.followed}
    out = lines(plan.new)
    position = 0
    for line in lines(old_text):
        key = line.partition("=")[0]
        if key in followed:
            continue
        candidates = [line, REMOVED_MARKER + line]
        found = [i for i in range(position, len(out)) if out[i] in candidates]
        assert found, line
        position = found[0] + 1


def test_write_keeps_mode_backup_and_records_defaults(env_file):
    os.chmod(env_file, 0o640)
    original = env_file.read_bytes()
    result = sync(env_file, NEW, base=OLD)
    assert result.written and result.record_written
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
    assert result.backup is not None and result.backup.read_bytes() == original
    assert env_file.read_text() == result.plan.new
    record, why = read_sidecar(env_file)
    assert why is None and record == read_example(NEW).defaults()


def test_write_goes_through_a_symlink(tmp_path):
    real = tmp_path / "real.env"
    real.write_bytes(USER.read_bytes())
    link = tmp_path / ".env"
    link.symlink_to(real)
    result = sync(link, NEW, base=OLD)
    assert link.is_symlink() and real.read_text() == result.plan.new


def test_second_sync_changes_nothing(env_file):
    first = sync(env_file, NEW, base=OLD)
    text, record = env_file.read_text(), sidecar_path(env_file).read_text()
    for base in (None, OLD):  # the record alone, or the same --base again
        again = sync(env_file, NEW, base=base if base is None else NEW)
        assert not again.plan.changed and again.diff == ""
        assert not again.written and not again.record_written and again.backup is None
        assert env_file.read_text() == text and sidecar_path(env_file).read_text() == record
    assert first.written


def test_record_replaces_base(env_file):
    with_base = sync(env_file, NEW, base=OLD, dry_run=True).plan
    sidecar_path(env_file).write_text(sidecar_text(read_example(OLD).defaults()))
    recorded = sync(env_file, NEW, dry_run=True).plan
    assert recorded.counts() == with_base.counts()
    assert recorded.followed == with_base.followed and recorded.removed == with_base.removed


def test_without_base_every_value_is_kept_and_listed(env_file):
    plan = sync(env_file, NEW, dry_run=True).plan
    assert plan.base is None and plan.followed == [] and plan.removed == []
    undecided = dict(plan.undecided)
    assert undecided["NGINX_SSL_PROTOCOLS"] == "TLSv1.2 TLSv1.3"
    assert undecided["SWAGGER_UI_ENABLED"] == "false"
    assert "GUNICORN_TIMEOUT" not in undecided  # equal to the new default
    assert "MULTIMODAL_SEND_IMAGE_FORMAT" in plan.absent_unknown
    report = "\n".join(plan.report())
    assert "cannot be told from your own choice" in report
    assert "NGINX_SSL_PROTOCOLS: differs from the new default 'TLSv1.2 TLSv1.3'; kept" in report
    assert "TLSv1.1" in values(plan.new)["NGINX_SSL_PROTOCOLS"]


def test_dry_run_writes_nothing(env_file):
    before = sorted(p.name for p in env_file.parent.iterdir())
    data = env_file.read_bytes()
    result = sync(env_file, NEW, base=OLD, dry_run=True)
    assert result.diff.startswith("--- ") and not result.written
    assert env_file.read_bytes() == data
    assert sorted(p.name for p in env_file.parent.iterdir()) == before


def test_examples_are_read_with_dify_rules_and_warn(tmp_path, env_file):
    example = tmp_path / "new.env.example"
    example.write_text(NEW.read_text() + "export EXTRA_FLAG=on\nNOT A PAIR\n")
    result = sync(env_file, example, base=OLD, dry_run=True)
    wheres = [p.where for p in result.warnings]
    total = len(NEW.read_text().splitlines())
    assert wheres == [f"{example}:{total + 1}", f"{example}:{total + 2}"]
    assert (
        "EXTRA_FLAG",
        "not a secret (no secret-like name, default not a known shipped secret)",
    ) in result.plan.added
    bad = tmp_path / "bad.env.example"
    bad.write_text("GOOD=1\nBAD-NAME=2\n")
    with pytest.raises(ProblemsError) as info:
        sync(env_file, bad, dry_run=True)
    assert [p.where for p in info.value.problems] == [f"{bad}:2"]


def test_unparsable_user_file_is_refused(tmp_path):
    target = tmp_path / ".env"
    target.write_text("A=1\nB='unterminated\n")
    with pytest.raises(ProblemsError) as info:
        sync(target, NEW, dry_run=True)
    assert info.value.problems[0].where == f"{target}:2"


def test_crlf_file_gets_crlf_lines(tmp_path):
    target = tmp_path / ".env"
    target.write_bytes(USER.read_bytes().replace(b"\n", b"\r\n"))
    new = sync(target, NEW, base=OLD, dry_run=True).plan.new
    assert "\r\nSERVICE_API_URL=\r\n" in new and "\n" not in new.replace("\r\n", "")


def test_user_commented_variable_is_not_added(tmp_path):
    target = tmp_path / ".env"
    target.write_text(USER.read_text() + "# NGINX_KEEPALIVE_TIMEOUT=30\n")
    plan = sync(target, NEW, base=OLD, dry_run=True).plan
    assert ("NGINX_KEEPALIVE_TIMEOUT", len(lines(USER.read_text())) + 1) in plan.commented
    assert "NGINX_KEEPALIVE_TIMEOUT" not in values(plan.new)


def test_secret_default_change_is_not_followed(tmp_path):
    old, new = tmp_path / "old.example", tmp_path / "new.example"
    old.write_text("DB_PASSWORD=difyai123456\nMODE=a\n")
    new.write_text("DB_PASSWORD=changedpw123\nMODE=b\n")
    target = tmp_path / ".env"
    target.write_text("DB_PASSWORD=difyai123456\nMODE=a\n")
    plan = sync(target, new, base=old, dry_run=True).plan
    assert plan.secret_default_changed == ["DB_PASSWORD"]
    assert plan.new == "DB_PASSWORD=difyai123456\nMODE=b\n"


@pytest.mark.parametrize(
    ("name", "default", "why"),
    [
        ("DB_PASSWORD", "difyai123456", "known shipped secret"),
        (
            "INNER_API_KEY_FOR_PLUGIN",
            "QaHbTe77CtuXmsfyhR7+vRjI/+XbV1AaFy691iy+kGDv2Jvy0/eAh8Y1",
            "known",
        ),
        ("SECRET_KEY", "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U", "known shipped"),
        ("SANDBOX_KEY_ANYTHING", "dify-sandbox", "known shipped"),
        ("BROKER", "redis://:difyai123456@cache:6380/2", "embeds"),
        ("SMTP_PASSWORD", "", "ends with _PASSWORD"),
        ("UPSTASH_VECTOR_TOKEN", "dify", "ends with _TOKEN"),
        ("TENCENT_COS_SECRET_KEY", "your-secret-key", "ends with _SECRET_KEY"),
        ("ORACLE_PWD", "x", "ends with _PWD"),
        ("DB_DATABASE", "dify", None),  # a shipped secret elsewhere, but too short to tell
        ("PROMPT_GENERATION_MAX_TOKENS", "512", None),
        ("NGINX_SSL_CERT_KEY_FILENAME", "dify.key", None),
    ],
)
def test_secret_rule(name, default, why):
    reason = secret_reason(name, default)
    assert (reason is None) == (why is None), reason
    if why:
        assert why in reason


def test_fresh_decision_leaves_credentials_to_the_user():
    example = read_example(NEW)
    by_name = example.by_name
    assert fresh_decision(by_name["OTLP_API_KEY"]) is not None
    assert fresh_decision(by_name["PLUGIN_ALIYUN_OSS_ACCESS_KEY_SECRET"]) is not None
    assert fresh_decision(by_name["MINIO_SECRET_KEY"]) is None


# ----------------------------------------------------------------- property


NAMES = [f"V{i}" for i in range(8)]
DEFAULTS = st.sampled_from(["a", "b", "c", ""])
RELEASE = st.dictionaries(st.sampled_from(NAMES), DEFAULTS, max_size=8)


def example_text(release: dict[str, str]) -> str:
    return "".join(f"# about {k}\n{k}={v}\n\n" for k, v in sorted(release.items()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=RELEASE,
    later=st.lists(RELEASE, min_size=1, max_size=4),
    overrides=st.sets(st.sampled_from(NAMES)),
    own=st.lists(st.sampled_from(["USER_X", "USER_Y"]), unique=True),
    use_base=st.booleans(),
)
def test_user_values_and_lines_survive_any_releases(first, later, overrides, own, use_base):
    """Values the user changed (never a value any release ships) and the user's own lines
    and comments survive every sequence of example changes, as a binding or behind the
    removal marker; and a sync right after a sync changes nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        body = []
        changed: dict[str, str] = {}
        for key, value in sorted(first.items()):
            if key in overrides:
                value = changed.setdefault(key, f"mine-{key}")
            body.append(f"{key}={value}\n")
        user_lines = [f"# note of the user {n}\n{k}=own-{k}\n" for n, k in enumerate(own)]
        body[len(body) // 2 : len(body) // 2] = user_lines
        target = folder / ".env"
        target.write_text("# my header\n" + "".join(body))
        previous = folder / "r0.example"
        previous.write_text(example_text(first))
        sync(target, previous, base=previous)  # records the first release
        for number, release in enumerate(later, 1):
            example = folder / f"r{number}.example"
            example.write_text(example_text(release))
            sync(target, example, base=previous if use_base else None)
            again = sync(target, example, dry_run=True)
            assert not again.plan.changed, again.diff
            previous = example
        final = target.read_text()
        out = final.splitlines()
        assert out[0] == "# my header"
        for key, value in changed.items():
            assert f"{key}={value}" in out or REMOVED_MARKER + f"{key}={value}" in out
        for chunk in user_lines:
            assert chunk in final
        got = values(final)
        for key, value in changed.items():
            assert got.get(key, value) == value


# ----------------------------------------------------------------- the real CLI


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
    )


def test_cli_dry_run_writes_nothing(tmp_path, env_file):
    shutil.copy(OLD, tmp_path / "old.example")
    shutil.copy(NEW, tmp_path / "new.example")
    data = env_file.read_bytes()
    proc = run(
        tmp_path,
        "env.sync",
        "--path",
        ".env",
        "--example",
        "new.example",
        "--base",
        "old.example",
        "--dry-run",
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "-NGINX_SSL_PROTOCOLS=TLSv1.1 TLSv1.2 TLSv1.3\n+NGINX_SSL_PROTOCOLS=TLSv1.2 TLSv1.3"
        in proc.stdout
    )
    assert "summary: 13 kept, 2 followed, 10 added, 2 commented out, 2 fresh secrets" in proc.stdout
    assert ".env: dry run, nothing written" in proc.stdout
    assert env_file.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "new.example", "old.example"]


def test_cli_sync_then_up_to_date(tmp_path, env_file):
    shutil.copy(OLD, tmp_path / "old.example")
    shutil.copy(NEW, tmp_path / "new.example")
    proc = run(
        tmp_path, "env.sync", "--path", ".env", "--example", "new.example", "--base", "old.example"
    )
    assert proc.returncode == 0, proc.stderr
    assert "kept the previous file as .env.bak" in proc.stdout
    assert "recorded the current defaults in .env.stack-defaults" in proc.stdout
    again = run(tmp_path, "env.sync", "--path", ".env", "--example", "new.example")
    assert again.returncode == 0, again.stderr
    assert ".env already up to date" in again.stdout
    assert "old defaults: the defaults recorded in .env.stack-defaults" in again.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["--path", "missing.env", "--example", "new.example"],
            ["--path missing.env: error: does not exist"],
        ),
        (
            ["--path", "adir", "--example", "adir", "--base", "nope"],
            [
                "--path adir: error: is a directory",
                "--example adir: error: is a directory",
                "--base nope: error: does not exist",
            ],
        ),
        (["--example", "new.example"], ["--path: error: is required with --example"]),
        (["--path", ".env", "--base", "new.example"], ["--base: error: needs --example"]),
    ],
)
def test_cli_bad_paths_name_the_flag(tmp_path, env_file, args, fragments):
    shutil.copy(NEW, tmp_path / "new.example")
    (tmp_path / "adir").mkdir()
    data = env_file.read_bytes()
    proc = run(tmp_path, "env.sync", *args)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr
    assert env_file.read_bytes() == data


def test_cli_plain_sync_still_uses_the_definitions(tmp_path):
    proc = run(tmp_path, "env.sync", "--path", "missing.env")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--path missing.env: error: does not exist" in proc.stderr  # names the flag
    assert "env.init --output missing.env" in proc.stderr


def test_plan_is_pure_given_text():
    env = UserEnv.from_text("A=1\n", Path(".env"), ".env")
    example = read_example(NEW)
    plan = plan_dify_sync(env, example, {"A": "1"}, base_from="--base x")
    assert plan.removed == ["A"] and plan.new.startswith(REMOVED_MARKER + "A=1\n")


def test_removed_then_back_restores_the_users_line(tmp_path):
    releases = ["A=1\nB=x\n", "A=1\n", "A=1\nB=y\n"]
    paths = []
    for number, text in enumerate(releases):
        paths.append(tmp_path / f"r{number}.example")
        paths[-1].write_text(text)
    target = tmp_path / ".env"
    target.write_text("A=1\nB=mine\n")
    sync(target, paths[0], base=paths[0])
    sync(target, paths[1])
    assert target.read_text() == f"A=1\n{REMOVED_MARKER}B=mine\n"
    back = sync(target, paths[2])
    assert target.read_text() == "A=1\nB=mine\n"
    assert back.plan.restored == [("B", False)] and back.plan.added == []
    assert "your line, commented out by an earlier sync, is restored" in "\n".join(
        back.plan.report()
    )


def test_new_url_and_unknown_secret(tmp_path):
    old, new = tmp_path / "old.example", tmp_path / "new.example"
    old.write_text("REDIS_HOST=redis\nREDIS_PASSWORD=difyai123456\n")
    new.write_text(
        "REDIS_HOST=redis\nREDIS_PASSWORD=difyai123456\n"
        "CELERY_BROKER_URL=redis://:difyai123456@redis:6379/1\n"
        "ACME_SERVICE_API_KEY=shipped-key-123\n"
        "CACHE_URL=redis://:difyai123456@cache:6379/2\n"
    )
    target = tmp_path / ".env"
    target.write_text("REDIS_HOST=redis\nREDIS_PASSWORD=Hn3vLx8qTd5sWb2k\n")
    plan = sync(target, new, base=old, dry_run=True).plan
    got = values(plan.new)
    assert got["CELERY_BROKER_URL"] == "redis://:Hn3vLx8qTd5sWb2k@redis:6379/1"
    assert (
        got["ACME_SERVICE_API_KEY"] != "shipped-key-123" and len(got["ACME_SERVICE_API_KEY"]) == 56
    )
    assert got["CACHE_URL"] == "redis://:difyai123456@cache:6379/2"  # no rule: left, and said so
    decisions = dict(plan.added)
    assert "the URL gets your password of REDIS_PASSWORD" in decisions["CELERY_BROKER_URL"]
    assert "name ends with _API_KEY" in decisions["ACME_SERVICE_API_KEY"]
    assert "put in the password of the server it points at" in decisions["CACHE_URL"]
    assert plan.fresh == ["ACME_SERVICE_API_KEY"]
