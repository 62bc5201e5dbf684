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
from typing import Any

import pytest

from stack.engine.client import engine_alive

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
