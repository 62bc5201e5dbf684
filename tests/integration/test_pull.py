"""The online path for real: images pulled through a registry mirror on loopback.

A module fixture runs Debian's ``docker-registry`` (distribution 2.8) itself on
``127.0.0.1:<free port>`` with a temporary storage directory, pushes the stand-ins into it
under their upstream names (``library/postgres:15-alpine``, ``ubuntu/squid:...``) and removes
the local mirror tags, so every test really pulls.  ``STACK_REGISTRY_MIRRORS`` maps
``docker.io`` to it and ``STACK_OFFLINE`` is unset; ``TESTCONTAINERS_RYUK_DISABLED=true``
stays (Ryuk's image would come from Docker Hub).  Nothing but 127.0.0.1 is contacted: every
image involved is a Docker Hub image, so every pull goes through the mirror.

Resources carry this session's labels (``STACK_EXTRA_LABELS`` for the CLI); the pushed and
pulled tags are removed at the end (the ``stack-standin/*`` images themselves are kept).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stack.dev.ports import free_dev_ports, free_ports
from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

ROOT = Path(__file__).resolve().parents[2]
#: Images of the default dev selection (postgresql + pgvector + redis + ssrf_proxy).
PUSHED = ("postgres", "pgvector", "redis", "squid")
#: An image deliberately not pushed: asking for it must fail before anything starts.
NOT_PUSHED = "chroma"
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class Mirror:
    """The running loopback registry and what was pushed into it."""

    host: str  # 127.0.0.1:PORT
    log: Path
    refs: dict[str, str] = field(default_factory=dict)  # catalog name -> mirror ref
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def env_value(self) -> str:
        return f"docker.io={self.host}"

    def requests(self) -> str:
        return self.log.read_text(errors="replace")


def _no_proxy_get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(url, timeout=2) as resp:
        return int(resp.status)


def _untag(refs: list[str]) -> None:
    """Remove local tags (never the image behind them: the stand-in tag keeps it)."""
    import docker.errors

    from stack.engine.client import client

    for ref in refs:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client().images.remove(ref, noprune=True)


def _local(ref: str) -> bool:
    import docker.errors

    from stack.engine.client import client

    try:
        client().images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


@pytest.fixture(scope="module")
def session() -> Iterator[str]:
    from stack.engine import labels

    labels.sweep()
    sid = labels.new_session_id()
    yield sid
    labels.remove_session(sid)
    assert labels.count_labelled(session=sid) == {"containers": 0, "networks": 0, "volumes": 0}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """docker-registry on 127.0.0.1:<free port> holding the stand-ins under upstream names."""
    from stack.engine.client import client
    from stack.images.base import image_exists
    from stack.images.catalog import IMAGES
    from stack.images.mirror import rewrite
    from stack.images.resolve import standin_ref

    binary = shutil.which("docker-registry")
    if binary is None:
        why = "docker-registry not installed (scripts/setup installs it with apt)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)
        pytest.skip(why)
    for name in PUSHED:
        if not image_exists(standin_ref(name)):
            pytest.skip(
                f"stand-in {standin_ref(name)} not built: invoke images.build --only {name}"
            )
    tmp = tmp_path_factory.mktemp("registry")
    (port,) = free_ports(1)
    config = tmp / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=tmp / "storage", port=port))
    log = tmp / "registry.log"
    with log.open("w") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)
    m = Mirror(f"127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _no_proxy_get(f"http://{m.host}/v2/") == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not start:\n{m.requests()}")
            time.sleep(0.1)
        mirrors = {"docker.io": m.host}
        c = client()
        for name in PUSHED:
            m.refs[name] = rewrite(IMAGES[name].ref, mirrors)
            c.images.get(standin_ref(name)).tag(*m.refs[name].rsplit(":", 1))

        def push(ref: str) -> list[str]:
            repo, tag = ref.rsplit(":", 1)
            events = c.api.push(repo, tag=tag, stream=True, decode=True)
            return [f"push of {ref} failed: {e['error']}" for e in events if "error" in e]

        t0 = time.monotonic()
        # One after the other: the shared base layer is compressed and uploaded once only.
        errors = [e for ref in m.refs.values() for e in push(ref)]
        m.timings["push"] = time.monotonic() - t0
        assert not errors, errors
        _untag(list(m.refs.values()))
        yield m
    finally:
        _untag(list(m.refs.values()))
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        print(f"\nmirror timings: {', '.join(f'{k} {v:.1f} s' for k, v in m.timings.items())}")


@pytest.fixture
def fresh(mirror: Mirror) -> Iterator[Mirror]:
    """No local copy of any mirror ref before (so a pull really happens) nor after the test."""
    from stack.engine.client import client

    _untag(list(mirror.refs.values()))
    assert not any(_local(r) for r in mirror.refs.values())
    since = int(time.time()) - 1
    yield mirror
    # Every image the engine pulled meanwhile came from the mirror (nothing from Docker Hub).
    events = client().events(
        since=since,
        until=int(time.time()) + 1,
        filters={"type": "image", "event": "pull"},
        decode=True,
    )
    pulled = {e.get("id", "") for e in events}
    assert all(ref.startswith(mirror.host + "/") for ref in pulled), pulled
    _untag(list(mirror.refs.values()))


@pytest.fixture
def cli(session: str, tmp_path: Path, mirror: Mirror) -> Iterator[Any]:
    """Run the real ``invoke`` CLI online through the mirror, on free ports, labelled."""
    from stack.engine.labels import session_labels

    project = f"stack-pull-{session}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "STACK_REGISTRY_MIRRORS": mirror.env_value,
        "TESTCONTAINERS_RYUK_DISABLED": "true",
        "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in session_labels(session).items()),
        **free_dev_ports(),
    }  # STACK_OFFLINE is deliberately not set
    for key in ("DOCKER_HOST",):
        if key in os.environ:
            env[key] = os.environ[key]
    env["DOCKER_CONFIG"] = os.environ.get("DOCKER_CONFIG", str(Path.home() / ".docker"))

    def run(*args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "invoke", *args, "--project", project],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    try:
        yield run, project
    finally:
        run("dev.reset", "--yes", check=False)


def _project_containers(project: str) -> list[Any]:
    from stack.engine.client import client

    flt = {"label": f"com.docker.compose.project={project}"}
    return list(client().containers.list(all=True, filters=flt))


def test_dev_up_pulls_through_the_mirror(fresh: Mirror, cli: Any) -> None:
    import json

    run, project = cli
    seen = len(fresh.requests())
    t0 = time.monotonic()
    up = run("dev.up", "--json")
    fresh.timings["dev.up via mirror"] = time.monotonic() - t0
    rows = {r["service"]: r for r in json.loads(up.stdout)}
    by_image = {"db_postgres": "postgres", "pgvector": "pgvector", "redis": "redis"}
    by_image["ssrf_proxy"] = "squid"
    for service, name in by_image.items():
        assert rows[service]["health"] == "healthy", rows[service]
        assert rows[service]["image"] == f"{fresh.refs[name]} [mirror]", rows[service]
        assert _local(fresh.refs[name]), f"{fresh.refs[name]} was not pulled"
    assert "pulling " in up.stderr and "pulled 4 image(s)" in up.stderr, up.stderr
    pulled = up.stderr.split("pulled 4 image(s) in ")[1].split(" s")[0]
    fresh.timings["pull (dev.up)"] = float(pulled)
    # The engine really asked the mirror for each manifest during dev.up (a pull, not a
    # local hit; it may HEAD the manifest when it already holds the content by digest).
    log = fresh.requests()[seen:]
    for ref in fresh.refs.values():
        repo, tag = ref.removeprefix(fresh.host + "/").rsplit(":", 1)
        asked = f" /v2/{repo}/manifests/{tag} HTTP"
        assert f"GET{asked}" in log or f"HEAD{asked}" in log, f"no manifest request for {ref}"
    running = {c.labels["com.docker.compose.service"]: c for c in _project_containers(project)}
    for service, name in by_image.items():
        assert running[service].attrs["Config"]["Image"] == fresh.refs[name]
    # The pulled image runs the real server: a login through the stand-in's own client.
    rc, out = running["pgvector"].exec_run(["psql", "-U", "postgres", "-tAc", "SELECT 1"])
    assert (rc, out.strip()) == (0, b"1"), out


def test_image_missing_from_the_mirror_fails_before_anything_starts(
    fresh: Mirror, cli: Any, session: str
) -> None:
    from stack.engine.labels import count_labelled
    from stack.images.catalog import IMAGES

    run, project = cli
    before = count_labelled(session=session)
    proc = run("dev.up", check=False, VECTOR_STORE=NOT_PUSHED)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert f"image {IMAGES[NOT_PUSHED].ref}" in text, text
    assert f"mirror {fresh.host}" in text, text
    assert "nothing was started" in text, text
    assert _project_containers(project) == []
    assert count_labelled(session=session) == before  # no container, network or volume


def test_vdb_store_container_pulls_through_the_mirror(
    fresh: Mirror, session: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stack.images.catalog import IMAGES
    from stack.stores.runtime import StoreSession, availability

    monkeypatch.delenv("STACK_OFFLINE", raising=False)
    monkeypatch.setenv("STACK_REGISTRY_MIRRORS", fresh.env_value)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")

    t0 = time.monotonic()
    avail = availability(["pgvector", NOT_PUSHED])
    fresh.timings["pull (vdb pgvector)"] = time.monotonic() - t0
    ok = avail["pgvector"]
    assert (ok.ok, ok.kind, ok.image_ref) == (True, "mirror", fresh.refs["pgvector"]), ok
    assert _local(fresh.refs["pgvector"])
    bad = avail[NOT_PUSHED]
    assert not bad.ok
    assert f"image {IMAGES[NOT_PUSHED].ref}" in bad.reason and f"mirror {fresh.host}" in bad.reason

    ss = StoreSession(session, purpose="test")
    try:
        running = ss.start("pgvector", ok.image_ref)
        assert running.container.get_wrapped_container().attrs["Config"]["Image"] == ok.image_ref
        store = running.connect()
        try:
            store.ping()
        finally:
            store.close()
    finally:
        ss.close()
