"""Secure release mode (`release.compose --strict-secrets`) and the production file's exposure.

Pure rewriting is tested directly; the rendered files (default and strict) are read both as
YAML and through the real `docker compose config` (no engine needed), which is what proves
that a strict file without secrets is refused, naming the variable.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import paths
from stack.compose import production, strict
from stack.compose import render as r
from stack.compose.validate import config
from stack.env.model import Definitions, Generator, Variable
from stack.env.parse import load_definitions
from stack.errors import ComposeError


@pytest.fixture(scope="module")
def compose_ok():
    from stack.compose.cli import find_compose

    try:
        return find_compose()
    except ComposeError as exc:
        pytest.skip(f"no docker compose v2 binary: {exc}")


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return load_definitions()


@pytest.fixture(scope="module")
def default_text() -> str:
    return production.build().text


@pytest.fixture(scope="module")
def strict_text(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("strict") / "docker-compose.strict.yaml"
    return production.build(output=out, strict=True).text


def var(name: str, default: str = "", **kw: Any) -> Variable:
    return Variable(name, default, "", "s", secret=True, **kw)


def ref(name: str, op: str) -> str:
    return "${" + name + op + strict.MESSAGE + "}"


# ----------------------------------------------------------------------------- pure


def test_reference_form_follows_the_definition() -> None:
    assert strict.strict_reference(var("A", "difyai123456")) == ref("A", ":?")
    assert strict.strict_reference(var("A", generate=Generator("token", 42))) == ref("A", ":?")
    assert strict.strict_reference(var("A", same_as="B")) == ref("A", ":?")
    assert strict.strict_reference(var("A", required=True)) == ref("A", ":?")
    # An optional credential someone else issues (SMTP, S3...): env.init writes it empty,
    # so it must be set but may be empty.
    assert strict.strict_reference(var("A")) == ref("A", "?")


def test_message_is_safe_in_every_yaml_context() -> None:
    for bad in (":", "#", "'", '"', "\\", ",", "[", "]", "{", "}", "$"):
        assert bad not in strict.MESSAGE.replace("; ", ""), bad
    assert "invoke env.init" in strict.MESSAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "<A>"),
        ("${A:-difyai123456}", "<A>"),
        ("${A-x}", "<A>"),
        ("${A:?old}", "<A>"),
        ("--requirepass $A ping", "--requirepass <A> ping"),
        ("${A:-{nested}x}tail", "<A>tail"),
        ("$$A and $${A:-x}", "$$A and $${A:-x}"),  # literal dollars
        ("${AB:-x} $AB", "${AB:-x} $AB"),  # another name that starts the same
        ("${URL:-redis://:${A:-x}@h}", "${URL:-redis://:<A>@h}"),  # inside another default
        ("$ {A} $1 ${", "$ {A} $1 ${"),
        ("${A:-unterminated", "${A:-unterminated"),
    ],
)
def test_rewrite(text: str, expected: str) -> None:
    assert strict.rewrite(text, {"A": "<A>"}) == expected


def test_rewrite_is_derived_from_the_secret_flags(defs: Definitions) -> None:
    """Flip the flags and the rewrite follows: there is no list of names to keep in step."""
    text = "a: ${DB_PASSWORD:-difyai123456}\nb: ${DB_DATABASE:-dify}\n"
    assert strict.strict_text(text, defs) == (
        f"a: {ref('DB_PASSWORD', ':?')}\nb: ${{DB_DATABASE:-dify}}\n"
    )
    flipped = Definitions(
        tuple(
            dataclasses.replace(v, secret=v.name == "DB_DATABASE", generate=None)
            for v in defs.variables
        ),
        defs.sections,
    )
    assert strict.strict_text(text, flipped) == (
        f"a: ${{DB_PASSWORD:-difyai123456}}\nb: {ref('DB_DATABASE', ':?')}\n"
    )
    assert strict.is_secret(defs, "DB_PASSWORD") and not strict.is_secret(defs, "DB_DATABASE")
    assert not strict.is_secret(defs, "NO_SUCH_VARIABLE")


def test_flags() -> None:
    (missing,) = strict.flag_problems(None)
    assert missing.where == "--output" and "--output PATH" in missing.what
    (committed,) = strict.flag_problems(str(paths.GENERATED_COMPOSE))
    assert committed.where == "--output" and "committed" in committed.what
    assert strict.flag_problems("compose/docker-compose.strict.yaml") == []
    foreign = strict.flag_problems("x.yaml", template="t.yaml", env_file="e")
    assert [p.where for p in foreign] == ["--template", "--env-file"]


# ----------------------------------------------------------------------------- rendered files


def body(text: str) -> str:
    """The rendered text without its generated-file header."""
    from stack import generated

    parts = generated.split(text)
    assert parts is not None
    return parts[1]


def test_default_rendering_keeps_the_defaults(default_text: str, strict_text: str) -> None:
    assert paths.GENERATED_COMPOSE.read_text(encoding="utf-8") == default_text
    assert strict.MESSAGE not in default_text
    assert "${DB_PASSWORD:-difyai123456}" in default_text
    head = strict_text.split("\n\n", 1)[0]
    assert "Regenerate:     invoke release.compose --strict-secrets --output " in head


def test_strict_rendering_is_deterministic(tmp_path: Path, strict_text: str) -> None:
    again = production.build(output=tmp_path / "x" / "docker-compose.strict.yaml", strict=True)
    assert body(again.text) == body(strict_text)


def test_every_secret_reference_is_strict(defs: Definitions, strict_text: str) -> None:
    secrets = strict.secret_names(defs)
    seen: set[str] = set()
    for match in re.finditer(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", strict_text):
        name = match.group(1)
        if name not in secrets:
            continue
        seen.add(name)
        expected = strict.strict_reference(defs[name])
        assert strict_text.startswith(expected, match.start()), (
            f"line {strict_text.count(chr(10), 0, match.start()) + 1}: {name} is not strict"
        )
    # every shared secret is in the block, and the template's own secret uses are covered
    assert {v.name for v in defs.shared() if v.secret} <= seen
    assert {"DB_PASSWORD", "REDIS_PASSWORD", "SANDBOX_API_KEY", "PLUGIN_DAEMON_KEY"} <= seen
    assert {"PLUGIN_DIFY_INNER_API_KEY", "QDRANT_API_KEY", "PGVECTOR_PASSWORD"} <= seen


def test_no_shipped_secret_default_left(defs: Definitions, strict_text: str) -> None:
    """No `@secret` variable's non-empty default occurs in the strict file.

    A default that is also ordinary text (``dify`` in ``langgenius/dify-api`` or
    ``DB_DATABASE:-dify``, ``elastic`` the user name) may occur only where the template's
    literal text or a non-secret variable puts it: that part is masked first, the rest
    must not contain it.  So a secret reference the rewrite missed, with its default,
    fails here.
    """
    secrets = strict.secret_names(defs)
    others = {v.name for v in defs} - secrets
    template = paths.TEMPLATE.read_text(encoding="utf-8")
    references = {ref.name for ref in r.references(template)}
    # non-secret references (with their defaults) masked; secret ones stay as they are
    mask = {name: "<ref>" for name in (others | references) - secrets}
    masked = strict.rewrite(body(strict_text), mask)
    literal = strict.rewrite(template, {name: "<ref>" for name in references | set(defs.by_name)})
    checked = 0
    for v in defs.secrets():
        if not v.default:
            continue
        checked += 1
        if v.default in literal:  # template text such as an image name; not a value
            assert masked.count(v.default) <= literal.count(v.default), v.name
            continue
        assert v.default not in masked, f"{v.name}'s shipped default is still in the file"
    assert checked >= 10
    assert "difyai123456" not in strict_text


def _services(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v or {} for k, v in doc["services"].items()}


@pytest.mark.parametrize("kind", ["default", "strict"])
def test_only_nginx_publishes_and_sandbox_is_internal(
    kind: str, default_text: str, strict_text: str, defs: Definitions, compose_ok
) -> None:
    text = default_text if kind == "default" else strict_text
    env = strict.placeholders(defs) if kind == "strict" else {}
    raw = yaml.safe_load(text)
    model = config(text, project_dir=paths.COMPOSE_DIR, profiles=("*",), env=env)
    for doc in (raw, model):
        services = _services(doc)
        assert {"nginx", "sandbox", "redis", "db_postgres", "qdrant"} <= set(services)
        published = {name for name, s in services.items() if s.get("ports")}
        assert published == {"nginx"}
        assert not any(s.get("expose") and name == "redis" for name, s in services.items())
        networks = services["sandbox"]["networks"]
        assert list(networks) == ["ssrf_proxy_network"]
        assert doc["networks"]["ssrf_proxy_network"]["internal"] is True
    assert not model["networks"].get("default", {}).get("internal")


def test_strict_file_is_refused_without_secrets(strict_text: str, compose_ok) -> None:
    with pytest.raises(ComposeError) as info:
        config(strict_text, project_dir=paths.COMPOSE_DIR, fmt=None)
    message = str(info.value)
    assert re.search(r"required variable [A-Z0-9_]+ is missing a value", message), message
    assert "invoke env.init" in message


def test_strict_file_takes_env_init_values(
    tmp_path: Path, defs: Definitions, strict_text: str, compose_ok
) -> None:
    from dotenv import dotenv_values

    from stack.compose.cli import run_compose
    from stack.compose.validate import isolated_env
    from stack.env.sync import init

    env_file = tmp_path / ".env"
    init(defs, env_file)
    values = dotenv_values(env_file)
    path = tmp_path / "docker-compose.strict.yaml"
    path.write_text(strict_text, encoding="utf-8")
    args = ["-f", str(path), "--project-directory", str(paths.COMPOSE_DIR)]
    args += ["--env-file", str(env_file), "-p", "stack-strict-unit", "config", "--format", "json"]
    proc = run_compose(args, env=isolated_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    import json

    services = json.loads(proc.stdout)["services"]
    password = values["DB_PASSWORD"]
    assert password and password != defs["DB_PASSWORD"].default
    assert services["api"]["environment"]["DB_PASSWORD"] == password
    assert services["db_postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    assert values["REDIS_PASSWORD"] in services["redis"]["command"]
    assert services["sandbox"]["environment"]["API_KEY"] == values["SANDBOX_API_KEY"]
    assert services["api"]["environment"]["SMTP_PASSWORD"] == ""  # optional: empty is fine
