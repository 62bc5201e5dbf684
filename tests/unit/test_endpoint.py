"""Endpoint resolution: DOCKER_HOST > DOCKER_CONTEXT > config.json's currentContext > default.

The context store is the docker CLI's own format; where the CLI is installed it writes the
store here, so the test proves we read what it writes (no engine needed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from stack.dockerapi import DEFAULT_HOST, endpoint_env, resolve
from stack.dockerapi.endpoint import Endpoint, context_dir_name
from stack.errors import EngineError


def make_context(cfg: Path, name: str, host: str, *, tls: bool = False, skip: bool = False) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = cfg / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True)
    docker = {"Host": host, "SkipTLSVerify": skip}
    meta.write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": docker}}))
    if tls:
        d = cfg / "contexts" / "tls" / digest / "docker"
        d.mkdir(parents=True)
        for f in ("ca.pem", "cert.pem", "key.pem"):
            (d / f).write_text("x")
    return meta


def use(cfg: Path, name: str) -> None:
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def test_default_socket_without_anything(tmp_path: Path) -> None:
    ep = resolve({"HOME": str(tmp_path)})
    assert (ep.host, ep.source, ep.context) == (DEFAULT_HOST, "default socket", "default")
    assert ep.is_local_default and ep.hostname == "127.0.0.1"
    assert ep.env() == {"DOCKER_HOST": DEFAULT_HOST}


def test_current_context_from_config_json(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    make_context(cfg, "colima", "unix:///home/u/.colima/default/docker.sock")
    use(cfg, "colima")
    ep = resolve({"DOCKER_CONFIG": str(cfg)})
    assert ep.host == "unix:///home/u/.colima/default/docker.sock"
    assert ep.socket_path == "/home/u/.colima/default/docker.sock"
    assert ep.context == "colima" and not ep.is_local_default
    # ~/.docker is the default DOCKER_CONFIG
    home = tmp_path / "home"
    make_context(home / ".docker", "orbstack", "unix:///o.sock")
    use(home / ".docker", "orbstack")
    assert resolve({"HOME": str(home)}).host == "unix:///o.sock"


def test_precedence_docker_host_then_docker_context(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    make_context(cfg, "a", "unix:///a.sock")
    make_context(cfg, "b", "unix:///b.sock")
    use(cfg, "a")
    env = {"DOCKER_CONFIG": str(cfg)}
    assert resolve(env).host == "unix:///a.sock"
    assert resolve({**env, "DOCKER_CONTEXT": "b"}).host == "unix:///b.sock"
    assert resolve({**env, "DOCKER_CONTEXT": "default"}).host == DEFAULT_HOST
    both = {**env, "DOCKER_CONTEXT": "b", "DOCKER_HOST": "tcp://10.1.2.3:2375"}
    ep = resolve(both)
    assert (ep.host, ep.source) == ("tcp://10.1.2.3:2375", "DOCKER_HOST")
    # subprocesses get DOCKER_HOST and no DOCKER_CONTEXT: CLI and compose cannot diverge
    child = endpoint_env(both)
    assert child["DOCKER_HOST"] == "tcp://10.1.2.3:2375" and "DOCKER_CONTEXT" not in child


def test_tcp_endpoint_host_address_and_tls(tmp_path: Path) -> None:
    ep = resolve({"DOCKER_HOST": "tcp://192.0.2.7:2376", "DOCKER_TLS_VERIFY": "1",
                  "DOCKER_CERT_PATH": "/certs"})  # fmt: skip
    assert ep.hostname == "192.0.2.7" and ep.address == ("192.0.2.7", 2376)
    assert ep.env() == {"DOCKER_HOST": "tcp://192.0.2.7:2376", "DOCKER_CERT_PATH": "/certs",
                        "DOCKER_TLS_VERIFY": "1"}  # fmt: skip
    assert resolve({"DOCKER_HOST": "tcp://localhost:2375"}).hostname == "127.0.0.1"
    assert resolve({"DOCKER_HOST": "ssh://me@build.example"}).hostname == "build.example"
    cfg = tmp_path / "cfg"
    make_context(cfg, "remote", "tcp://198.51.100.4:2376", tls=True)
    ep = resolve({"DOCKER_CONFIG": str(cfg), "DOCKER_CONTEXT": "remote"})
    assert ep.tls_verify and ep.cert_path == str(
        cfg / "contexts" / "tls" / context_dir_name("remote") / "docker"
    )
    assert ep.env()["DOCKER_TLS_VERIFY"] == "1"


def test_unknown_context_names_it_and_the_fix(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    use(cfg, "desktop-linux")
    with pytest.raises(EngineError) as err:
        resolve({"DOCKER_CONFIG": str(cfg)})
    text = str(err.value)
    assert "'desktop-linux'" in text and str(cfg / "config.json") in text
    assert "docker context use default" in text


def test_broken_config_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EngineError, match=r"config\.json: cannot read"):
        resolve({"DOCKER_CONFIG": str(tmp_path)})


def test_isolated_env_hands_the_context_endpoint_to_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.compose.validate import isolated_env

    cfg = tmp_path / "cfg"
    make_context(cfg, "alt", "unix:///alt/docker.sock")
    use(cfg, "alt")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    assert isolated_env()["DOCKER_HOST"] == "unix:///alt/docker.sock"
    use(cfg, "missing")  # a broken context never breaks `compose config`
    monkeypatch.setenv("DOCKER_CONTEXT", "missing")
    assert "DOCKER_HOST" not in isolated_env()


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_reads_the_store_the_docker_cli_writes(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    cli = ["docker", "--config", str(cfg), "context"]
    subprocess.run([*cli, "create", "ci", "--docker", "host=unix:///run/ci/docker.sock"],
                   check=True, capture_output=True)  # fmt: skip
    assert resolve({"DOCKER_CONFIG": str(cfg), "DOCKER_CONTEXT": "ci"}) == Endpoint(
        host="unix:///run/ci/docker.sock",
        source=f"context ci ({cfg / 'contexts/meta' / context_dir_name('ci') / 'meta.json'})",
        context="ci",
    )
    subprocess.run([*cli, "use", "ci"], check=True, capture_output=True)
    assert resolve({"DOCKER_CONFIG": str(cfg)}).host == "unix:///run/ci/docker.sock"


def _serve(reply: bytes | None) -> tuple[socket.socket, threading.Thread]:
    """A loopback TCP server answering each connection with ``reply`` (None: never)."""
    srv = socket.create_server(("127.0.0.1", 0))

    def loop() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.recv(4096)
            if reply is not None:
                conn.sendall(reply)
                conn.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return srv, t


def test_engine_alive_over_plain_tcp(monkeypatch: pytest.MonkeyPatch) -> None:
    from stack.dockerapi import engine_alive

    srv, _ = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
    port = srv.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    assert engine_alive(timeout=2)
    srv.close()
    mute, _ = _serve(None)  # accepts, never answers: False, and no hang
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{mute.getsockname()[1]}")
    assert not engine_alive(timeout=0.5)
    mute.close()


def test_test_containers_get_the_engine_host() -> None:
    from stack.stores.runtime import apply_test_env

    env = {"DOCKER_HOST": "tcp://192.0.2.7:2375"}
    apply_test_env(env)
    assert env["TESTCONTAINERS_HOST_OVERRIDE"] == "192.0.2.7"
    env = {"DOCKER_CONTEXT": "default", "HOME": "/nonexistent"}
    apply_test_env(env)  # a local socket: testcontainers' own localhost, DOCKER_HOST exported
    assert env["TESTCONTAINERS_HOST_OVERRIDE"] == "localhost"
    assert env["DOCKER_HOST"] == DEFAULT_HOST and "DOCKER_CONTEXT" not in env
    mine = {"DOCKER_HOST": "tcp://192.0.2.7:2375", "TESTCONTAINERS_HOST_OVERRIDE": "gw"}
    apply_test_env(mine)
    assert mine["TESTCONTAINERS_HOST_OVERRIDE"] == "gw"  # the user's value wins
