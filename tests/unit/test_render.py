"""The production renderer: golden files, determinism, escaping, template errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stack import generated
from stack.compose import production, validate
from stack.compose import render as r
from stack.errors import ComposeError, ProblemsError, StackError, TemplateError

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STACK_UPDATE_GOLDEN") == "1"


def strict_render(output: Path) -> production.Rendered:
    """Render the strict fixture through the foreign-definitions path of the loader."""
    from stack.env.parse import load_definitions

    defs = load_definitions([DATA / "strict" / "definitions.env"], root=DATA)
    text = (DATA / "strict" / "template.yaml").read_text()
    return production.Rendered(
        r.render(text, r.shared_from_definitions(defs)), output, output.name, "invoke"
    )


CASES = {
    "strict.yaml": lambda out: strict_render(out).text,
    # The output path is inside the repository so the header is machine-independent.
    "dify.yaml": lambda _out: (
        production.build(
            DATA / "dify" / "docker-compose-template.yaml",
            DATA / "dify" / ".env.example",
            DATA / "dify" / "docker-compose.yaml",
        ).text
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_equality_and_idempotence(name, tmp_path):
    first = CASES[name](tmp_path / name)
    second = CASES[name](tmp_path / name)
    assert first == second, "rendering is not deterministic"
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(first, encoding="utf-8")
    assert first == golden.read_text(encoding="utf-8"), (
        f"{golden} is stale: STACK_UPDATE_GOLDEN=1 pytest {__file__}"
    )


def test_body_is_template_byte_for_byte():
    template = (DATA / "strict" / "template.yaml").read_text()
    out = strict_render(Path("x.yaml")).text
    after_anchor = template.split("\n", 1)[1]
    assert out.endswith(after_anchor)
    assert "# The line above is replaced by the generated block" in out


def test_output_parses_and_block_holds_shared_vars_in_order():
    doc = yaml.safe_load(strict_render(Path("x.yaml")).text)
    block = doc["x-shared-env"]
    assert list(block) == ["SECRET_KEY", "LOG_LEVEL", "TRICKY", "DB_TYPE", "DB_PASSWORD", "DB_PORT"]
    assert block["TRICKY"] == '${TRICKY:-a: b #c "q" $$HOME $${X} {json} ü}'
    assert doc["services"]["api"]["environment"]["MODE"] == "api"


def test_header_names_the_command():
    out = strict_render(Path("x.yaml")).text
    assert out.startswith("# ====")
    assert "# Regenerate:     invoke release.compose\n" in out
    assert "--check" in out.split("\n\n", 1)[0]


def test_hand_edit_is_detected():
    out = strict_render(Path("x.yaml")).text
    assert generated.state(out.encode()) is generated.State.OURS
    edited = out.replace("MODE: api", "MODE: worker").encode()
    assert generated.state(edited) is generated.State.EDITED
    assert generated.state(b"services: {}\n") is generated.State.FOREIGN


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ("a$b", "a$$b"),
        ("${X}", "$${X}"),
        ('{"a": {"b": 1}}', '{"a": {"b": 1}}'),
        ("a{b", "a{b"),
    ],
)
def test_compose_literal(value, escaped):
    assert r.compose_literal(value) == escaped


@pytest.mark.parametrize("value", ["a}b", "}", "{}}", "x}{"])
def test_unbalanced_close_brace_is_rejected(value):
    with pytest.raises(ValueError, match="unbalanced"):
        r.compose_literal(value)


def test_unbalanced_brace_in_definitions_names_file_and_line(tmp_path):
    from stack.env.parse import load_definitions

    path = tmp_path / "defs.env"
    path.write_text("# @section S @services=api\n\n# doc\nGOOD=1\n\n# doc\nBAD='a}b'\n")
    defs = load_definitions([path], root=tmp_path)
    with pytest.raises(ProblemsError) as info:
        r.shared_from_definitions(defs)
    assert "defs.env:7: error: BAD: unbalanced '}'" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_yaml_scalar_round_trips_through_yaml(value):
    text = "${K:-" + value + "}"
    try:
        scalar = r.yaml_scalar(text)
    except ValueError:  # lone surrogates only
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    assert yaml.safe_load(f"k: {scalar}\n") == {"k": text}


def test_template_without_anchor_is_an_error():
    with pytest.raises(TemplateError) as info:
        r.split_template("services: {}\n", "t.yaml")
    assert "t.yaml:1: no `x-shared-env: &shared-api-worker-env` line" in str(info.value)
    assert "fix:" in str(info.value)


def test_template_with_two_anchors_is_an_error():
    text = f"{r.ANCHOR}\nservices: {{}}\n{r.ANCHOR}\n"
    with pytest.raises(TemplateError, match=r"lines 1, 3"):
        r.split_template(text, "t.yaml")


def test_undefined_references_are_listed_once_with_lines():
    text = "services:\n  a:\n    image: ${IMG}\n    command: ${IMG} $OTHER ${OK:-1} $$NOT\n"
    problems = r.reference_problems(text, {}, "t.yaml", check_defaults=False)
    assert [p.severity for p in problems] == ["warning", "warning"]
    assert "t.yaml:3" in str(problems[0]) and "lines 3, 4" in str(problems[0])
    assert "${OTHER}" in str(problems[1])


def test_template_default_drift_is_flagged():
    text = "x: ${DB_PORT:-5433}\ny: ${DB_PORT:-5432}\n"
    problems = r.reference_problems(text, {"DB_PORT": "5432"}, "t.yaml", check_defaults=True)
    assert len(problems) == 1 and "t.yaml:1" in str(problems[0])


def test_stale_diff_and_write(tmp_path):
    out = tmp_path / "docker-compose.yaml"
    rendered = strict_render(out)
    assert production.stale_diff(rendered).startswith("--- ")
    assert production.write(rendered).changed
    assert production.stale_diff(rendered) == ""
    assert not production.write(rendered).changed
    out.write_text(rendered.text.replace("MODE: api", "MODE: beat"))
    diff = production.stale_diff(rendered)
    assert "-      MODE: beat" in diff and "+      MODE: api" in diff
    written = production.write(rendered)
    assert written.backup is not None and "edited by hand" in written.reason
    assert "MODE: beat" in written.backup.read_text()
    assert out.read_text() == rendered.text


def test_missing_template_is_a_stack_error(tmp_path):
    with pytest.raises(StackError, match="template not found"):
        production.build(tmp_path / "nope.yaml", DATA / "dify" / ".env.example", tmp_path / "o")


def test_crlf_template_keeps_crlf_everywhere():
    template = (DATA / "strict" / "template.yaml").read_text().replace("\n", "\r\n")
    out = r.render(template, [r.SharedVar("A", "1"), r.SharedVar("B", "x y")])
    assert out.count("\n") == out.count("\r\n")  # no lone LF: one line-ending style
    assert generated.state(out.encode()) is generated.State.OURS
    edited = out.replace("MODE: api", "MODE: beat").encode()
    assert generated.state(edited) is generated.State.EDITED
    assert yaml.safe_load(out)["x-shared-env"] == {"A": "${A:-1}", "B": "${B:-x y}"}


def test_crlf_render_on_disk_is_up_to_date_after_a_write(tmp_path):
    """Bytes, not universal newlines: a CRLF file is not 'stale' right after it is written."""
    template = (DATA / "strict" / "template.yaml").read_text().replace("\n", "\r\n")
    out = tmp_path / "docker-compose.yaml"
    text = r.render(template, [r.SharedVar("A", "1")])
    rendered = production.Rendered(text, out, out.name, "invoke")
    assert production.write(rendered).changed
    assert out.read_bytes() == text.encode()
    assert production.check(rendered).up_to_date
    assert production.stale_diff(rendered) == ""
    again = production.write(rendered)
    assert not again.changed and again.backup is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docker-compose.yaml"]


# ----------------------------------------------------------------------------- the CLI


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "release.compose", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def crlf_repo(tmp_path):
    """A Dify-format template and .env.example saved with CRLF line endings."""
    template = (DATA / "dify" / "docker-compose-template.yaml").read_bytes()
    (tmp_path / "docker-compose-template.yaml").write_bytes(template.replace(b"\n", b"\r\n"))
    env = (DATA / "dify" / ".env.example").read_bytes()
    (tmp_path / ".env.example").write_bytes(env.replace(b"\n", b"\r\n"))
    return tmp_path


def test_cli_crlf_write_check_write(crlf_repo, tmp_path_factory):
    cache = {"STACK_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    flags = ["--template", str(crlf_repo / "docker-compose-template.yaml")]
    out = crlf_repo / "docker-compose.yaml"
    first = invoke(*flags, env=cache)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("docker-compose.yaml written")
    data = out.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    check = invoke(*flags, "--check", env=cache)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip().endswith("is up to date")
    second = invoke(*flags, env=cache)
    assert second.returncode == 0 and "warning" not in second.stdout
    assert second.stdout.strip().endswith("docker-compose.yaml unchanged")
    assert not list(crlf_repo.glob("*.bak*"))
    assert out.read_bytes() == data


def test_cli_check_reports_a_hand_edit_with_a_diff(crlf_repo, tmp_path_factory):
    cache = {"STACK_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    flags = ["--template", str(crlf_repo / "docker-compose-template.yaml")]
    out = crlf_repo / "docker-compose.yaml"
    assert invoke(*flags, env=cache).returncode == 0
    out.write_bytes(out.read_bytes().replace(b"MODE: api", b"MODE: beat"))
    check = invoke(*flags, "--check", env=cache)
    assert check.returncode == 1
    assert "-      MODE: beat\n+      MODE: api\n" in check.stdout  # (text mode: CRLF read as LF)
    assert "was edited by hand" in check.stderr and "Traceback" not in check.stderr
    fixed = invoke(*flags, env=cache)
    assert "edited by hand" in fixed.stdout and "docker-compose.yaml.bak" in fixed.stdout
    assert b"MODE: beat" in (crlf_repo / "docker-compose.yaml.bak").read_bytes()


# ----------------------------------------------------------------------------- validation cache


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """Count the real `docker compose config` runs; an empty cache directory."""
    from stack.compose import cli
    from stack.errors import ComposeError

    try:
        cli.find_compose()
    except ComposeError as exc:
        pytest.skip(f"no docker compose v2 binary: {exc}")
    monkeypatch.setenv("STACK_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[list[str]] = []
    real = cli.run_compose

    def run(args, **kw):
        calls.append(list(args))
        return real(args, **kw)

    monkeypatch.setattr(cli, "run_compose", run)
    return calls


GOOD = "services:\n  api:\n    image: busybox\n    command: ${CMD:-true}\n"


def test_validation_is_cached_only_for_the_same_text(counted, tmp_path):
    validate.validate(GOOD, project_dir=tmp_path)
    assert len(counted) == 2  # default profiles and "*"
    validate.validate(GOOD, project_dir=tmp_path)
    assert len(counted) == 2  # unchanged text: not validated again
    changed = GOOD.replace("busybox", "alpine")
    validate.validate(changed, project_dir=tmp_path)
    assert len(counted) == 4
    validate.validate(GOOD, project_dir=tmp_path, cache=False)
    assert len(counted) == 6


def test_a_cache_hit_never_hides_a_failure(counted, tmp_path):
    validate.validate(GOOD, project_dir=tmp_path)
    broken = GOOD.replace("    image: busybox\n", "    image: busybox\n    ports: [nope]\n")
    for _ in range(2):  # failures are never cached
        with pytest.raises(ComposeError, match="rejected"):
            validate.validate(broken, project_dir=tmp_path)
    assert len(counted) == 4


def test_cache_key_covers_compose_env_profiles_and_files(counted, tmp_path, monkeypatch):
    key = validate.cache_key(GOOD, project_dir=tmp_path)
    assert key == validate.cache_key(GOOD, project_dir=tmp_path)
    assert key != validate.cache_key(GOOD, project_dir=tmp_path, profiles=("*",))
    assert key != validate.cache_key(GOOD, project_dir=tmp_path / "other")
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/stack-test-other.sock")
    assert key != validate.cache_key(GOOD, project_dir=tmp_path)
    # A file that makes compose read another file is validated every time.
    reads = GOOD + "    env_file: ./extra.env\n"
    assert validate.cache_key(reads, project_dir=tmp_path) is None
    (tmp_path / "extra.env").write_text("A=1\n")
    validate.validate(reads, project_dir=tmp_path)
    (tmp_path / "extra.env").unlink()
    with pytest.raises(ComposeError):
        validate.validate(reads, project_dir=tmp_path)


def test_cache_keeps_only_the_newest_entries(counted, tmp_path, monkeypatch):
    monkeypatch.setattr(validate, "CACHE_ENTRIES", 3)
    for image in ("a", "b", "c"):
        validate.validate(GOOD.replace("busybox", image), project_dir=tmp_path)
    entries = list((tmp_path / "cache" / "compose-config").glob("*.ok"))
    assert len(entries) == 3
    assert len(counted) == 6
