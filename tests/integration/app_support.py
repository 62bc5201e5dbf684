"""Helpers for the reference-backend tests: labelled middleware containers, backend processes.

Containers carry this session's stack labels (swept if the owner dies, removed at the end);
processes are started by us in their own process group and stopped by that group's id.
Nothing binds a fixed host port: containers publish on random loopback ports, the api on a
free port from :func:`stack.dev.ports.free_ports`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_PASSWORD = "app-test-pw"
REDIS_PASSWORD = "app-redis-pw"


def standin(name: str) -> str:
    """Ref of the built stand-in ``name``; skip (naming the fix) when it is not built."""
    from stack.images.base import image_exists
    from stack.images.resolve import standin_ref

    ref = standin_ref(name)
    if not image_exists(ref):
        pytest.skip(f"stand-in {ref} not built: invoke images.build --only {name}")
    return ref


@dataclass
class Middleware:
    """Labelled containers of one test module on one labelled network."""

    client: Any
    session: str
    labels: dict[str, str]
    network: Any = None
    containers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def open(cls) -> Iterator[Middleware]:
        from stack.engine import labels
        from stack.engine.client import client

        c = client()
        labels.sweep(client=c)
        sid = labels.new_session_id()
        mw = cls(c, sid, labels.session_labels(sid, purpose="test"))
        mw.network = c.networks.create(f"stack-apptest-{sid}", driver="bridge", labels=mw.labels)
        try:
            yield mw
        finally:
            labels.remove_session(sid, client=c)

    def start(
        self,
        name: str,
        image: str,
        *,
        port: int | None = None,
        environment: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Start ``name`` (also its DNS name on the network), publishing ``port`` on loopback."""
        from stack.dev.ports import free_ports

        # a free port chosen now (not by the engine) survives a stop/start of the container
        ports = {f"{port}/tcp": ("127.0.0.1", free_ports(1)[0])} if port else None
        ctr = self.client.containers.run(
            image,
            detach=True,
            name=f"{name}-{self.session}",
            labels=self.labels,
            ports=ports,
            environment=dict(environment or {}),
            command=command,
            network=self.network.name,
            networking_config={
                self.network.name: self.client.api.create_endpoint_config(aliases=[name])
            },
            **kwargs,
        )
        self.containers[name] = ctr
        return ctr

    def host_port(self, name: str, port: int) -> int:
        ctr = self.containers[name]
        for _ in range(100):
            ctr.reload()
            bindings = (ctr.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
            if bindings:
                return int(bindings[0]["HostPort"])
            time.sleep(0.1)
        raise AssertionError(f"{name}: port {port} not published")

    def logs(self, name: str) -> str:
        return str(self.containers[name].logs(tail=60).decode(errors="replace"))


def start_postgres_redis(mw: Middleware, *, pgvector: bool = True) -> dict[str, int]:
    """postgres (the database), redis and, optionally, pgvector; their host ports."""
    pg_env = {"POSTGRES_PASSWORD": PG_PASSWORD, "POSTGRES_DB": "dify", "POSTGRES_USER": "postgres"}
    mw.start("db_postgres", standin("postgres"), port=5432, environment=pg_env)
    mw.start(
        "redis",
        standin("redis"),
        port=6379,
        command=["redis-server", "--requirepass", REDIS_PASSWORD],
    )
    ports = {"db": mw.host_port("db_postgres", 5432), "redis": mw.host_port("redis", 6379)}
    if pgvector:
        mw.start("pgvector", standin("pgvector"), port=5432, environment=pg_env)
        ports["pgvector"] = mw.host_port("pgvector", 5432)
    wait_postgres(mw, "db_postgres", ports["db"])
    if pgvector:
        wait_postgres(mw, "pgvector", ports["pgvector"])
    return ports


def wait_postgres(mw: Middleware, name: str, port: int, timeout: float = 60) -> None:
    import psycopg

    dsn = f"host=127.0.0.1 port={port} user=postgres password={PG_PASSWORD} dbname=dify"
    wait_until(
        lambda: psycopg.connect(dsn, connect_timeout=2).close(), timeout, lambda: mw.logs(name)
    )


def host_env(ports: Mapping[str, int], state: Path, **extra: str) -> dict[str, str]:
    """Backend environment against published middleware ports (definitions' defaults below)."""
    from stack.app.config import definition_defaults

    env = {
        **definition_defaults(),
        "DB_TYPE": "postgresql",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(ports["db"]),
        "DB_USERNAME": "postgres",
        "DB_PASSWORD": PG_PASSWORD,
        "DB_DATABASE": "dify",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(ports["redis"]),
        "REDIS_PASSWORD": REDIS_PASSWORD,
        "CELERY_BROKER_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{ports['redis']}/1",
        "STACK_RUN_STATE_DIR": str(state),
        "DIFY_BIND_ADDRESS": "127.0.0.1",
        "CELERY_BEAT_HEARTBEAT_INTERVAL": "1",
        "UPLOAD_FILE_SIZE_LIMIT": "1",
        "SQLALCHEMY_POOL_SIZE": "5",
        "PYTHONUNBUFFERED": "1",
    }
    if "pgvector" in ports:
        env |= {
            "VECTOR_STORE": "pgvector",
            "PGVECTOR_HOST": "127.0.0.1",
            "PGVECTOR_PORT": str(ports["pgvector"]),
            "PGVECTOR_USER": "postgres",
            "PGVECTOR_PASSWORD": PG_PASSWORD,
            "PGVECTOR_DATABASE": "dify",
        }
    env |= extra
    return env


@dataclass
class Backend:
    """Backend processes started from the MODE table (argv + cwd), each in its own group."""

    env: dict[str, str]
    logdir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def command(self, mode: str) -> Any:
        from stack.app.config import state_dir
        from stack.run.modes import DEFAULT_APP_DIR, command

        return command(
            mode,
            {**os.environ, **self.env},
            app_dir=DEFAULT_APP_DIR,
            state_dir=state_dir(self.env),
            python=sys.executable,
        )  # its `first` steps (the migration) are run explicitly by the tests

    def run(self, mode: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``mode`` to completion (the migration)."""
        cmd = self.command(mode)
        return subprocess.run(
            list(cmd.argv),
            cwd=cmd.cwd,
            env={**os.environ, **self.env, "MODE": mode},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, mode: str) -> subprocess.Popen[bytes]:
        cmd = self.command(mode)
        log = (self.logdir / f"{mode}.log").open("ab")
        proc = subprocess.Popen(
            list(cmd.argv),
            cwd=cmd.cwd,
            env={**os.environ, **self.env, "MODE": mode},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[mode] = proc
        return proc

    def log(self, mode: str) -> str:
        path = self.logdir / f"{mode}.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    def logs(self, lines: int = 25) -> str:
        """The last ``lines`` of each process's log, beat's routine lines left out."""
        out = []
        for mode in self.procs:
            kept = [ln for ln in self.log(mode).splitlines() if "Sending due task" not in ln]
            out.append(f"--- {mode} ---\n" + "\n".join(kept[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        """SIGTERM each process group we started, SIGKILL what is left after 15 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()


def wait_until(
    fn: Callable[[], Any], timeout: float = 60, context: Callable[[], str] | None = None
) -> Any:
    """Retry ``fn`` until it returns without raising; fail with ``context()`` on timeout."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            return fn()
        except Exception as exc:
            last = exc
            time.sleep(0.2)
    pytest.fail(f"not ready after {timeout:.0f}s: {last!r}\n{context() if context else ''}")


def http(
    method: str, url: str, body: Any = None, *, raw: bytes | None = None, ctype: str | None = None
) -> tuple[int, Any]:
    """One request; ``(status, parsed JSON or text)`` for every status (4xx/5xx included)."""
    import http.client

    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": ctype or "application/json"} if data is not None else {}
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        # The server may answer (e.g. 413) and close before reading an oversized body, as
        # servers do; its response is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.request(method, target, body=data, headers=headers)
        resp = conn.getresponse()
        status, text = resp.status, resp.read().decode()
    finally:
        conn.close()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_status(base: str, dataset: str, doc_id: str, timeout: float = 90) -> dict[str, Any]:
    """Poll a document until it leaves queued/indexing; its last JSON."""
    seen: list[str] = []

    def done() -> dict[str, Any]:
        status, body = http("GET", f"{base}/v1/datasets/{dataset}/documents/{doc_id}")
        assert status == 200, body
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        assert body["status"] in ("completed", "error"), body
        return dict(body, seen=seen)

    return dict(wait_until(done, timeout))
