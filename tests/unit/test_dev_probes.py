"""The dev readiness probe over HTTPS accepts the self-signed demo certificate of a store."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.dev.plan import DevService
from stack.dev.probes import _http


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[int]:
    cert, key = tmp_path / "demo.crt", tmp_path / "demo.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=opensearch-demo", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_https_probe_succeeds_against_a_self_signed_certificate(https_server: int) -> None:
    svc = DevService(
        name="opensearch",
        image="opensearchproject/opensearch:x",
        run_image="opensearchproject/opensearch:x",
        image_kind="upstream",
        container_port=9200,
        expose="EXPOSE_OPENSEARCH_PORT",
        host_port=https_server,
        scheme="https",
    )
    result = _http(svc, timeout=5)
    assert result.ok, result.detail
    assert result.detail == "HTTP 200"


def test_http_probe_reports_a_closed_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = DevService("x", "i", "i", "upstream", 80, None, port, "http")
    result = _http(svc, timeout=2)
    assert not result.ok
