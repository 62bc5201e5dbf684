"""env.init and env.sync: fresh secrets, byte-identical user lines, upgrades."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from stack.env import secrets as gen
from stack.env.model import Definitions
from stack.env.parse import load_definitions, parse_definitions, read_entries
from stack.env.sync import REMOVED_MARKER, init, read_sidecar, sidecar_path, sync
from stack.errors import EnvError


def make_defs(text: str) -> Definitions:
    variables, sections, problems, _ = parse_definitions(text, "defs.env")
    assert [p for p in problems if p.severity == "error"] == []
    return Definitions(tuple(variables), tuple(sections))


OLD = """\
# @section Alpha @services=api

# First.
A1=1

# Second.
A2=keep

# @section Beta @services=api

# Beta one.
B1=old-b

# Going away.
GONE=bye

# Broker password.
# @secret @generate=password
PW=difyai123456

# Broker URL.
# @secret @url-password=PW @type=url
BROKER_URL=redis://:difyai123456@redis:6379/1
"""

NEW = """\
# @section Alpha @services=api

# First (new default).
A1=2

# Second.
A2=keep

# Third, new.
A3=three

# @section Beta @services=api

# Beta one.
B1=new-b

# Broker password.
# @secret @generate=password
PW=difyai123456

# Broker URL.
# @secret @url-password=PW @type=url
BROKER_URL=redis://:difyai123456@redis:6379/1

# @section Gamma @services=api

# A new secret.
# @secret @generate=token
NEW_TOKEN=shipped-token

# Plain new one.
C2=$literal ${X} 'q'
"""


@pytest.fixture(scope="module")
def real_defs():
    return load_definitions()


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # no newline translation


def values(path: Path) -> dict[str, str | None]:
    return {e.key: e.value for e in read_entries(text_of(path)) if e.kind == "binding" and e.key}


# ------------------------------------------------------------------------------ init


def test_init_twice_shares_no_secret(tmp_path, real_defs):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    init(real_defs, first)
    init(real_defs, second)
    one, two = values(first), values(second)
    generated = [v.name for v in real_defs.secrets() if gen.generated(v)]
    assert len(generated) >= 15
    for name in generated:
        assert one[name] != real_defs[name].default, name
        assert one[name] != two[name], name
    secrets_one = {one[n] for n in generated}
    assert not secrets_one & {two[n] for n in generated}
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    # every definition is there, in order, with every default a non-secret has
    assert list(one) == [v.name for v in real_defs]
    for var in real_defs:
        if not var.secret:
            assert one[var.name] == var.default, var.name


def test_init_secrets_are_strong_and_consistent(tmp_path, real_defs):
    path = tmp_path / ".env"
    init(real_defs, path)
    got = values(path)
    assert got["SECRET_KEY"].startswith("sk-") and len(got["SECRET_KEY"]) >= 56
    for name in ("DB_PASSWORD", "REDIS_PASSWORD", "PGVECTOR_PASSWORD"):
        assert got[name].isalnum() and len(got[name]) >= 24, name
    assert len(got["ORACLE_PWD"]) <= 30 and len(got["MINIO_SECRET_KEY"]) <= 40
    assert not got["OPENSEARCH_PASSWORD"].isalnum()  # OpenSearch wants a special character
    assert got["CODE_EXECUTION_API_KEY"] == got["SANDBOX_API_KEY"]
    assert got["PLUGIN_DIFY_INNER_API_KEY"] == got["INNER_API_KEY_FOR_PLUGIN"]
    assert got["WEAVIATE_API_KEY"] == got["WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS"]
    assert got["CELERY_BROKER_URL"] == f"redis://:{got['REDIS_PASSWORD']}@redis:6379/1"
    assert got["S3_SECRET_KEY"] == ""  # external credential: the user supplies it
    assert got["LOG_DATEFORMAT"] == "%Y-%m-%d %H:%M:%S"


def test_init_refuses_existing_file_and_force_keeps_backup(tmp_path, real_defs):
    path = tmp_path / ".env"
    path.write_text("MINE=1\n")
    with pytest.raises(EnvError, match="already exists"):
        init(real_defs, path)
    assert path.read_text() == "MINE=1\n"
    result = init(real_defs, path, force=True)
    assert result.backup is not None and result.backup.read_text() == "MINE=1\n"
    assert "SECRET_KEY" in values(path)


def test_init_values_read_back_through_dotenv_values(tmp_path, real_defs):
    """python-dotenv's public reader (with its interpolation) sees the same values."""
    from dotenv import dotenv_values

    path = tmp_path / ".env"
    init(real_defs, path)
    expanded = dotenv_values(path)
    literal = values(path)
    interpolated = {v.name for v in real_defs if v.interpolated}
    assert interpolated == {"COMPOSE_PROFILES"}
    assert {k: v for k, v in expanded.items() if k not in interpolated} == {
        k: v for k, v in literal.items() if k not in interpolated
    }
    # @interpolated values are written verbatim, so readers that expand (compose,
    # python-dotenv) see the selected profiles
    assert literal["COMPOSE_PROFILES"] == "${VECTOR_STORE},${DB_TYPE}"
    assert expanded["COMPOSE_PROFILES"] == "pgvector,postgresql"


# ------------------------------------------------------------------------------ sync


def upgraded(tmp_path: Path) -> tuple[Path, str]:
    """A file written by init(OLD), then edited by its user."""
    path = tmp_path / ".env"
    init(make_defs(OLD), path)
    text = text_of(path)
    text = text.replace("B1=old-b\n", "B1='my own b'  # I changed this\n")
    text += "\n# my own notes\r\nCUSTOM=mine\n"
    path.write_bytes(text.encode())
    return path, text


def test_sync_upgrade(tmp_path):
    path, before = upgraded(tmp_path)
    old_pw = values(path)["PW"]
    result = sync(make_defs(NEW), path)
    after = text_of(path)
    got = values(path)
    report = "\n".join(result.plan.report())
    # user lines byte-identical
    for line in ("B1='my own b'  # I changed this\n", "# my own notes\r\n", "CUSTOM=mine\n"):
        assert line in after
    assert got["PW"] == old_pw and got["B1"] == "my own b" and got["CUSTOM"] == "mine"
    # new variable after the last existing variable of its section
    assert after.index("A2=keep") < after.index("A3=three") < after.index("Beta")
    # a new section at the end, its secret fresh, literal `$` kept
    assert after.index("CUSTOM=mine") < after.index("# Gamma")
    assert got["NEW_TOKEN"] not in ("", "shipped-token") and len(got["NEW_TOKEN"]) >= 40
    assert got["C2"] == "$literal ${X} 'q'"
    # not overridden: follows the new default, and says so; overridden: kept, reported
    assert got["A1"] == "2"
    assert "A1 changed '1' -> '2'; your value was the old default" in report
    assert "B1 changed 'old-b' -> 'new-b'; you override it" in report
    # no longer defined: commented out, not deleted
    assert f"{REMOVED_MARKER}GONE=bye\n" in after and "GONE" not in got
    assert "CUSTOM" in report and "GONE" in report
    assert result.backup is not None and text_of(result.backup) == before
    assert read_sidecar(path)[0] == make_defs(NEW).defaults()
    # sync twice = no change
    again = sync(make_defs(NEW), path)
    assert not again.written and again.diff == "" and again.backup is None
    assert text_of(path) == after


def test_sync_dry_run_writes_nothing(tmp_path):
    path, before = upgraded(tmp_path)
    record = sidecar_path(path).read_text()
    result = sync(make_defs(NEW), path, dry_run=True)
    assert "+A3=three" in result.diff and "-A1=1" in result.diff
    assert text_of(path) == before and sidecar_path(path).read_text() == record
    assert not list(tmp_path.glob(".env.bak*"))


def test_sync_without_record_keeps_unknown_keys(tmp_path):
    path = tmp_path / ".env"
    path.write_bytes(b"A1=1\r\nGONE=bye\r\nexport A2='x y'\r\n")
    result = sync(make_defs(NEW), path)
    data = path.read_bytes()
    assert data.startswith(b"A1=1\r\nGONE=bye\r\nexport A2='x y'\r\n")  # nothing rewritten
    assert b"\nA3=three\r\n" in data and b"\nA3=three\n" not in data  # file's own CRLF
    assert "GONE" in result.plan.unknown and "no record" in result.plan.report()[0]
    assert sync(make_defs(NEW), path).written is False


def test_sync_never_overwrites_secret_whose_default_changed(tmp_path):
    defs_old = make_defs(OLD)
    path = tmp_path / ".env"
    path.write_text("PW=difyai123456\n")
    sidecar_path(path).write_text(json.dumps({"defaults": defs_old.defaults()}))
    changed = make_defs(NEW.replace("PW=difyai123456", "PW=other-default"))
    result = sync(changed, path)
    assert values(path)["PW"] == "difyai123456"
    assert "PW" in result.plan.secret_default_changed


def test_sync_new_linked_secret_reuses_partner(tmp_path, real_defs):
    path = tmp_path / ".env"
    init(real_defs, path)
    text = path.read_text()
    kept = values(path)
    lines = [ln for ln in text.splitlines(keepends=True) if not ln.startswith("CODE_EXECUTION")]
    lines = [ln for ln in lines if not ln.startswith("CELERY_BROKER_URL=")]
    path.write_text("".join(lines))
    sync(real_defs, path)
    got = values(path)
    assert got["CODE_EXECUTION_API_KEY"] == kept["SANDBOX_API_KEY"]
    assert got["CELERY_BROKER_URL"] == f"redis://:{kept['REDIS_PASSWORD']}@redis:6379/1"


def test_sync_commented_out_variable_is_not_readded(tmp_path):
    path = tmp_path / ".env"
    path.write_text("A1=1\n# A3=three\n")
    result = sync(make_defs(NEW), path)
    assert ("A3", 2) in result.plan.commented_out
    assert "A3" not in values(path)


def test_sync_missing_file_is_an_error(tmp_path):
    with pytest.raises(EnvError, match=r"env\.init"):
        sync(make_defs(NEW), tmp_path / "nope.env")


def test_sync_moves_a_literal_profile_list_to_the_derived_one(tmp_path):
    """A file written when COMPOSE_PROFILES was a literal follows the new derived default,
    written verbatim so that compose expands it (single quotes would keep `${...}`)."""
    head = "# @section S @services=\n\n# Store.\nVECTOR_STORE=pgvector\n\n"
    old = head + "# Profiles.\nCOMPOSE_PROFILES=pgvector\n"
    new = head + "# Profiles.\n# @interpolated\nCOMPOSE_PROFILES=${VECTOR_STORE}\n"
    path = tmp_path / ".env"
    init(make_defs(old), path)
    sync(make_defs(new), path)
    assert "\nCOMPOSE_PROFILES=${VECTOR_STORE}\n" in text_of(path)
    # a new file from the new definitions carries the same line
    fresh = tmp_path / "fresh.env"
    init(make_defs(new), fresh)
    assert "\nCOMPOSE_PROFILES=${VECTOR_STORE}\n" in text_of(fresh)
