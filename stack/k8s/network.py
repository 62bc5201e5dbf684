"""Services, the Ingress that replaces nginx, and the sandbox's NetworkPolicy.

Ports: a Service port for every port the compose services use to reach each other -- a
``host:port`` (or URL) naming a service in any service's environment, a ``*_HOST``
naming a service with its ``*_PORT``, nginx's upstreams, and the template's
``x-stack-dev`` ports.  Routes: nginx's ``location``s and their upstreams, read from
``compose/nginx/templates/default.conf.template``; body size and timeouts from the
``NGINX_*`` variables, as ingress-nginx annotations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from stack.k8s.names import k8s_name

NGINX_CONF = "nginx/templates/default.conf.template"
TLS_SECRET = "stack-tls"
_UPSTREAM = re.compile(r"set \$(\w+) +https?://([\w.-]+):(\d+);")
_LOCATION = re.compile(r"location +(\S+) *\{[^}]*?proxy_pass +\$(\w+);", re.S)
_HOSTPORT = re.compile(r"(?:^|[,@/])([A-Za-z0-9_.-]+):(\d{1,5})(?=$|[/,?])")


def routes(conf: str) -> list[tuple[str, str, int]]:
    """``(path, service, port)`` of every nginx location that proxies to an upstream."""
    ups = {m.group(1): (m.group(2), int(m.group(3))) for m in _UPSTREAM.finditer(conf)}
    return [(m.group(1), *ups[m.group(2)]) for m in _LOCATION.finditer(conf) if m.group(2) in ups]


def used_ports(
    envs: Mapping[str, Mapping[str, str]],
    services: Iterable[str],
    conf: str,
    hint_ports: Mapping[str, Iterable[int]],
) -> dict[str, list[int]]:
    """service -> the ports other services (or nginx, or the dev hints) use on it."""
    names = set(services)
    found: dict[str, set[int]] = {
        s: set(hint_ports.get(s, ())) & set(range(1, 65536)) for s in names
    }
    for env in envs.values():
        for key, value in env.items():
            for m in _HOSTPORT.finditer(value or ""):
                if m.group(1) in names:
                    found[m.group(1)].add(int(m.group(2)))
            if key.endswith("_HOST") and value in names:
                companion = env.get(key[: -len("HOST")] + "PORT", "")
                if companion.isdigit():
                    found[value].add(int(companion))
    for _path, svc, number in routes(conf):
        if svc in names:
            found[svc].add(number)
    return {s: sorted(p) for s, p in found.items() if p}


def labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": k8s_name(service), "app.kubernetes.io/part-of": "stack"}


def service(name: str, ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": k8s_name(name), "labels": labels(name)},
        "spec": {
            "selector": labels(name),
            "ports": [
                {"name": f"p{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in ports
            ],
        },
    }


def _seconds(value: str) -> str:
    m = re.fullmatch(r"(\d+)(s?)", value.strip())
    if m:
        return m.group(1)
    m = re.fullmatch(r"(\d+)m", value.strip())
    return str(int(m.group(1)) * 60) if m else "60"


def ingress(conf: str, values: Mapping[str, str], selected: Iterable[str]) -> dict[str, Any]:
    """The Ingress with nginx's routes (to the selected services only)."""
    chosen = set(selected)
    paths = [
        {
            "path": path.rstrip("/") or "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": k8s_name(svc), "port": {"number": port}}},
        }
        for path, svc, port in routes(conf)
        if svc in chosen
    ]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    host = values.get("NGINX_SERVER_NAME", "_")
    if host and host != "_":
        rule["host"] = host
    spec: dict[str, Any] = {"ingressClassName": values.get("K8S_INGRESS_CLASS", "nginx")}
    if values.get("NGINX_HTTPS_ENABLED", "").lower() == "true":
        # nginx's own certificate files become a TLS Secret (kubectl create secret tls, or
        # cert-manager through an annotation in an overlay: it replaces certbot).
        spec["tls"] = [
            {**({"hosts": [rule["host"]]} if "host" in rule else {}), "secretName": TLS_SECRET}
        ]
    spec["rules"] = [rule]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "stack",
            "labels": {"app.kubernetes.io/part-of": "stack"},
            "annotations": {
                "nginx.ingress.kubernetes.io/proxy-body-size": values.get(
                    "NGINX_CLIENT_MAX_BODY_SIZE", "100M"
                ),
                "nginx.ingress.kubernetes.io/proxy-read-timeout": _seconds(
                    values.get("NGINX_PROXY_READ_TIMEOUT", "3600s")
                ),
                "nginx.ingress.kubernetes.io/proxy-send-timeout": _seconds(
                    values.get("NGINX_PROXY_SEND_TIMEOUT", "3600s")
                ),
            },
        },
        "spec": spec,
    }


def sandbox_policy(proxy_ports: list[int]) -> dict[str, Any]:
    """Egress of the sandbox: only to ssrf_proxy (its ports) and to the cluster DNS."""
    dns = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "sandbox-egress", "labels": {"app.kubernetes.io/part-of": "stack"}},
        "spec": {
            "podSelector": {"matchLabels": labels("sandbox")},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": labels("ssrf_proxy")}}],
                    "ports": [{"port": p, "protocol": "TCP"} for p in proxy_ports],
                },
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": dns,
                },
            ],
        },
    }
