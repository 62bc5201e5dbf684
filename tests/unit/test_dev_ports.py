"""Test runs give every dev service a free host port, derived from the template's hints."""

from __future__ import annotations

from stack.compose.hints import template_hints
from stack.dev.ports import dev_port_vars, free_dev_ports


def test_every_hinted_expose_variable_gets_a_free_port() -> None:
    exposed = {h.expose for h in template_hints().values() if h.expose}
    assert set(dev_port_vars()) == exposed
    assert {"EXPOSE_POSTGRES_PORT", "EXPOSE_PGVECTOR_PORT", "EXPOSE_MILVUS_PORT"} <= exposed
    ports = free_dev_ports("DIFY_PORT")
    assert set(ports) == exposed | {"DIFY_PORT"}
    assert len(set(ports.values())) == len(ports)  # distinct
    assert all(1024 <= int(p) <= 65535 for p in ports.values())
