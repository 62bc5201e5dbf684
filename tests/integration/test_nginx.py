"""The production nginx service routes the platform, with its own configuration.

The nginx service of the rendered production file (its entrypoint, command, mounts of
compose/nginx/ and environment, interpolated with each case's NGINX_* settings) runs on the
nginx stand-in beside busybox stand-ins named ``api`` and ``web`` that answer distinct bodies
-- and without ``plugin_daemon``. Several nginx services with different settings share one
labelled project; each publishes only on 127.0.0.1, on free ports.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack.engine.client import engine_alive
from tests.integration.template_support import (
    Project,
    busybox_server,
    labelled_networks,
    production_config,
    production_service,
    project,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

API_FILES = {p: f"api:{p}" for p in ("/v1/health", "/console/api/x", "/api/x", "/files/x")}
WEB_FILES = {"/": "web:/", "/explore/x": "web:/explore/x"}
TOKEN = "acme-token-7"
CERT, KEY = "stack-test.crt", "stack-test.key"

#: nginx services of the project: their NGINX_* settings (interpolated by the template).
CASES: dict[str, dict[str, str]] = {
    # HTTP only, small body limit, certbot challenge served.
    "nginx_http": {
        "NGINX_CLIENT_MAX_BODY_SIZE": "1k",
        "NGINX_ENABLE_CERTBOT_CHALLENGE": "true",
        "NGINX_WORKER_PROCESSES": "2",
        "NGINX_PROXY_READ_TIMEOUT": "77s",
    },
    # HTTPS with the default protocols and non-default certificate file names.
    "nginx_tls": {
        "NGINX_HTTPS_ENABLED": "true",
        "NGINX_SSL_CERT_FILENAME": CERT,
        "NGINX_SSL_CERT_KEY_FILENAME": KEY,
    },
    # HTTPS restricted to TLS 1.3.
    "nginx_tls13": {
        "NGINX_HTTPS_ENABLED": "true",
        "NGINX_SSL_CERT_FILENAME": CERT,
        "NGINX_SSL_CERT_KEY_FILENAME": KEY,
        "NGINX_SSL_PROTOCOLS": "TLSv1.3",
    },
}


def self_signed(directory: Path) -> None:
    """A self-signed certificate for localhost: ``CERT`` and ``KEY`` in ``directory``."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / KEY).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / KEY).chmod(0o644)  # read by nginx's master as root; a test key


class Stack:
    """The running project: the host ports of every nginx service."""

    def __init__(
        self,
        proj: Project,
        document: dict[str, Any],
        ports: dict[str, tuple[int, int]],
        certs: Path,
    ) -> None:
        self.project = proj
        self.document = document
        self.ports = ports
        self.certs = certs

    def get(self, case: str, path: str, **kw: Any) -> tuple[int, str, dict[str, str]]:
        return request(self.ports[case][0], path, **kw)


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, str, dict[str, str]]:
    if context is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=context)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace"), dict(resp.getheaders())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from stack.dev.ports import free_ports
    from stack.engine import labels

    labels.sweep()
    sid = labels.new_session_id()
    lab = labels.session_labels(sid, purpose="test")
    tmp = tmp_path_factory.mktemp("nginx")
    certs, letsencrypt, www = tmp / "ssl", tmp / "letsencrypt", tmp / "www"
    for d in (certs, letsencrypt, www / ".well-known" / "acme-challenge"):
        d.mkdir(parents=True)
    self_signed(certs)
    (www / ".well-known" / "acme-challenge" / "tok").write_text(TOKEN, encoding="utf-8")
    binds = {"/etc/ssl": certs, "/etc/letsencrypt": letsencrypt, "/var/www/html": www}

    first = production_config()
    services: dict[str, Any] = {
        "api": busybox_server(lab, 5001, API_FILES, ["default"]),
        "web": busybox_server(lab, 3000, WEB_FILES, ["default"]),
    }
    ports: dict[str, tuple[int, int]] = {}
    host_ports = iter(free_ports(2 * len(CASES)))
    for case, env in CASES.items():
        svc = production_service(production_config(env), "nginx", lab, binds)
        ports[case] = (next(host_ports), next(host_ports))
        svc["ports"] = [
            {"target": int(svc["environment"][var]), "published": str(p), "host_ip": "127.0.0.1"}
            for var, p in zip(("NGINX_PORT", "NGINX_SSL_PORT"), ports[case], strict=True)
        ]
        services[case] = svc
    assert "plugin_daemon" not in services
    document = {"services": services, "networks": labelled_networks(first, lab)}
    try:
        with project(f"stack-nginx-{sid}", tmp) as proj:
            proj.up(document)
            result = Stack(proj, document, ports, certs)
            for case in CASES:
                wait_for(
                    lambda case=case: request(ports[case][0], "/v1/health"),
                    f"{case} does not answer",
                    lambda case=case: proj.logs(case),
                )
            yield result
    finally:
        labels.remove_session(sid)
        assert labels.count_labelled(session=sid) == {"containers": 0, "networks": 0, "volumes": 0}


@pytest.mark.parametrize("case", list(CASES))
def test_routes_reach_api_and_web(stack: Stack, case: str) -> None:
    for path, body in API_FILES.items():
        assert stack.get(case, path)[:2] == (200, body), path
    status, body, _ = stack.get(case, "/")
    assert (status, body) == (200, "web:/")
    assert stack.get(case, "/explore/x")[:2] == (200, "web:/explore/x")
    assert "Welcome to nginx" not in body


def test_missing_plugin_daemon_is_a_gateway_error_not_a_failed_start(stack: Stack) -> None:
    status, _, _ = stack.get("nginx_http", "/e/hook")
    assert status in (502, 503, 504)
    assert stack.project.container("nginx_http").status == "running"
    # and the other routes keep working after that lookup failed
    assert stack.get("nginx_http", "/v1/health")[:2] == (200, API_FILES["/v1/health"])


def test_plugin_daemon_started_later_is_reached_without_restarting_nginx(stack: Stack) -> None:
    """Upstreams are resolved per request: a plugin_daemon that appears later gets /e/."""
    nginx = stack.project.container("nginx_http")
    started = nginx.attrs["State"]["StartedAt"]
    assert stack.get("nginx_http", "/e/hook")[0] in (502, 503, 504)
    lab = stack.document["services"]["api"]["labels"]
    stack.document["services"]["plugin_daemon"] = busybox_server(
        lab, 5002, {"/e/hook": "plugin_daemon:/e/hook"}, ["default"]
    )
    try:
        stack.project.up(stack.document, "plugin_daemon")

        def reached() -> None:
            assert stack.get("nginx_http", "/e/hook")[:2] == (200, "plugin_daemon:/e/hook")

        wait_for(
            reached, "/e/ never reached plugin_daemon", lambda: stack.project.logs("nginx_http")
        )
        nginx.reload()
        assert nginx.attrs["State"]["StartedAt"] == started  # the same nginx, not restarted
    finally:
        stack.project.compose("rm", "-sf", "plugin_daemon", check=False)
        del stack.document["services"]["plugin_daemon"]


def test_the_platform_server_is_the_default_server(stack: Stack) -> None:
    rc, out = stack.project.exec("nginx_http", ["nginx", "-T"])
    assert rc == 0, out
    assert "Welcome to nginx" not in out and "/usr/share/nginx/html" not in out
    assert "listen 80 default_server;" in out
    assert "worker_processes  2;" in out and "proxy_read_timeout 77s;" in out
    rc, out = stack.project.exec("nginx_http", ["sh", "-c", "ls /etc/nginx/conf.d/*.conf"])
    assert out.split() == ["/etc/nginx/conf.d/default.conf"]
    # any Host is served by the platform
    conn = http.client.HTTPConnection("127.0.0.1", stack.ports["nginx_http"][0], timeout=10)
    conn.request("GET", "/", headers={"Host": "unknown.example"})
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"web:/")
    conn.close()


def test_body_size_limit(stack: Stack) -> None:
    assert stack.get("nginx_http", "/v1/health", method="POST", body=b"x" * 2048)[0] == 413
    assert stack.get("nginx_http", "/v1/health", method="POST", body=b"x" * 512)[0] != 413
    # the default (100M) takes what 1k refused
    assert stack.get("nginx_tls", "/v1/health", method="POST", body=b"x" * 2048)[0] != 413


def test_certbot_challenge_only_when_enabled(stack: Stack) -> None:
    path = "/.well-known/acme-challenge/tok"
    assert stack.get("nginx_http", path)[:2] == (200, TOKEN)
    assert stack.get("nginx_http", "/.well-known/acme-challenge/absent")[0] == 404
    status, body, _ = stack.get("nginx_tls", path)
    assert body != TOKEN and status == 404  # went to web, which has no such file


def _context(version: ssl.TLSVersion | None, certs: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / CERT))
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def test_https_with_the_configured_certificate_and_protocols(stack: Stack) -> None:
    tls_port = stack.ports["nginx_tls"][1]
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = _context(version, stack.certs)  # verifies the chain: our certificate is served
        status, body, _ = request(tls_port, "/v1/health", context=ctx)
        assert (status, body) == (200, API_FILES["/v1/health"]), version
    assert stack.get("nginx_tls", "/")[:2] == (200, "web:/")  # plain HTTP stays

    tls13_port = stack.ports["nginx_tls13"][1]
    ctx = _context(ssl.TLSVersion.TLSv1_3, stack.certs)
    assert request(tls13_port, "/", context=ctx)[:2] == (200, "web:/")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        request(tls13_port, "/", context=_context(ssl.TLSVersion.TLSv1_2, stack.certs))


def test_https_disabled_listens_on_no_tls_port(stack: Stack) -> None:
    port = stack.ports["nginx_http"][1]
    with pytest.raises((ssl.SSLError, ConnectionError, socket.timeout, http.client.HTTPException)):
        request(port, "/", context=_context(None, stack.certs))
    rc, out = stack.project.exec("nginx_http", ["nginx", "-T"])
    assert rc == 0 and " ssl" not in out.replace("ssl_", "")


@pytest.mark.parametrize(
    ("env", "messages"),
    [
        (
            {"NGINX_HTTPS_ENABLED": "true"},
            (
                "NGINX_HTTPS_ENABLED=true but /etc/ssl/dify.crt does not exist",
                "or set NGINX_HTTPS_ENABLED=false",
            ),
        ),
        (
            {"NGINX_ENABLE_CERTBOT_CHALLENGE": "maybe"},
            ("NGINX_ENABLE_CERTBOT_CHALLENGE='maybe' is not a boolean: set it to true or false",),
        ),
    ],
    ids=["missing-certificate", "bad-boolean"],
)
def test_bad_settings_stop_nginx_with_a_clear_error(
    stack: Stack, tmp_path: Path, env: dict[str, str], messages: tuple[str, ...]
) -> None:
    """A missing certificate or a bad flag stops the container naming it and the fix."""
    from stack.engine import labels as labels_mod

    proj = stack.project
    sid = proj.container("api").labels[labels_mod.LABEL_SESSION]
    lab = labels_mod.session_labels(sid, purpose="test")
    empty = tmp_path / "ssl"
    empty.mkdir()
    binds = {"/etc/ssl": empty, "/etc/letsencrypt": tmp_path, "/var/www/html": tmp_path}
    svc = production_service(production_config(env), "nginx", lab, binds)
    svc["ports"] = []
    svc["depends_on"] = {}
    single = Project(f"{proj.name}-bad", tmp_path)
    document = {"services": {"nginx": svc}, "networks": labelled_networks(production_config(), lab)}
    try:
        single.up(document)
        ctr = single.container("nginx")
        assert ctr.wait(timeout=30)["StatusCode"] != 0
        log = ctr.logs().decode(errors="replace")
        for message in messages:
            assert message in log, log
    finally:
        single.compose("down", "-v", "-t", "1", check=False)


def test_standin_renders_templates_like_the_upstream_image(tmp_path: Path) -> None:
    """20-envsubst-on-templates.sh as upstream: subdirectories kept, only defined variables
    (matching NGINX_ENVSUBST_FILTER) substituted, NGINX_ENVSUBST_* directories honoured."""
    from stack.engine import labels
    from stack.engine.client import client
    from tests.integration.template_support import standin

    ref = standin("nginx")
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.conf.template").write_text("${STACK_A} ${STACK_UNSET} $host ${OTHER_B}\n")
    (tmp_path / "sub" / "b.conf.template").write_text("$STACK_A\n")
    (tmp_path / "ignored.conf").write_text("not a template\n")
    script = (
        "mkdir /out && /docker-entrypoint.sh nginx -v >/dev/null 2>&1"
        " && cat /out/*.conf /out/sub/* && ls /out"
    )
    sid = labels.new_session_id()
    try:
        out = (
            client()
            .containers.run(
                ref,
                entrypoint=["sh", "-c", script],
                environment={
                    "STACK_A": "1",
                    "OTHER_B": "2",
                    "NGINX_ENVSUBST_FILTER": "^STACK_",
                    "NGINX_ENVSUBST_TEMPLATE_DIR": "/tpl",
                    "NGINX_ENVSUBST_OUTPUT_DIR": "/out",
                },
                volumes={str(tmp_path): {"bind": "/tpl", "mode": "ro"}},
                labels=labels.session_labels(sid, purpose="test"),
                remove=True,
            )
            .decode()
        )
    finally:
        labels.remove_session(sid)
    assert out.splitlines() == ["1 ${STACK_UNSET} $host ${OTHER_B}", "1", "a.conf", "sub"]
