"""Store catalog, selection and the shared adapter checks (no engine needed)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import pytest

from stack.errors import NotSupported, StoreError
from stack.images.catalog import IMAGES
from stack.stores import catalog
from stack.stores.contract import BaseStore, Document, Hit, VectorStore, batched, keep

PROTOCOL_METHODS = [
    name
    for name, _ in inspect.getmembers(VectorStore, predicate=inspect.isfunction)
    if not name.startswith("_")
] + ["from_endpoint"]


def test_stores_constant_covers_the_issue_list() -> None:
    assert set(catalog.STORES) >= {
        "pgvector",
        "chroma",
        "milvus",
        "qdrant",
        "weaviate",
        "elasticsearch",
        "opensearch",
    }
    assert catalog.REQUIRED == ("pgvector", "chroma", "milvus")


@pytest.mark.parametrize("name", catalog.STORES)
def test_spec_points_at_pinned_image_module_and_adapter(name: str) -> None:
    spec = catalog.get(name)
    entry = IMAGES[spec.image]
    assert ":" in entry.ref and not entry.ref.endswith(":latest")
    if spec.required:
        assert entry.standin, f"required store {name} needs an offline stand-in"
    module, _, cls = spec.module.partition(":")
    assert module.startswith("testcontainers.community.")
    assert importlib.util.find_spec(module) is not None  # no import: may need a client lib
    assert cls[0].isupper()
    adapter = spec.adapter_class()
    assert adapter.store == name
    missing = [m for m in PROTOCOL_METHODS if not callable(getattr(adapter, m, None))]
    assert not missing, f"{name} adapter lacks {missing}"
    assert spec.wait.describe().endswith("then a real query")


# ------------------------------------------- ports and health paths: the template's hints


def production_config(template_text: str) -> dict:
    from stack.compose import render as r
    from stack.compose.validate import config
    from stack.env.parse import load_definitions
    from stack.paths import COMPOSE_DIR

    text = r.render(template_text, r.shared_from_definitions(load_definitions()))
    return config(text, project_dir=COMPOSE_DIR, profiles=("*",))


def healthcheck_argv(doc: dict, service: str) -> list[str]:
    return [t.replace("$$", "$") for t in doc["services"][service]["healthcheck"]["test"]]


def assert_agree(spec: catalog.StoreSpec, all_hints, doc: dict, template_text: str) -> None:
    """The vdb tests, the dev middleware and the production healthcheck agree."""
    from stack.dev.plan import raw_template

    hint = spec.hint(all_hints)
    wait = spec.wait_for(all_hints)
    port = spec._port(all_hints)
    # dev publishes the same container port the vdb tests map
    dev_hint = raw_template(template_text)["services"][hint.service]["x-stack-dev"]
    assert int(dev_hint["port"]) == port
    # the production healthcheck asks the same port (and path) as the vdb wait
    argv = healthcheck_argv(doc, hint.service)
    assert str(wait.port) in argv, argv
    if spec.probe == "http":
        assert wait.path in argv, argv
    if spec.probe == "exec":
        assert argv[argv.index("-p") + 1] == str(wait.port) and wait.command[0] in argv
    # and the template runs exactly the catalog's pinned image
    assert hint.image == IMAGES[spec.image].ref


@pytest.fixture(scope="module")
def template_text() -> str:
    from stack.paths import TEMPLATE

    return TEMPLATE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def production_doc(template_text: str) -> dict:
    return production_config(template_text)


@pytest.mark.parametrize("name", catalog.STORES)
def test_vdb_dev_and_production_use_one_port_and_health_path(
    name, template_text, production_doc
) -> None:
    from stack.compose.hints import hints

    assert_agree(catalog.get(name), hints(template_text), production_doc, template_text)


def test_qdrant_probes_readiness_everywhere(production_doc) -> None:
    spec = catalog.get("qdrant")
    assert spec.wait.path == "/readyz"
    assert "/readyz" in healthcheck_argv(production_doc, "qdrant")


@pytest.mark.parametrize("name", catalog.STORES)
def test_changing_the_hint_moves_every_consumer(name, template_text) -> None:
    """One edit of the template's hint moves dev, the vdb tests and the healthcheck."""
    import re

    from stack.compose.hints import hints

    spec = catalog.get(name)
    service = spec.hint().service
    probe_key = "health-port" if spec.hint().health_port else "port"
    anchor = re.compile(rf'({probe_key}: &[\w-]+ )"{spec.wait.port}"')
    section = template_text.split(f"\n  {service}:\n", 1)[1].split("\n  # ", 1)[0]
    assert len(anchor.findall(section)) == 1, f"{service}: the probe port is not one anchor"
    edited = anchor.sub(r'\g<1>"23456"', section)
    if spec.probe == "http":
        path = re.compile(rf"(health: &[\w-]+ ){re.escape(spec.wait.path)}(?=\s)")
        assert len(path.findall(edited)) == 1, f"{service}: the health path is not one anchor"
        edited = path.sub(r"\g<1>/moved/ready", edited)
    moved = template_text.replace(section, edited)
    all_hints = hints(moved)
    doc = production_config(moved)
    wait = spec.wait_for(all_hints)
    assert wait.port == 23456
    if spec.probe == "http":
        assert wait.path == "/moved/ready"
        assert "/moved/ready" in healthcheck_argv(doc, service)
    assert "23456" in healthcheck_argv(doc, service)
    assert_agree(spec, all_hints, doc, moved)


def test_select_parses_commas_lists_and_keeps_catalog_order() -> None:
    assert catalog.select(None) == list(catalog.STORES)
    assert catalog.select("") == list(catalog.STORES)
    assert catalog.select("milvus,pgvector") == ["pgvector", "milvus"]
    assert catalog.select(["chroma", "pgvector,milvus"]) == ["pgvector", "chroma", "milvus"]


def test_select_reports_every_unknown_name_with_the_fix() -> None:
    with pytest.raises(StoreError) as err:
        catalog.select("pgvector,nosuch,other")
    text = str(err.value)
    assert "nosuch" in text and "other" in text and "pgvector, chroma" in text


class _Fake(BaseStore):
    store = "fake"


def test_dimension_mismatch_messages_name_collection_and_sizes() -> None:
    s = _Fake()
    with pytest.raises(StoreError, match="no collection bound"):
        s._check_vector([1.0], "q")
    s._bind("coll", 3, None)
    with pytest.raises(StoreError, match=r"'coll'.*3-dimensional.*document 'x' has 2"):
        s._check_docs([Document("x", "t", [1.0, 2.0])])
    with pytest.raises(StoreError, match="exists with dimension 3, not 4"):
        _Fake()._bind("coll", 4, 3)
    assert issubclass(NotSupported, StoreError)


def test_batched_and_keep() -> None:
    assert [list(b) for b in batched([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    with pytest.raises(StoreError):
        list(batched([1], 0))
    hits = [Hit("a", "", 0.2), Hit("b", "", 0.9), Hit("c", "", 0.5)]
    assert [h.id for h in keep(hits, 2, 0.3)] == ["b", "c"]
