"""env.doc: golden output, idempotence, and docs/ENV.md in sync with env/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stack import generated
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


def test_header_is_an_html_comment_with_a_checked_digest():
    text = render(load_definitions([STRICT]), sources=SOURCES)
    assert text.startswith("<!--\n")
    assert generated.state(text.encode()) is generated.State.OURS
    edited = text.replace("# Environment variables", "# My variables")
    assert generated.state(edited.encode()) is generated.State.EDITED


def env_doc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "env.doc", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_hand_edit_is_detected_checked_and_saved(tmp_path):
    out = tmp_path / "ENV.md"
    first = env_doc("--output", str(out))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("ENV.md written")
    assert env_doc("--check", "--output", str(out)).returncode == 0
    fresh = out.read_text()
    out.write_text(fresh.replace("# Environment variables", "# My notes"))
    check = env_doc("--check", "--output", str(out))
    assert check.returncode == 1
    assert "-# My notes\n+# Environment variables\n" in check.stdout
    assert "edited by hand" in check.stderr and "Traceback" not in check.stderr
    assert "# My notes" in out.read_text()  # --check writes nothing
    again = env_doc("--output", str(out))
    assert again.returncode == 0, again.stderr
    assert "edited by hand" in again.stdout and "ENV.md.bak" in again.stdout
    assert "# My notes" in (tmp_path / "ENV.md.bak").read_text()
    assert out.read_text() == fresh
    last = env_doc("--output", str(out))
    assert last.stdout.strip().endswith("ENV.md unchanged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ENV.md", "ENV.md.bak"]


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
