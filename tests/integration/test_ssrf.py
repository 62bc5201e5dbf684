"""The SSRF proxy stops server-side request forgery, and the sandbox network is isolated.

The two networks are the rendered production file's own declarations (``ssrf_proxy_network``
``internal: true``, ``default``), the proxy is its ``ssrf_proxy`` service (entrypoint, squid
template, environment) on the squid stand-in. Everything else is a busybox stand-in:

* ``sandbox`` -- on the internal network only, like the template's sandbox: it answers the
  reverse-proxy port and is the client that tries to get out;
* ``db_postgres``, ``redis``, ``web`` -- on the default network only, each answering its name;
* ``api`` -- on the default network only: the positive control, and the reverse-proxy client.

Only the project's own containers are ever contacted. The addresses of the blocked ranges
(169.254.169.254...) are only asked of ``ssrf_proxy_sealed``, a second proxy attached to the
internal network alone, so even a broken policy could not send anything off this host.
"""

from __future__ import annotations

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

INTERNAL, DEFAULT = "ssrf_proxy_network", "default"
#: Containers only on the default network: (service, port).
TARGETS = (("db_postgres", 5432), ("redis", 6379), ("web", 3000))
SANDBOX_BODY = "sandbox:/health"


class Net:
    """The running project and the addresses of its targets on the default network."""

    def __init__(self, proj: Project, ips: dict[str, str]) -> None:
        self.project = proj
        self.ips = ips

    def can_connect(self, service: str, host: str, port: int) -> bool:
        rc, _ = self.project.exec(service, ["sh", "-c", f"nc -w 3 {host} {port} </dev/null"])
        return rc == 0

    def fetch(
        self, service: str, url: str, proxy: str | None = None, limit: int = 15
    ) -> tuple[int, str]:
        """busybox wget of ``url`` from ``service`` (through ``proxy`` host:port), at most
        ``limit`` seconds."""
        env = {"http_proxy": f"http://{proxy}"} if proxy else {}
        # (busybox 1.35's `wget -T` crashes on an HTTP error: busybox `timeout` instead)
        wget = ["wget", "-q", "-O", "-", "-Y", "on" if proxy else "off", url]
        argv = ["timeout", str(limit), *wget]
        return self.project.exec(service, argv, env)


def _proxy(config: dict[str, Any], lab: dict[str, str], networks: list[str] | None = None) -> Any:
    svc = production_service(config, "ssrf_proxy", lab)
    if networks is not None:
        svc["networks"] = {n: None for n in networks}
    return svc


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    from stack.engine import labels

    labels.sweep()
    sid = labels.new_session_id()
    lab = labels.session_labels(sid, purpose="test")
    tmp: Path = tmp_path_factory.mktemp("ssrf")
    config = production_config()
    nets = labelled_networks(config, lab)
    assert nets[INTERNAL].get("internal") is True, "the template's sandbox network is internal"
    assert not nets[DEFAULT].get("internal")
    assert set(config["services"]["ssrf_proxy"]["networks"]) == {INTERNAL, DEFAULT}
    assert set(config["services"]["sandbox"]["networks"]) == {INTERNAL}

    services: dict[str, Any] = {
        "ssrf_proxy": _proxy(config, lab),
        "ssrf_proxy_sealed": _proxy(config, lab, [INTERNAL]),
        "sandbox": busybox_server(lab, 8194, {"/health": SANDBOX_BODY}, [INTERNAL]),
        "api": {**busybox_server(lab, 5001, {"/": "api"}, [DEFAULT])},
    }
    for name, port in TARGETS:
        services[name] = busybox_server(lab, port, {"/": f"{name}:/"}, [DEFAULT])
    document = {"services": services, "networks": nets}
    try:
        with project(f"stack-ssrf-{sid}", tmp) as proj:
            proj.up(document)
            ips = {name: proj.ip(name, DEFAULT) for name, _ in TARGETS}
            result = Net(proj, ips)
            # The allowed-destination proxy needs an address known only now.
            allowed = production_config(
                {"SSRF_ALLOWED_DESTINATIONS": f"{ips['web']}/32, redis 192.0.2.1"}
            )
            services["ssrf_proxy_allowed"] = _proxy(allowed, lab)
            proj.up(document, "ssrf_proxy_allowed")
            for proxy in ("ssrf_proxy", "ssrf_proxy_sealed", "ssrf_proxy_allowed"):
                wait_for(
                    lambda proxy=proxy: _require(result.can_connect("sandbox", proxy, 3128)),
                    f"{proxy} does not accept on 3128",
                    lambda proxy=proxy: proj.logs(proxy),
                )
            yield result
    finally:
        labels.remove_session(sid)
        assert labels.count_labelled(session=sid) == {"containers": 0, "networks": 0, "volumes": 0}


def _require(ok: bool) -> None:
    if not ok:
        raise AssertionError("not yet")


@pytest.mark.parametrize(("target", "port"), TARGETS)
def test_sandbox_network_reaches_nothing_on_the_default_network(
    net: Net, target: str, port: int
) -> None:
    ip = net.ips[target]
    # positive control: the target answers, by name and by address, on the default network
    assert net.can_connect("api", target, port)
    assert net.can_connect("api", ip, port)
    # from the internal network: neither its name resolves nor its address routes
    assert not net.can_connect("sandbox", target, port)
    assert not net.can_connect("sandbox", ip, port)
    rc, out = net.fetch("sandbox", f"http://{ip}:{port}/", limit=4)
    assert rc != 0 and target not in out


def test_sandbox_reaches_the_proxy(net: Net) -> None:
    assert net.can_connect("sandbox", "ssrf_proxy", 3128)


@pytest.mark.parametrize(("target", "port"), TARGETS)
def test_proxy_refuses_project_containers_by_default(net: Net, target: str, port: int) -> None:
    for host in (target, net.ips[target]):
        rc, out = net.fetch("sandbox", f"http://{host}:{port}/", proxy="ssrf_proxy:3128")
        assert rc != 0 and "403 Forbidden" in out, (host, out)
        assert f"{target}:/" not in out
        # the backend's requests go through the same policy
        rc, out = net.fetch("api", f"http://{host}:{port}/", proxy="ssrf_proxy:3128")
        assert rc != 0 and "403 Forbidden" in out, (host, out)


BLOCKED = (
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "127.0.0.1",
    "localhost",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "0.0.0.0",
    "[::1]",
    "[fd00::1]",
    "[fe80::1]",
    "[::ffff:169.254.169.254]",  # IPv4-mapped
)


@pytest.mark.parametrize("host", BLOCKED)
def test_proxy_refuses_private_loopback_and_link_local_ranges(net: Net, host: str) -> None:
    rc, out = net.fetch(
        "sandbox", f"http://{host}/latest/meta-data/", proxy="ssrf_proxy_sealed:3128"
    )
    assert rc != 0 and "403 Forbidden" in out, out


def test_listed_destinations_are_allowed(net: Net) -> None:
    proxy = "ssrf_proxy_allowed:3128"
    web = net.ips["web"]
    # listed by address (a /32), so also by a name resolving to it; redis listed by name
    cases = ((f"http://{web}:3000/", "web:/"), ("http://web:3000/", "web:/"))
    for url, body in (*cases, ("http://redis:6379/", "redis:/")):
        assert net.fetch("sandbox", url, proxy=proxy) == (0, body), url
    # not listed: still refused
    for url in ("http://db_postgres:5432/", f"http://{net.ips['db_postgres']}:5432/"):
        rc, out = net.fetch("sandbox", url, proxy=proxy)
        assert rc != 0 and "403 Forbidden" in out, (url, out)
    # the default proxy still refuses what this one allows
    rc, out = net.fetch("sandbox", "http://web:3000/", proxy="ssrf_proxy:3128")
    assert "403 Forbidden" in out


def test_reverse_proxy_port_reaches_the_sandbox_only(net: Net) -> None:
    # the api (default network) reaches the sandbox (internal network) through the proxy
    rc, out = net.fetch("api", "http://ssrf_proxy:8194/health")
    assert (rc, out) == (0, SANDBOX_BODY)
    # a Host naming another container still lands on the sandbox peer, never elsewhere
    argv = ["timeout", "15", "wget", "-q", "-O", "-", "--header", "Host: web:3000"]
    rc, out = net.project.exec("api", [*argv, "http://ssrf_proxy:8194/health"])
    assert (rc, out) == (0, SANDBOX_BODY)
    rc, out = net.project.exec("api", [*argv, "http://ssrf_proxy:8194/"])
    assert "web:/" not in out
    # and the forward port never uses the sandbox peer: an allowed fetch gets its own target
    rc, out = net.fetch("sandbox", "http://web:3000/", proxy="ssrf_proxy_allowed:3128")
    assert (rc, out) == (0, "web:/")


def test_invalid_allowed_destination_stops_the_proxy(net: Net, tmp_path: Path) -> None:
    from stack.engine import labels as labels_mod

    proj = net.project
    sid = proj.container("api").labels[labels_mod.LABEL_SESSION]
    lab = labels_mod.session_labels(sid, purpose="test")
    config = production_config({"SSRF_ALLOWED_DESTINATIONS": "10.0.0.5 http://x/"})
    single = Project(f"{proj.name}-bad", tmp_path)
    document = {
        "services": {"ssrf_proxy": _proxy(config, lab)},
        "networks": labelled_networks(config, lab),
    }
    try:
        single.up(document)
        ctr = single.container("ssrf_proxy")
        assert ctr.wait(timeout=30)["StatusCode"] != 0
        log = ctr.logs().decode(errors="replace")
        assert "SSRF_ALLOWED_DESTINATIONS: 'http://x/' is neither" in log, log
    finally:
        single.compose("down", "-v", "-t", "1", check=False)
