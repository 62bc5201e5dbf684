"""env.check: production rules, linked secrets, quoting of written values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.env import secrets as gen
from stack.env.parse import load_definitions, read_entries
from stack.env.sync import render_init
from stack.env.userenv import binding_line, check_text


@pytest.fixture(scope="module")
def defs():
    return load_definitions()


@pytest.fixture(scope="module")
def fresh(defs):
    """A freshly initialised file's text."""
    return render_init(defs, gen.generate(defs))


def set_value(text: str, key: str, value: str) -> str:
    line = binding_line(key, value)
    new, n = re.subn(rf"^{key}=.*\n", lambda _m: line, text, count=1, flags=re.M)
    assert n == 1, key
    return new


def test_fresh_file_passes_production(defs, fresh):
    result = check_text(fresh, defs, production=True)
    assert result.problems == [], [str(p) for p in result.problems]


def test_production_rejects_every_shipped_default_secret(defs, fresh):
    shipped = [v for v in defs.secrets() if v.default]
    assert len(shipped) >= 15
    text = fresh
    for var in shipped:
        text = set_value(text, var.name, var.default)
    result = check_text(text, defs, ".env", production=True)
    for var in shipped:
        line = text[: text.index(f"\n{var.name}=")].count("\n") + 2
        hits = [p for p in result.errors if p.what.startswith(f"{var.name} (set in the file)")]
        assert [p.where for p in hits] == [f".env:{line}"], var.name
        assert "shipped default" in hits[0].what
    # without --production the same file is fine: the shipped defaults agree pairwise
    assert check_text(text, defs).problems == []


def test_production_rejects_missing_and_empty_secrets(defs, fresh):
    text = fresh.replace("\nDB_PASSWORD=", "\n#DB_PASSWORD=")
    text = set_value(text, "PLUGIN_DAEMON_KEY", "")
    errors = [str(p) for p in check_text(text, defs, production=True).errors]
    assert any(
        "DB_PASSWORD (not in the file, so the default) is a shipped default" in e for e in errors
    )
    assert any("PLUGIN_DAEMON_KEY" in e and "empty" in e for e in errors)


def test_production_rejects_default_password_inside_url(defs, fresh):
    text = set_value(fresh, "CELERY_BROKER_URL", "redis://:difyai123456@my-redis:6379/1")
    errors = [str(p) for p in check_text(text, defs, production=True).errors]
    assert any("CELERY_BROKER_URL embeds the shipped default password" in e for e in errors)


def test_linked_secrets_must_agree(defs, fresh):
    text = set_value(fresh, "CODE_EXECUTION_API_KEY", "something-else-entirely-0123456789")
    errors = [p for p in check_text(text, defs).errors]
    line = text[: text.index("\nCODE_EXECUTION_API_KEY=")].count("\n") + 2
    assert [(p.where, p.what) for p in errors] == [
        (
            f".env:{line}",
            "CODE_EXECUTION_API_KEY must equal SANDBOX_API_KEY (@same-as in "
            f"{defs['CODE_EXECUTION_API_KEY'].where}) but differs",
        )
    ]


def test_contains_link_accepts_a_list_holding_the_key(defs, fresh):
    key = check_value(fresh, "WEAVIATE_API_KEY")
    listed = set_value(fresh, "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS", f"other,{key}")
    assert check_text(listed, defs).errors == []
    lacking = set_value(fresh, "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS", "other,keys")
    assert [p.what.split(" (")[0] for p in check_text(lacking, defs).errors] == [
        "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS must contain WEAVIATE_API_KEY"
    ]


def check_value(text: str, key: str) -> str:
    found = [e.value for e in read_entries(text) if e.kind == "binding" and e.key == key]
    assert len(found) == 1 and found[0] is not None
    return found[0]


def test_broker_url_password_mismatch_is_a_warning(defs, fresh):
    text = set_value(fresh, "REDIS_PASSWORD", "changedButNotInTheUrl123")
    result = check_text(text, defs)
    assert result.ok
    assert any("password inside CELERY_BROKER_URL" in p.what for p in result.warnings)


def test_all_problems_at_once(defs):
    text = "SECRET_KEY=\nDB_PORT=x\nVECTR_STORE=qdrant\nLOG_LEVEL=INFO\nLOG_LEVEL=INFO\nbad line\n"
    lines = sorted(int(p.where.rpartition(":")[2]) for p in check_text(text, defs).errors)
    assert lines == [1, 2, 3, 5, 6]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_written_values_read_back_exactly(value):
    line = binding_line("KEY", value)
    entries = [e for e in read_entries(line) if e.kind == "binding"]
    assert [(e.key, e.value) for e in entries] == [("KEY", value)]
    if "$" in value:
        assert line.startswith("KEY='")  # compose does not expand single-quoted values
