"""env.doc: golden output, idempotence, and docs/ENV.md in sync with env/."""

from __future__ import annotations

from pathlib import Path

from stack.env.doc import cell, code, render
from stack.env.parse import load_definitions

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
STRICT = HERE / "data" / "strict" / "definitions.env"
GOLDEN = HERE / "golden" / "env_doc_strict.md"
SOURCES = ["tests/unit/data/strict/definitions.env"]


def test_golden_and_idempotent():
    defs = load_definitions([STRICT])
    first = render(defs, sources=SOURCES)
    assert first == GOLDEN.read_text(encoding="utf-8")
    assert render(load_definitions([STRICT]), sources=SOURCES) == first
    assert "Regenerate:     invoke env.doc\n" in first
    assert "Check drift:    invoke env.doc --check\n" in first


def test_docs_env_md_is_up_to_date():
    """The committed reference equals a fresh render (fix: `invoke env.doc`)."""
    defs = load_definitions()
    fresh = render(defs, sources=["env/definitions.env"])
    assert (ROOT / "docs" / "ENV.md").read_text(encoding="utf-8") == fresh
    for var in defs:
        assert f"| `{var.name}` |" in fresh


def test_cells_escape_what_markdown_would_eat():
    assert cell("a|b <user> `x|<y>`") == "a\\|b &lt;user&gt; `x\\|<y>`"
    assert code("") == "*(empty)*"
    assert code("a`b") == "`` a`b ``"
    assert code("x|y") == "`x\\|y`"
