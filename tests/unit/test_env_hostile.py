"""The hostile-input corpus (tests/unit/data/hostile/): every case either reads back
byte for byte with the expected values, or is rejected with file:line; never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stack.env.parse import decode, load_definitions, read_entries
from stack.env.sync import plan_sync
from stack.env.userenv import UserEnv, check_file
from stack.errors import ProblemsError

HOSTILE = Path(__file__).parent / "data" / "hostile"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    """Expected outcome: ``values`` read (None: file rejected as unreadable), and the
    (line, fragment) of every error and warning ``env.check`` reports (line 0: file-level)."""

    values: dict[str, str | None] | None
    errors: set[tuple[int, str]] = field(default_factory=set)
    warnings: set[tuple[int, str]] = field(default_factory=set)


SK = {"SECRET_KEY": "sk-abc"}

CASES: dict[str, Case] = {
    "crlf.env": Case({"LOG_LEVEL": "DEBUG", "DB_PORT": "5433", **SK}),
    "bom.env": Case({"LOG_LEVEL": "WARNING", **SK}),
    "export_prefix.env": Case({"LOG_LEVEL": "ERROR", **SK}),
    "quotes.env": Case(
        {
            "SECRET_KEY": "sk-single",
            "LOG_DATEFORMAT": "%Y-%m-%d %H:%M:%S",
            "SMTP_PASSWORD": "pa ss \"q\" 'x'",
            "INIT_PASSWORD": "it's",
            "MAIL_DEFAULT_SEND_FROM": "no reply <a@b.c>",
        }
    ),
    "inline_comment.env": Case(
        {"LOG_LEVEL": "INFO", "SECRET_KEY": "sk-x#y", "DB_DATABASE": "dify#notacomment"}
    ),
    "dollar.env": Case(
        {
            "SECRET_KEY": "sk-$HOME-${X}",
            "DB_PASSWORD": "pa$word",
            "REDIS_PASSWORD": "x${REDIS_HOST}y",
        },
        warnings={
            (2, "DB_PASSWORD: docker compose expands `$`"),
            (3, "REDIS_PASSWORD: docker compose expands `$`"),
            (3, "password inside CELERY_BROKER_URL differs from REDIS_PASSWORD"),
        },
    ),
    "unicode.env": Case({"SECRET_KEY": "sk-ключ", "SMTP_PASSWORD": "pässwörd 🙂"}),
    "long_value.env": Case({"SECRET_KEY": "k" * 20000, "LOG_LEVEL": "INFO"}),
    "empty.env": Case({}, errors={(0, "SECRET_KEY is required but missing")}),
    "whitespace_only.env": Case({}, errors={(0, "SECRET_KEY is required but missing")}),
    "no_final_newline.env": Case({"LOG_LEVEL": "INFO", **SK}),
    "multiline.env": Case({"SMTP_PASSWORD": "line one\nline two", "LOG_LEVEL": "INFO", **SK}),
    "mixed_newlines.env": Case({"LOG_LEVEL": "INFO", "DB_PORT": "5432", **SK}),
    "lone_cr.env": Case({"LOG_LEVEL": "INFO", **SK}),
    "binary.bin": Case(None, errors={(1, "not UTF-8 text (byte 0x89 at offset 0)")}),
    "nul_byte.env": Case(None, errors={(2, "contains NUL bytes")}),
    "latin1.env": Case(None, errors={(2, "not UTF-8 text (byte 0xe4")}),
    "unparsable.env": Case(
        {"LOG_LEVEL": "INFO", **SK},
        errors={
            (2, "cannot parse 'this is not a binding'"),
            (3, "cannot parse '=value-without-key'"),
            (5, 'cannot parse "SMTP_PASSWORD=\'unterminated"'),
        },
    ),
    "duplicates.env": Case(
        {"LOG_LEVEL": "DEBUG", "DB_PORT": "5432", **SK},
        errors={(4, "duplicate key LOG_LEVEL: also at duplicates.env:2")},
    ),
    "typo.env": Case(
        {"VECTR_STORE": "qdrant", "MY_OWN_SETTING": "1", **SK},
        errors={(2, "unknown variable VECTR_STORE; did you mean VECTOR_STORE?")},
        warnings={(3, "unknown variable MY_OWN_SETTING")},
    ),
    "bad_types.env": Case(
        {"DB_PORT": "abc", "DEBUG": "yes", "VECTOR_STORE": "foo", **SK},
        errors={
            (2, "DB_PORT: 'abc' is not a port"),
            (3, "DEBUG: 'yes' is not a boolean"),
            (4, "VECTOR_STORE: 'foo' is not one of: weaviate, qdrant"),
            (5, "DB_TYPE: 'oracle' is not one of: postgresql, mysql"),
            (6, "LOG_FILE_MAX_SIZE: '1.5' is not an integer"),
            (7, "EXPOSE_NGINX_PORT: '70000' is not a port"),
        },
    ),
    "required_empty.env": Case(
        {"SECRET_KEY": "", "DB_HOST": ""},
        errors={(1, "SECRET_KEY is required but empty"), (2, "DB_HOST is required but empty")},
    ),
    "bad_name.env": Case({"my-var": "1", **SK}, errors={(2, "invalid variable name 'my-var'")}),
    "no_equals.env": Case({"LOG_LEVEL": None, **SK}, warnings={(2, "LOG_LEVEL has no `=`")}),
}


@pytest.fixture(scope="module")
def defs():
    return load_definitions()


def test_corpus_and_table_agree():
    on_disk = {p.name for p in HOSTILE.iterdir() if p.name != ".gitattributes"}
    assert on_disk == set(CASES)


def _located(problems, name):
    out = set()
    for p in problems:
        tail = p.where.removeprefix(name).removeprefix(":")
        assert p.where.startswith(name), p.where
        out.add((int(tail) if tail else 0, p.what))
    return out


def _matches(found: set[tuple[int, str]], expected: set[tuple[int, str]]) -> bool:
    if len(found) != len(expected):
        return False
    return all(any(line == el and frag in what for el, frag in expected) for line, what in found)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(name, defs):
    case = CASES[name]
    path = HOSTILE / name
    data = path.read_bytes()
    if case.values is None:
        with pytest.raises(ProblemsError):
            decode(data, name)
    else:
        text = decode(data, name)
        entries = read_entries(text)
        assert "".join(e.raw for e in entries) == text  # byte-exact round trip
        assert text.encode("utf-8") == data
        read = {e.key: e.value for e in entries if e.kind == "binding"}
        for key, value in case.values.items():
            assert read[key] == value, key
    result = check_file(path, defs, shown=name)
    errors = _located(result.errors, name)
    warnings = _located(result.warnings, name)
    assert _matches(errors, case.errors), errors
    assert _matches(warnings, case.warnings), warnings
    assert result.ok == (not case.errors)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.values is not None))
def test_hostile_sync_keeps_every_byte(name, defs):
    """Sync adds the missing variables but every original line stays, in order."""
    text = decode((HOSTILE / name).read_bytes(), name)
    env = UserEnv.from_text(text, HOSTILE / name, name)
    if any("cannot parse" in what for _, what in CASES[name].errors):
        # Appending after broken quoting could be swallowed by it: sync refuses, with lines.
        with pytest.raises(ProblemsError) as info:
            plan_sync(env, defs, defs.defaults())
        assert [p.where for p in info.value.problems] == [f"{name}:{n}" for n in (2, 3, 5)]
        return
    plan = plan_sync(env, defs, defs.defaults())
    position = 0
    for entry in env.entries:
        found = plan.new.find(entry.raw, position)
        assert found >= 0, entry
        position = found + len(entry.raw)
    again = plan_sync(UserEnv.from_text(plan.new, HOSTILE / name, name), defs, defs.defaults())
    assert again.new == plan.new


# ----------------------------------------------------------------- through the real CLI


def _invoke(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `invoke` CLI against the env collection (a shim tasks.py in tmp_path,
    so the test does not depend on which collections tasks.py wires up)."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "tasks.py").write_text(
        "from invoke import Collection\nfrom stack.tasks import env\n"
        "ns = Collection()\nns.add_collection(env.ns)\n"
    )
    environ = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(shim), *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "code", "fragment"),
    [
        ("binary.bin", 1, "binary.bin:1: error: not UTF-8 text"),
        ("crlf.env", 0, "0 error(s), 0 warning(s)"),
    ],
)
def test_cli_check_hostile(tmp_path, name, code, fragment):
    target = tmp_path / name
    target.write_bytes((HOSTILE / name).read_bytes())
    proc = _invoke(tmp_path, "env.check", "--path", name)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert fragment in proc.stdout + proc.stderr


def test_cli_sync_binary_is_refused_without_traceback(tmp_path):
    target = tmp_path / ".env"
    data = (HOSTILE / "binary.bin").read_bytes()
    target.write_bytes(data)
    proc = _invoke(tmp_path, "env.sync", "--path", ".env")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert ".env:1: error: not UTF-8 text" in proc.stderr
    assert target.read_bytes() == data
    assert not list(tmp_path.glob(".env.bak*"))
