"""The one mapping from compose service names to Kubernetes names (DNS-1123 labels).

Compose allows ``_`` and upper case in service names (``db_postgres``); a Kubernetes
object name and a Service's DNS name must be a DNS-1123 label: lower case letters, digits
and ``-``, starting with a letter (so it is also a valid Service name), at most 63
characters.  :func:`k8s_name` lowercases and turns every other character into ``-``.

The same mapping is applied to every value that names a service as a host, so that
``DB_HOST=db_postgres`` becomes ``db-postgres`` and ``http://ssrf_proxy:3128`` becomes
``http://ssrf-proxy:3128`` (:func:`map_value`): a value that *is* a service name, a
``name:port``, and the host of a ``scheme://[user@]host[:port][/...]`` URL, also inside a
comma list.  Nothing else in a value is touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

DNS1123_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_LABEL = 63


def k8s_name(service: str) -> str:
    """``db_postgres`` -> ``db-postgres``; a name that stays invalid raises ``ValueError``."""
    name = re.sub(r"[^a-z0-9-]", "-", service.lower()).strip("-")
    if not is_label(name):
        raise ValueError(f"service {service!r} has no valid Kubernetes name (got {name!r})")
    return name


def is_label(name: str) -> bool:
    """Whether ``name`` is a DNS-1123 label that starts with a letter."""
    return len(name) <= MAX_LABEL and bool(DNS1123_LABEL.match(name))


def renames(services: Iterable[str]) -> dict[str, str]:
    """The services whose Kubernetes name differs from their compose name."""
    return {s: k8s_name(s) for s in services if k8s_name(s) != s}


def _host_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    alts = sorted(names, key=len, reverse=True)
    if not alts:
        return None
    group = "|".join(re.escape(n) for n in alts)
    # start of the value / an item of a comma list / after `scheme://` or `user@`,
    # and followed by the end, a port, a path or the next item.
    return re.compile(rf"(?:(?<=^)|(?<=,)|(?<=://)|(?<=@))({group})(?=$|[:/,?])")


def map_value(value: str, mapping: Mapping[str, str]) -> str:
    """``value`` with every host that names a renamed service replaced by its k8s name."""
    pattern = _host_pattern(mapping)
    if pattern is None or not value:
        return value
    return pattern.sub(lambda m: mapping[m.group(1)], value)


def map_env(env: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, str]:
    """:func:`map_value` applied to every value of ``env``."""
    return {k: map_value(v, mapping) for k, v in env.items()}
