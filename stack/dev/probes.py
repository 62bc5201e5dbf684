"""Readiness proven by a real login with the configured credentials.

A container's own health check only says the server answers; these probes log in
from the host through the published port, as the backend will.  A database that
rejects the configured password is reported as exactly that: its data volume was
initialised earlier with another password.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from stack.dev.plan import DevService
from stack.dockerapi import engine_host  # where the engine publishes: not always 127.0.0.1


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    auth_failed: bool = False


def probe(svc: DevService, timeout: float = 3.0) -> ProbeResult:
    """Log in to ``svc`` (or, for plain services, open its port / HTTP endpoint)."""
    if svc.host_port is None:
        return ProbeResult(True, "not published")
    try:
        if svc.scheme == "postgresql":
            return _postgres(svc, timeout)
        if svc.scheme == "mysql":
            return _mysql(svc, timeout)
        if svc.scheme == "redis":
            return _redis(svc, timeout)
        if svc.scheme in ("http", "https"):
            return _http(svc, timeout)
        with socket.create_connection((engine_host(), svc.host_port), timeout=timeout):
            return ProbeResult(True, "port open")
    except OSError as exc:
        return ProbeResult(False, f"{type(exc).__name__}: {exc}")


def _postgres(svc: DevService, timeout: float) -> ProbeResult:
    import psycopg

    cred = svc.credential
    assert cred is not None
    try:
        with psycopg.connect(
            host=engine_host(),
            port=svc.host_port,
            user=cred.user,
            password=cred.password,
            dbname=cred.database,
            connect_timeout=max(1, int(timeout)),
        ) as conn:
            version = conn.execute("select current_setting('server_version')").fetchone()
    except psycopg.OperationalError as exc:
        text = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
        failed = "password authentication failed" in str(exc) or "does not exist" in str(exc)
        return ProbeResult(False, text, auth_failed=failed)
    return ProbeResult(
        True, f"logged in as {cred.user} (PostgreSQL {version[0] if version else '?'})"
    )


def _mysql(svc: DevService, timeout: float) -> ProbeResult:
    import pymysql

    cred = svc.credential
    assert cred is not None
    try:
        conn = pymysql.connect(
            host=engine_host(),
            port=svc.host_port or 3306,
            user=cred.user,
            password=cred.password,
            database=cred.database or None,
            connect_timeout=timeout,
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        return ProbeResult(False, str(exc), auth_failed=code in (1044, 1045, 1049))
    with conn, conn.cursor() as cur:
        cur.execute("select version()")
        row = cur.fetchone()
    return ProbeResult(True, f"logged in as {cred.user} ({row[0] if row else '?'})")


def _redis(svc: DevService, timeout: float) -> ProbeResult:
    cred = svc.credential
    password = cred.password if cred else ""
    with socket.create_connection((engine_host(), svc.host_port or 6379), timeout=timeout) as sock:
        file = sock.makefile("rb")
        if password:
            sock.sendall(_resp("AUTH", password))
            reply = file.readline().decode(errors="replace").strip()
            if not reply.startswith("+OK"):
                return ProbeResult(False, f"AUTH refused: {reply}", auth_failed=True)
        sock.sendall(_resp("PING"))
        reply = file.readline().decode(errors="replace").strip()
    if reply == "+PONG":
        return ProbeResult(True, "AUTH + PING ok" if password else "PING ok")
    return ProbeResult(False, f"PING answered {reply!r}", auth_failed="NOAUTH" in reply)


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _http(svc: DevService, timeout: float) -> ProbeResult:
    import http.client

    conn: http.client.HTTPConnection
    if svc.scheme == "https":
        import ssl

        # The dev container's own port on the engine host: stores such as opensearch serve a
        # self-signed demo certificate, which no CA can vouch for. The probe proves the server
        # answers; it sends no credentials, so it skips certificate verification.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(
            engine_host(), svc.host_port, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(engine_host(), svc.host_port, timeout=timeout)
    try:
        conn.request("GET", "/")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(False, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    if status >= 500:
        return ProbeResult(False, f"HTTP {status}")
    return ProbeResult(True, f"HTTP {status}")
