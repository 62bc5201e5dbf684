"""Reading foreign Dify-format .env.example files by Dify's generator rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.compose import production
from stack.env.parse import read_dify_env
from stack.errors import ProblemsError

DATA = Path(__file__).parent / "data"


def read(tmp_path: Path, text: str, newline: str = "\n"):
    path = tmp_path / ".env.example"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return read_dify_env(path, ".env.example")


def test_fixture_values_follow_dify_rules(tmp_path):
    found, problems = read_dify_env(DATA / "dify" / ".env.example")
    values = {v.name: v.value for v in found}
    assert values["LOG_LEVEL"] == "INFO"  # whitespace around key and value stripped
    assert values["DB_PASSWORD"] == "difyai123456"  # one pair of quotes removed
    assert values["QUOTED_EQUALS"] == "a=b=c"  # split at the first '='
    assert values["LOG_FILE_DATEFORMAT"] == "%Y-%m-%d %H:%M:%S"
    assert values["SQLALCHEMY_POOL_SIZE"] == "40"  # last duplicate wins...
    names = [v.name for v in found]
    assert names.index("SQLALCHEMY_POOL_SIZE") == 5  # ...at the first one's position
    assert any("duplicate key SQLALCHEMY_POOL_SIZE (first at line 7)" in str(p) for p in problems)
    # COMPOSE_* is never emitted, so its `$` is not worth a warning.
    assert not any("COMPOSE_PROFILES" in str(p) for p in problems)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_warnings_name_lines(tmp_path, newline):
    text = "A=1 # inline\nexport B=2\nC='x' # c\nnot a pair\nD=$HOME\n"
    found, problems = read(tmp_path, text, newline)
    assert {v.name: v.value for v in found} == {
        "A": "1 # inline",
        "B": "2",
        "C": "'x' # c",
        "D": "$HOME",
    }
    shown = [str(p) for p in problems]
    assert any(s.startswith(".env.example:1: warning: A: ` #`") for s in shown)
    assert any(s.startswith(".env.example:2: warning: `export ` prefix") for s in shown)
    assert any(s.startswith(".env.example:3: warning: C: ` #`") for s in shown)
    assert any(s.startswith(".env.example:4: warning: not KEY=VALUE") for s in shown)
    assert any(s.startswith(".env.example:5: warning: D: `$`") for s in shown)
    assert all(p.severity == "warning" for p in problems)


def test_invalid_names_stop_the_render(tmp_path):
    (tmp_path / "docker-compose-template.yaml").write_text(
        "x-shared-env: &shared-api-worker-env\nservices: {}\n"
    )
    (tmp_path / ".env.example").write_text("GOOD=1\nBAD-NAME=2\n")
    with pytest.raises(ProblemsError) as info:
        production.build(tmp_path / "docker-compose-template.yaml")
    assert ":2: error: invalid variable name 'BAD-NAME'" in str(info.value)


def test_bom_and_single_quote_char(tmp_path):
    found, _ = read(tmp_path, "\ufeffA=\"\nB=''\n")
    assert {v.name: v.value for v in found} == {"A": "", "B": ""}


def test_crlf_repository_on_disk_write_check_write(tmp_path):
    """A CRLF Dify checkout: up to date right after a write, and no `.bak` on a rewrite."""
    for name in ("docker-compose-template.yaml", ".env.example"):
        data = (DATA / "dify" / name).read_bytes()
        (tmp_path / name).write_bytes(data.replace(b"\n", b"\r\n"))
    rendered = production.build(tmp_path / "docker-compose-template.yaml")
    assert rendered.text.count("\n") == rendered.text.count("\r\n")
    first = production.write(rendered)
    assert first.changed and first.backup is None
    assert production.check(rendered).up_to_date
    assert production.stale_diff(rendered) == ""
    again = production.build(tmp_path / "docker-compose-template.yaml")
    assert again.text == rendered.text
    second = production.write(again)
    assert not second.changed and second.backup is None
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".env.example", "docker-compose-template.yaml", "docker-compose.yaml"]
