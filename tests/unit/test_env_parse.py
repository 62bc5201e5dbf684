"""The strict env-definitions parser and the model it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.env.model import VarType
from stack.env.parse import load_definitions, parse_definitions, read_entries
from stack.errors import ProblemsError

DATA = Path(__file__).parent / "data"


def parse(text: str):
    return parse_definitions(text, "defs.env")


def test_fixture_model_keeps_order_sections_lines_and_tags():
    defs = load_definitions([DATA / "strict" / "definitions.env"])
    names = [v.name for v in defs]
    assert names == [
        "SECRET_KEY",
        "LOG_LEVEL",
        "TRICKY",
        "DB_TYPE",
        "DB_PASSWORD",
        "DB_PORT",
        "EXPOSE_NGINX_PORT",
        "COMPOSE_PROFILES",
        "NGINX_SERVER_NAME",
    ]
    secret = defs["SECRET_KEY"]
    assert (secret.secret, secret.required, secret.line, secret.section) == (True, True, 7, "Core")
    assert secret.comment == "Flask secret key; generate one with `invoke env.init`."
    assert defs["DB_TYPE"].type == VarType("enum", ("postgresql", "mysql"))
    assert defs["DB_PORT"].type.kind == "port"  # @type=port (nothing is guessed from names)
    assert defs["TRICKY"].default == 'a: b #c "q" $HOME ${X} {json} ü'  # literal, no interpolation
    assert defs["DB_PASSWORD"].services == ("api", "worker", "worker_beat", "plugin_daemon")
    assert [s.title for s in defs.sections] == ["Core", "Database", "Ports", "Nginx"]
    assert defs.sections[2].names == ("EXPOSE_NGINX_PORT", "COMPOSE_PROFILES")
    assert [v.name for v in defs.shared()] == names[:6]
    assert not defs["COMPOSE_PROFILES"].shared
    assert not defs["NGINX_SERVER_NAME"].shared


def test_entries_round_trip_bytes():
    text = "# h\n\n# @section A @services=api\n\n# c\nA=1\n\n\nB='x y'\r\nbad\n"
    assert "".join(e.raw for e in read_entries(text)) == text


def test_line_numbers_survive_blank_runs():
    text = "# @section S @services=api\n\n\n\n# doc\nKEY=v\n"
    variables, _, problems, _ = parse(text)
    assert problems == []
    assert variables[0].line == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# @section S\n\n# doc\nthis is not dotenv\n", "defs.env:4: error: cannot parse"),
        ("# @section S\n\n# doc\nmy-var=1\n", "defs.env:4: error: invalid variable name 'my-var'"),
        ("# @section S\n\n# doc\n# @colour=red\nA=1\n", "defs.env:4: error: A: unknown tag"),
        ("# @section S\n\n# doc\n# @type=enum:a|b\nA=c\n", "A: default 'c' is not one of: a, b"),
        ("# @section S\n\n# doc\n# @type=port\nA=99999\n", "A: default '99999' is not a port"),
        ("# @section S\n\nA=1\n", "defs.env:3: error: A has no comment"),
        ("# doc\n\n# doc\nA=1\n", "A is outside any section"),
        ("# @section S\n\n# doc\nexport A=1\n", "`export ` prefix is not allowed"),
        ("# @section S\n\n# doc\nA=1 # note\n", "inline ` #` comment is not allowed"),
        ("# @section S\n\n# doc\n# @type=float\nA=1\n", "unknown type 'float'"),
    ],
)
def test_bad_definitions_name_file_line_and_reason(text, expected):
    _, _, problems, _ = parse(text)
    assert any(expected in str(p) for p in problems), [str(p) for p in problems]


def test_duplicate_keys_name_both_lines(tmp_path):
    path = tmp_path / "defs.env"
    path.write_text("# @section S\n\n# doc\nA=1\n\n# again\nA=2\n")
    with pytest.raises(ProblemsError) as info:
        load_definitions([path], root=tmp_path)
    text = str(info.value)
    assert "defs.env:7: error: duplicate key A (first defined at defs.env:4)" in text


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "defs.env"
    path.write_text("# @section S\n\nA=1\n# doc\nb-c=2\nnot a line\n")
    with pytest.raises(ProblemsError) as info:
        load_definitions([path], root=tmp_path)
    assert len(info.value.problems) == 3


def test_non_utf8_is_reported_with_line(tmp_path):
    path = tmp_path / "defs.env"
    path.write_bytes(b"# @section S\n\n# doc\nA=\xff\xfe\n")
    with pytest.raises(ProblemsError) as info:
        load_definitions([path], root=tmp_path)
    assert "defs.env:4: error: not UTF-8" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("integer", "-12", "1.5"),
        ("port", "65535", "0"),
        ("boolean", "true", "yes"),
        ("url", "redis://:p@redis:6379/1", "redis:6379"),
    ],
)
def test_var_types_check_values(kind, good, bad):
    vtype = VarType.parse(kind)
    assert vtype.check(good) is None
    assert vtype.check(bad) is not None
    assert vtype.check("") is None  # emptiness is `required`'s business


def test_repository_definitions_load_cleanly():
    defs = load_definitions()
    assert len(defs) > 100
    assert defs["VECTOR_STORE"].default == "pgvector"
    assert defs["VECTOR_STORE"].type.kind == "enum"
    assert {"pgvector", "weaviate", "milvus", "chroma"} <= set(defs["VECTOR_STORE"].type.choices)
    assert defs["DB_TYPE"].type.choices == ("postgresql", "mysql")
    assert defs["SECRET_KEY"].secret
    assert all(v.comment for v in defs)
    assert not any(v.shared for v in defs if v.name.startswith("COMPOSE_"))


# ------------------------------------------------------------ rules are annotations


def variables_of(text: str):
    variables, _, problems, _ = parse(text)
    return {v.name: v for v in variables}, [str(p) for p in problems]


def test_rules_are_read_from_annotations_not_names_or_comments():
    text = (
        "# @section S @services=api\n\n"
        "# An API key, generated as a 24-character password (the name says key).\n"
        "# @secret @generate=password:24\nMY_API_KEY=shipped\n\n"
        "# Must equal MY_API_KEY, says the comment; without @same-as nothing follows.\n"
        "# @secret @generate=token\nOTHER_KEY=shipped\n\n"
        "# Repeats MY_API_KEY.\n# @secret @same-as=MY_API_KEY\nCOPY_KEY=shipped\n\n"
        "# A port by name only: a string without @type.\nSOME_PORT=5432\n\n"
        "# The broker URL.\n# @secret @url-password=MY_API_KEY @url-host=HOST @type=url\n"
        "URL=redis://:shipped@redis:6379/1\n\n# Its host.\nHOST=redis\n"
    )
    by_name, problems = variables_of(text)
    assert problems == []
    from stack.env import secrets as gen
    from stack.env.model import Definitions, Generator

    assert by_name["MY_API_KEY"].generate == Generator("password", 24)
    assert by_name["SOME_PORT"].type == VarType("string")  # no guess from `_PORT`
    defs = Definitions(tuple(by_name.values()), ())
    assert gen.links(defs) == {"COPY_KEY": "MY_API_KEY", "MY_API_KEY": "COPY_KEY"}
    values = gen.generate(defs)
    assert len(values["MY_API_KEY"]) == 24 and values["MY_API_KEY"].isalnum()
    assert values["COPY_KEY"] == values["MY_API_KEY"]
    assert values["URL"] == f"redis://:{values['MY_API_KEY']}@redis:6379/1"
    assert values["OTHER_KEY"] not in (values["MY_API_KEY"], "shipped")


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ("@secret @same-as=NOPE", "defs.env:5: error: B: @same-as=NOPE names no other variable"),
        ("@generate=uuid", "defs.env:4: error: B: unknown generator 'uuid'"),
        ("@generate=password:4", "the length must be a number from 8 to 256"),
        ("@secret", "defs.env:5: error: B: a secret with a shipped default (or @required)"),
        ("@secret @contains=C", "B: C (which it repeats) has no @generate=KIND"),
        ("@secret @generate=token @same-as=A", "B: @generate and @same-as conflict"),
        ("@url-host=A", "B: @url-host needs @url-password=VAR"),
        ("@url-password=A", "B: @url-password: the default 'x' holds no password"),
        ("@same-as=", "B: '@same-as=' needs a variable name"),
        ("@interpolated @services=api", "B: @interpolated is only for variables no service"),
        ("@interpolated", "B: @interpolated default refers to C, which is not defined above"),
        ("@must-equal=A", "defs.env:4: error: B: unknown tag '@must-equal=A'"),
    ],
)
def test_bad_rule_annotations_name_file_line(annotations, expected):
    default = "${C}" if annotations == "@interpolated" else "x"
    text = (
        "# @section S @services=\n\n# doc\n"
        f"# {annotations}\nB={default}\n\n# doc\n# @secret\nC=\n\n"
        "# doc\n# @secret @generate=token\nA=a\n"
    )
    _, problems = variables_of(text)
    assert any(expected in p for p in problems), problems


def test_repository_rules_are_annotations():
    defs = load_definitions()
    assert defs["CODE_EXECUTION_API_KEY"].same_as == "SANDBOX_API_KEY"
    assert defs["PLUGIN_DIFY_INNER_API_KEY"].same_as == "INNER_API_KEY_FOR_PLUGIN"
    assert defs["WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS"].contains == "WEAVIATE_API_KEY"
    broker = defs["CELERY_BROKER_URL"]
    assert (broker.url_password, broker.url_host) == ("REDIS_PASSWORD", "REDIS_HOST")
    assert defs["COMPOSE_PROFILES"].interpolated
    # every generated secret says how; the external credentials ship empty
    for var in defs.secrets():
        assert var.generated == bool(var.default or var.required), var.name
    # ETCD_AUTO_COMPACTION_RETENTION takes "1000" or "1h": no integer guessed from "1000"
    assert defs["ETCD_AUTO_COMPACTION_RETENTION"].type.kind == "string"
