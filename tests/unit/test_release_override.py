"""The smoke's override (pure plan + render) and its env reading, checked with the real compose
binary (`docker compose config`, no engine): it only swaps images, adds labels, and drops a
dependency only where a left-out service is required."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stack import paths
from stack.compose.cli import run_compose
from stack.compose.validate import isolated_env
from stack.errors import ProblemsError
from stack.release import deploy, override, variants

LABELS = {"org.stack.project": "stack", "org.stack.session": "s1"}
BASE = """\
services:
  db:
    image: postgres:15-alpine
    volumes: [data:/var/lib/data]
  sandbox:
    image: langgenius/dify-sandbox:0.2.12
  api:
    image: langgenius/dify-api:1.11.4
    depends_on:
      db: {condition: service_started}
      sandbox: {condition: service_started, required: false}
  nginx:
    image: nginx:1.27.3
    depends_on: [api, sandbox]
networks:
  default: {}
volumes:
  data: {}
"""
STANDINS = {
    "postgres:15-alpine": "stack-standin/postgres:aaa",
    "langgenius/dify-api:1.11.4": "stack-standin/api:bbb",
    "nginx:1.27.3": "nginx:1.27.3",  # the real image is local: kept as it is
}


def resolver(upstream: str) -> tuple[str | None, str]:
    found = STANDINS.get(upstream)
    return (found, "") if found else (None, "no image here")


def config(tmp: Path, *files: str, profiles: str = "") -> dict:
    args = ["-p", "stack-unit", "--project-directory", str(tmp)]
    for f in files:
        args += ["-f", f]
    env = isolated_env({"COMPOSE_PROFILES": profiles} if profiles else None)
    return json.loads(run_compose([*args, "config", "--format", "json"], env=env).stdout)


def test_plan_and_override_through_compose(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    cfg = config(tmp_path, str(tmp_path / "base.yaml"))
    p = override.plan(cfg, "stack-unit", resolver)
    assert p.run == ["api", "db", "nginx"]
    assert [(s.name, s.why) for s in p.left_out] == [("sandbox", "no image here")]
    text = override.render(p, LABELS)
    assert text == override.render(p, LABELS)  # deterministic
    assert "sandbox (langgenius/dify-sandbox:0.2.12)" in text.splitlines()[2]
    (tmp_path / "over.yaml").write_text(text)
    merged = config(tmp_path, str(tmp_path / "base.yaml"), str(tmp_path / "over.yaml"))
    svc = merged["services"]
    assert svc["db"]["image"] == "stack-standin/postgres:aaa"
    assert svc["nginx"]["image"] == "nginx:1.27.3"
    assert svc["api"]["labels"] == {**LABELS, "org.stack.service": "api"}
    # nginx *requires* sandbox: replaced without it; api's optional dependency is untouched
    assert set(svc["nginx"]["depends_on"]) == {"api"}
    assert set(svc["api"]["depends_on"]) == {"db", "sandbox"}
    assert merged["networks"]["default"]["labels"] == LABELS
    assert merged["volumes"]["data"]["labels"] == LABELS
    raw = yaml.safe_load(text.replace("!override", ""))
    assert set(raw["services"]) == {"api", "db", "nginx"}  # nothing for the left-out one
    assert set(raw["services"]["db"]) == {"image", "labels"}  # images and labels only
    assert merged["services"]["db"]["volumes"] == cfg["services"]["db"]["volumes"]


def test_committed_file_with_override_keeps_nginx_startable(tmp_path) -> None:
    """The committed production file: sandbox and plugin_daemon left out, nginx, web, api,
    worker, beat and the stores still run, and no kept service requires a left-out one."""
    compose = str(paths.GENERATED_COMPOSE)
    cfg = config(paths.COMPOSE_DIR, compose, profiles="pgvector,postgresql")
    absent = {"langgenius/dify-sandbox:0.2.12", "langgenius/dify-plugin-daemon:0.5.2-local"}
    p = override.plan(
        cfg, "stack-unit", lambda ref: (None, "absent") if ref in absent else (ref + "-x", "")
    )
    assert {s.name for s in p.left_out} == {"sandbox", "plugin_daemon"}
    for name in ("nginx", "web", "api", "worker", "worker_beat", "init_permissions", "pgvector"):
        assert name in p.run
    out = tmp_path / "over.yaml"
    out.write_text(override.render(p, LABELS))
    merged = config(paths.COMPOSE_DIR, compose, str(out), profiles="pgvector,postgresql")
    for name in p.run:
        deps = merged["services"][name].get("depends_on") or {}
        required = {d for d, v in deps.items() if v.get("required", True)}
        assert not required & {"sandbox", "plugin_daemon"}, (name, deps)
        assert merged["services"][name]["image"].endswith("-x")


@pytest.mark.parametrize("name", list(variants.VARIANTS))
def test_variant_env_selects_its_profiles(name, tmp_path) -> None:
    path = variants.write(name, tmp_path)
    text = path.read_text()
    want = variants.VARIANTS[name]
    assert deploy.profiles(path, text) == (want["DB_TYPE"], want["VECTOR_STORE"])


def test_no_env_means_the_definitions_defaults() -> None:
    assert deploy.profiles(None, None) == ("postgresql", "pgvector")


def test_bad_db_type_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "x.env"
    text = "# a comment\nDB_TYPE=oracle\nVECTOR_STORE=nope\n"
    with pytest.raises(ProblemsError) as exc:
        deploy.profiles(path, text)
    shown = str(exc.value)
    assert f"{path}:2" in shown and "DB_TYPE='oracle'" in shown
    assert f"{path}:3" in shown and "VECTOR_STORE='nope'" in shown
