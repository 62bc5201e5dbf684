"""Each offline stand-in runs the real server and honours the upstream image's interface.

Containers, networks and volumes carry the stack labels of this test session and are
removed afterwards (``remove_session``); stale ones of dead sessions are swept first.
Images are never pulled: the stand-ins are built locally (``invoke images.build``) and a
missing one makes its tests skip with the command that builds it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stack.engine.client import engine_alive
from stack.images.catalog import STANDIN_RECIPES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]


@pytest.fixture(scope="module")
def session() -> Iterator[dict[str, Any]]:
    """Docker client + labels for this module; everything labelled is removed at the end."""
    from stack.engine import labels
    from stack.engine.client import client

    c = client()
    labels.sweep(client=c)
    sid = labels.new_session_id()
    lab = labels.session_labels(sid, purpose="test")
    try:
        yield {"client": c, "labels": lab, "session": sid}
    finally:
        labels.remove_session(sid, client=c)
        assert labels.count_labelled(client=c, session=sid) == {
            "containers": 0,
            "networks": 0,
            "volumes": 0,
        }


def standin(name: str) -> str:
    """Ref of the built stand-in ``name``; skip (naming the fix) if it is not built."""
    from stack.images.base import image_exists
    from stack.images.resolve import standin_ref

    ref = standin_ref(name)
    if not image_exists(ref):
        pytest.skip(f"stand-in {ref} not built: invoke images.build --only {name}")
    return ref


def start(
    session: dict[str, Any], image: str, *, port: str | None = None, **kwargs: Any
) -> tuple[Any, int | None]:
    """Start a labelled container; publish ``port`` on 127.0.0.1 (random host port)."""
    c = session["client"]
    ports = {port: ("127.0.0.1", None)} if port else None
    ctr = c.containers.run(image, detach=True, labels=session["labels"], ports=ports, **kwargs)
    host_port = None
    if port:
        for _ in range(50):
            ctr.reload()
            bindings = (ctr.attrs["NetworkSettings"]["Ports"] or {}).get(port)
            if bindings:
                host_port = int(bindings[0]["HostPort"])
                break
            time.sleep(0.1)
        assert host_port, f"{image}: port {port} not published"
    return ctr, host_port


def wait_for(fn: Callable[[], Any], ctr: Any, timeout: float = 60.0) -> Any:
    """Retry ``fn`` until it returns; on timeout fail with the container's log tail."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            return fn()
        except Exception as exc:  # server not ready yet
            last = exc
            ctr.reload()
            if ctr.status == "exited":
                break
            time.sleep(0.2)
    logs = ctr.logs(tail=40).decode(errors="replace")
    pytest.fail(f"{ctr.image.tags} not ready: {last!r}\n--- log tail ---\n{logs}")


def timed_stop(ctr: Any) -> float:
    t0 = time.monotonic()
    ctr.stop(timeout=10)
    return time.monotonic() - t0


# --------------------------------------------------------------------------- postgres


def test_postgres_standin_round_trip(session: dict[str, Any]) -> None:
    import psycopg

    ref = standin("postgres")
    ctr, port = start(
        session,
        ref,
        port="5432/tcp",
        environment={
            "POSTGRES_USER": "stack",
            "POSTGRES_PASSWORD": "s3cret",
            "POSTGRES_DB": "app",
            "PGDATA": "/var/lib/postgresql/data/pgdata",
        },
        command=["postgres", "-c", "max_connections=57"],
    )
    dsn = f"host=127.0.0.1 port={port} dbname=app user=stack connect_timeout=3"

    conn = wait_for(lambda: psycopg.connect(dsn + " password=s3cret"), ctr)
    with conn:
        conn.execute("CREATE TABLE t (id int primary key, v text)")
        conn.execute("INSERT INTO t VALUES (1, 'hello')")
        conn.commit()
        assert conn.execute("SELECT v FROM t WHERE id = 1").fetchone() == ("hello",)
        assert conn.execute("SHOW max_connections").fetchone() == ("57",)
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        assert conn.execute("SHOW server_version").fetchone()[0].startswith("15.")

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn + " password=wrong")

    rc, out = ctr.exec_run(["pg_isready", "-h", "localhost", "-U", "stack"])
    assert rc == 0, out
    rc, out = ctr.exec_run(["cat", "/var/lib/postgresql/data/pgdata/.stack-image"])
    assert rc == 0 and b"image=stack-standin/postgres" in out
    assert timed_stop(ctr) < 5, "postgres stand-in ignored its stop signal"


def test_postgres_standin_requires_password(session: dict[str, Any]) -> None:
    ref = standin("postgres")
    ctr, _ = start(session, ref)
    assert ctr.wait(timeout=30)["StatusCode"] != 0
    assert b"POSTGRES_PASSWORD" in ctr.logs()


# --------------------------------------------------------------------------- redis


def test_redis_standin_round_trip(session: dict[str, Any]) -> None:
    import redis

    ref = standin("redis")
    ctr, port = start(
        session, ref, port="6379/tcp", command=["redis-server", "--requirepass", "r3dis"]
    )
    good = redis.Redis(host="127.0.0.1", port=port, password="r3dis", socket_timeout=3)
    wait_for(good.ping, ctr)
    good.set("k", "v")
    assert good.get("k") == b"v"
    db1 = redis.Redis(host="127.0.0.1", port=port, password="r3dis", db=1)
    db1.set("broker", "ok")
    assert db1.get("broker") == b"ok"

    from redis.backoff import NoBackoff
    from redis.retry import Retry

    no_retry = Retry(NoBackoff(), 0)  # redis-py retries auth failures with backoff otherwise
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="wrong", retry=no_retry).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, retry=no_retry).get("k")

    rc, out = ctr.exec_run(["redis-cli", "-a", "r3dis", "--no-auth-warning", "ping"])
    assert rc == 0 and out.strip() == b"PONG"
    rc, out = ctr.exec_run(["pwd"])
    assert out.strip() == b"/data"
    assert timed_stop(ctr) < 5


# --------------------------------------------------------------------------- mysql


def test_mysql_standin_round_trip(session: dict[str, Any]) -> None:
    import pymysql

    ref = standin("mysql")
    ctr, port = start(
        session,
        ref,
        port="3306/tcp",
        environment={
            "MYSQL_ROOT_PASSWORD": "r00t",
            "MYSQL_DATABASE": "app",
            "MYSQL_USER": "dify",
            "MYSQL_PASSWORD": "d1fy",
        },
        command=["--max_connections=123", "--default-authentication-plugin=mysql_native_password"],
    )

    def connect(user: str, password: str) -> Any:
        return pymysql.connect(
            host="127.0.0.1",
            port=port,
            user=user,
            password=password,
            database="app",
            connect_timeout=3,
        )

    conn = wait_for(lambda: connect("root", "r00t"), ctr)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO t VALUES (1, 'hello')")
        conn.commit()
        cur.execute("SELECT v FROM t WHERE id = 1")
        assert cur.fetchone() == ("hello",)
        cur.execute("SELECT @@max_connections")
        assert cur.fetchone() == (123,)
    with connect("dify", "d1fy") as user_conn, user_conn.cursor() as cur:
        cur.execute("SELECT v FROM t")
        assert cur.fetchall() == (("hello",),)

    with pytest.raises(pymysql.err.OperationalError) as err:
        connect("root", "wrong")
    assert err.value.args[0] == 1045

    rc, out = ctr.exec_run(["mysqladmin", "ping", "-uroot", "-pr00t"])
    assert rc == 0 and b"alive" in out
    rc, out = ctr.exec_run(["cat", "/var/lib/mysql/.stack-image"])
    assert rc == 0 and b"image=stack-standin/mysql" in out
    assert timed_stop(ctr) < 8


# --------------------------------------------------------------------------- nginx + squid


@contextlib.contextmanager
def labelled_network(session: dict[str, Any]) -> Iterator[Any]:
    net = session["client"].networks.create(
        f"stack-test-{session['session']}", labels=session["labels"], driver="bridge"
    )
    try:
        yield net
    finally:
        pass  # removed with the session


def _get(url: str, proxy: str | None = None) -> tuple[int, str]:
    handler = urllib.request.ProxyHandler({"http": proxy} if proxy else {})
    opener = urllib.request.build_opener(handler)
    with opener.open(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


def test_nginx_and_squid_standins_proxy_a_request(session: dict[str, Any]) -> None:
    nginx_ref = standin("nginx")
    squid_ref = standin("squid")
    with labelled_network(session) as net:
        web_name = f"stack-web-{session['session']}"  # resolvable on the network by name
        web, web_port = start(session, nginx_ref, port="80/tcp", network=net.name, name=web_name)
        proxy, proxy_port = start(session, squid_ref, port="3128/tcp", network=net.name)

        status, body = wait_for(lambda: _get(f"http://127.0.0.1:{web_port}/"), web)
        assert status == 200 and "Welcome to nginx!" in body

        proxy_url = f"http://127.0.0.1:{proxy_port}"
        status, body = wait_for(lambda: _get(f"http://{web_name}/", proxy=proxy_url), proxy)
        assert status == 200 and "Welcome to nginx!" in body

        # The request really went through squid: nginx logged it from squid's address.
        proxy.reload()
        squid_ip = proxy.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        deadline = time.monotonic() + 10  # the engine copies container output asynchronously
        while squid_ip not in web.logs().decode() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert squid_ip in web.logs().decode()

        rc, out = web.exec_run(["nginx", "-t"])
        assert rc == 0, out
        assert timed_stop(proxy) < 5
        assert timed_stop(web) < 5


# --------------------------------------------------------------------------- busybox


def test_busybox_standin_runs_init_permissions(session: dict[str, Any]) -> None:
    ref = standin("busybox")
    c = session["client"]
    vol = c.volumes.create(labels=session["labels"])
    script = (
        'FLAG_FILE="/app/api/storage/.init_permissions"; '
        'if [ -f "$FLAG_FILE" ]; then echo "already"; exit 0; fi; '
        'chown -R 1001:1001 /app/api/storage && touch "$FLAG_FILE" && echo "initialized"'
    )
    mounts = {vol.name: {"bind": "/app/api/storage", "mode": "rw"}}
    out = c.containers.run(
        ref, ["sh", "-c", script], volumes=mounts, labels=session["labels"], remove=True
    )
    assert out.strip() == b"initialized"
    out = c.containers.run(
        ref, ["sh", "-c", script], volumes=mounts, labels=session["labels"], remove=True
    )
    assert out.strip() == b"already"
    out = c.containers.run(
        ref,
        ["sh", "-c", "stat -c %u /app/api/storage; readlink -f /proc/$$/exe"],
        volumes=mounts,
        labels=session["labels"],
        remove=True,
    )
    uid, sh_path = out.decode().split()
    assert uid == "1001"
    assert sh_path.endswith("busybox")


def test_standin_labels_record_substitution() -> None:
    from stack.images.catalog import IMAGES

    for name in ("postgres", "redis", "mysql", "nginx", "squid", "busybox"):
        ref = standin(name)
        proc = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
            capture_output=True,
            text=True,
            check=True,
        )
        labels = json.loads(proc.stdout)
        assert labels["org.stack.recipe"] == name
        assert labels["org.stack.substitutes"] == IMAGES[name].ref
        assert labels["org.stack.version"] not in ("", "unknown")
        assert ref.endswith(labels["org.stack.recipe-hash"])


# --------------------------------------------------------------------------- upstream interface
#
# One test per stand-in recipe of the catalog: the container is started the way the production
# template starts the upstream image (its environment, command, entrypoint and read-only config
# mounts, interpolated by `docker compose config`), Docker runs the template's own
# `healthcheck.test` until it reports healthy, then the commands users and the docs run inside
# the upstream container must work the same way.

#: Settings the template is interpolated with (non-default secrets: the env must be honoured).
TEMPLATE_ENV = {
    "DB_PASSWORD": "db-Pw-7",
    "REDIS_PASSWORD": "redis-Pw-7",
    "PGVECTOR_PASSWORD": "vec-Pw-7",
}


@dataclass(frozen=True)
class Check:
    """A command run inside the container; ``{VAR}`` is the service's environment value."""

    argv: tuple[str, ...]
    expect: str = ""  # substring of the output (empty: the exit code alone decides)

    def command(self, env: dict[str, str]) -> list[str]:
        return [a.format(**env) for a in self.argv]


_PSQL = (
    Check(("psql", "-U", "{POSTGRES_USER}", "-tAc", "SELECT current_user"), "{POSTGRES_USER}"),
    Check(("psql", "-U", "{POSTGRES_USER}", "-d", "{POSTGRES_DB}", "-tAc", "SELECT 1"), "1"),
    Check(("pg_isready",), "accepting connections"),
    Check(("pg_dump", "-U", "{POSTGRES_USER}", "--schema-only", "{POSTGRES_DB}"), "PostgreSQL"),
)

_VECTOR_SQL = "CREATE EXTENSION IF NOT EXISTS vector; SELECT '[1,2]'::vector <-> '[1,3]'"
_HTTP_VERSION = (
    "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /api/v2/version HTTP/1.0\\r\\n\\r\\n' >&3"
    " && cat <&3"
)

#: What users and the docs run inside each upstream image, per stand-in recipe.
USER_COMMANDS: dict[str, tuple[Check, ...]] = {
    "postgres": _PSQL,
    "pgvector": (
        *_PSQL,
        Check(
            ("psql", "-U", "{POSTGRES_USER}", "-d", "{POSTGRES_DB}", "-tAc", _VECTOR_SQL),
            "1",
        ),
    ),
    "mysql": (
        Check(("mysql", "-uroot", "-p{MYSQL_ROOT_PASSWORD}", "-e", "SELECT 1+1"), "2"),
        Check(
            (
                "mysql",
                "-uroot",
                "-p{MYSQL_ROOT_PASSWORD}",
                "{MYSQL_DATABASE}",
                "-e",
                "SELECT DATABASE()",
            ),
            "{MYSQL_DATABASE}",
        ),
        Check(("mysqladmin", "-uroot", "-p{MYSQL_ROOT_PASSWORD}", "ping"), "alive"),
        Check(
            ("mysqldump", "-uroot", "-p{MYSQL_ROOT_PASSWORD}", "--no-data", "{MYSQL_DATABASE}"),
            "dump",
        ),
    ),
    "redis": (
        Check(("redis-cli", "ping"), "PONG"),  # authenticates through REDISCLI_AUTH
        Check(("redis-cli", "-n", "1", "set", "broker", "ok"), "OK"),
        Check(("redis-cli", "info", "server"), "redis_version"),
    ),
    "nginx": (
        Check(("nginx", "-t"), "syntax is ok"),
        Check(("nginx", "-s", "reload")),
        Check(("sh", "-c", "ls /etc/nginx/conf.d/*.conf"), "default.conf"),
    ),
    "squid": (
        Check(("squid", "-k", "parse")),
        Check(("squid", "-v"), "Squid Cache: Version"),  # (-k check/reconfigure: PID 1 here
        # and upstream alike, which squid refuses to signal)
        Check(("sh", "-c", "grep -E '^http_port' /etc/squid/squid.conf"), "{HTTP_PORT}"),
    ),
    "busybox": (
        Check(("sh", "-c", "mkdir -p /www && echo hi > /www/index.html && httpd -p 8080 -h /www")),
        Check(("wget", "-q", "-O-", "http://127.0.0.1:8080/index.html"), "hi"),
        Check(("sh", "-c", "nc -w 3 127.0.0.1 8080 </dev/null && echo open"), "open"),
        Check(("sh", "-c", "! nc -w 3 127.0.0.1 8081 </dev/null && echo closed"), "closed"),
        Check(("stat", "-c", "%u", "/app/api/storage"), "1001"),  # chowned by the one-shot
    ),
    "chroma": (
        Check(("chroma", "--help"), "run"),
        Check(("bash", "-c", _HTTP_VERSION), "200 OK"),
    ),
    "milvus": (
        Check(("curl", "-fsS", "http://localhost:9091/healthz"), "OK"),
        Check(("bash", "-c", ":> /dev/tcp/127.0.0.1/19530")),
    ),
    "web": (  # the page on 3000 and its script, which calls the api's same-origin /v1 routes
        Check(("wget", "-q", "-O-", "http://127.0.0.1:3000/"), 'id="ingest-form"'),
        Check(("wget", "-q", "-O-", "http://127.0.0.1:3000/app.js"), "/v1/datasets/"),
        Check(("id", "-u"), "1001"),
    ),
}


#: Paths users fetch from the host on the published (``x-stack-dev``) port.
HOST_GET = {"chroma": "/api/v2/heartbeat"}


def _template() -> tuple[dict[str, Any], dict[str, Any]]:
    """(interpolated config, raw template) of the production template, all profiles."""
    from stack import paths
    from stack.compose import render, validate
    from stack.dev.plan import raw_template
    from stack.env.parse import load_definitions

    text = paths.TEMPLATE.read_text(encoding="utf-8")
    rendered = render.render(text, render.shared_from_definitions(load_definitions()))
    config = validate.config(
        rendered, project_dir=paths.COMPOSE_DIR, profiles=("*",), env=TEMPLATE_ENV
    )
    return config, raw_template(text)


def _service_for(recipe: str, config: dict[str, Any]) -> str:
    """The template service running the upstream image that stand-in ``recipe`` replaces."""
    from stack.images.catalog import by_standin
    from stack.images.mirror import parse_ref

    refs = {parse_ref(e.ref) for e in by_standin(recipe)}
    names = [n for n, s in config["services"].items() if parse_ref(s["image"]) in refs]
    assert names, f"no template service uses the image stand-in {recipe} replaces"
    return names[0]


def _unescape(value: Any) -> Any:
    """`docker compose config` prints a literal `$` as `$$`; the engine wants it single."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


def _mounts(session: dict[str, Any], svc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The service's mounts: its ``./volumes/...`` data binds become labelled volumes (as in
    dev), binds of files in this repository (config, scripts) are kept, binds of sources that
    do not exist are left out (Docker would create them, empty, inside the repository)."""
    from stack import paths

    data_root = paths.COMPOSE_DIR / "volumes"
    mounts = {}
    for v in svc.get("volumes") or []:
        if v.get("type") != "bind":
            continue
        source = Path(v.get("source") or "")
        if source.is_relative_to(data_root):
            vol = session["client"].volumes.create(labels=session["labels"])
            mounts[vol.name] = {"bind": v["target"], "mode": "rw"}
        elif source.exists():
            mode = "ro" if v.get("read_only") else "rw"
            mounts[str(source)] = {"bind": v["target"], "mode": mode}
    return mounts


def _healthcheck(svc: dict[str, Any]) -> dict[str, Any] | None:
    hc = svc.get("healthcheck")
    if not hc or hc.get("disable") or hc["test"][0] == "NONE":
        return None
    second = 1_000_000_000
    return {
        "test": _unescape(hc["test"]),
        "interval": second // 2,
        "timeout": 5 * second,
        "retries": 600,
    }


def test_user_commands_name_only_catalog_recipes() -> None:
    assert set(USER_COMMANDS) <= set(STANDIN_RECIPES), "stale entries in USER_COMMANDS"


@pytest.fixture(scope="module")
def template() -> tuple[dict[str, Any], dict[str, Any]]:
    return _template()


@pytest.mark.parametrize("recipe", STANDIN_RECIPES)
def test_standin_honours_upstream_interface(
    session: dict[str, Any], template: tuple[dict[str, Any], dict[str, Any]], recipe: str
) -> None:
    ref = standin(recipe)
    if recipe == "api":  # healthy only with its middleware: test_api_image.py runs it so
        pytest.skip("api: interface checked with db, redis and pgvector in test_api_image.py")
    if recipe not in USER_COMMANDS:
        pytest.fail(
            f"stand-in {recipe} has no interface checks: add the commands users run inside "
            "its upstream image to USER_COMMANDS in tests/integration/test_standins.py"
        )
    config, raw = template
    name = _service_for(recipe, config)
    svc = config["services"][name]
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
    hint = raw["services"][name].get("x-stack-dev") or {}
    port = f"{hint['port']}/tcp" if hint.get("port") else None
    health = _healthcheck(svc)
    command = _unescape(svc.get("command"))
    mounts = _mounts(session, svc)
    if recipe == "busybox":  # init_permissions is a one-shot: its own script, twice
        for expect in (b"Permissions initialized", b"already initialized"):
            out = session["client"].containers.run(
                ref, command, volumes=mounts, labels=session["labels"], remove=True
            )
            assert expect in out, out
        command = ["sleep", "300"]  # then the users' commands in a long-running one
    kwargs: dict[str, Any] = {
        "environment": env,
        "command": command,
        "entrypoint": _unescape(svc.get("entrypoint")),
        "volumes": mounts,
        "name": f"stack-test-{recipe}-{session['session']}",
    }
    if health:
        kwargs["healthcheck"] = health
    ctr, host_port = start(session, ref, port=port, **kwargs)
    try:
        if health:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                ctr.reload()
                state = ctr.attrs["State"]
                status = state.get("Health", {}).get("Status")
                if status == "healthy" or state["Status"] == "exited":
                    break
                time.sleep(0.3)
            log = (state.get("Health") or {}).get("Log") or [{}]
            assert status == "healthy", (
                f"{name}: template health check {health['test']} -> {status}: "
                f"{log[-1].get('Output')!r}\n{ctr.logs(tail=30).decode(errors='replace')}"
            )
        for check in USER_COMMANDS[recipe]:
            argv = check.command(env)
            _, out = wait_for(lambda argv=argv: _exec_ok(ctr, argv), ctr, timeout=30)
            assert check.expect.format(**env) in out, f"{argv}: {out}"
        if recipe in HOST_GET:  # and from the host, through the port dev.up publishes
            code, _ = wait_for(lambda: _get(f"http://127.0.0.1:{host_port}{HOST_GET[recipe]}"), ctr)
            assert code == 200
    finally:
        ctr.remove(force=True, v=True)


def _exec_ok(ctr: Any, argv: list[str]) -> tuple[int, str]:
    rc, out = ctr.exec_run(argv)
    text = out.decode(errors="replace")
    if rc != 0:
        raise AssertionError(f"{argv} exited {rc}: {text}")
    return rc, text
