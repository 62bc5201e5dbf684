"""The generated-file protocol (stack.generated), on disk: header, digest, bytes, backups."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack import generated as g
from stack.errors import WriteError

BODY = "services:\n  api:\n    image: x\n"


def make(body: str = BODY, **kw) -> str:
    kw.setdefault("command", "invoke thing")
    kw.setdefault("sources", ["src/a", "src/b"])
    return g.render(body, **kw)


def target(path: Path, body: str = BODY, **kw) -> g.Target:
    return g.Target(path, make(body, **kw), path.name, "invoke thing")


# ----------------------------------------------------------------------------- render


def test_header_names_command_sources_and_digest():
    text = make()
    head, body = text.split("\n\n", 1)
    assert body == BODY
    assert head.splitlines() == [
        "# " + g.RULE,
        "# GENERATED FILE - DO NOT EDIT: change the sources below and regenerate.",
        "# Generated from: src/a, src/b",
        "# Regenerate:     invoke thing",
        "# Check drift:    invoke thing --check",
        f"# Digest:         sha256:{g.digest(BODY)}",
        "# " + g.RULE,
    ]
    assert make() == text  # deterministic


def test_html_style_wraps_the_header_in_a_comment():
    text = make("# Title\n", style=g.HTML)
    assert text.startswith("<!--\n" + g.RULE + "\n")
    assert "\n-->\n\n# Title\n" in text
    assert g.state(text.encode()) is g.State.OURS


def test_crlf_body_gets_a_crlf_header():
    body = BODY.replace("\n", "\r\n")
    text = make(body)
    assert text.count("\n") == text.count("\r\n")
    assert text.endswith(body)
    assert g.state(text.encode()) is g.State.OURS


# ----------------------------------------------------------------------------- state


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_state_of_ours_edited_foreign_absent(newline):
    text = make(BODY.replace("\n", newline))
    assert g.state(text.encode()) is g.State.OURS
    assert g.state(text.replace("image: x", "image: y").encode()) is g.State.EDITED
    assert g.state(BODY.encode()) is g.State.FOREIGN
    assert g.state(b"\xff\xfe not utf-8") is g.State.FOREIGN
    assert g.state(None) is g.State.ABSENT
    # Removing the header is not a way to slip an edit past the protocol.
    assert g.state(text.split(newline + newline, 1)[1].encode()) is g.State.FOREIGN


def test_line_ending_conversion_alone_is_not_a_hand_edit():
    text = make()
    assert g.state(text.replace("\n", "\r\n").encode()) is g.State.OURS
    crlf = make(BODY.replace("\n", "\r\n"))
    assert g.state(crlf.replace("\r\n", "\n").encode()) is g.State.OURS


# ----------------------------------------------------------------------------- one file


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_write_then_check_on_disk(tmp_path, newline):
    out = tmp_path / "out.yaml"
    t = target(out, BODY.replace("\n", newline))
    first = g.check(t)
    assert not first.up_to_date and first.state is g.State.ABSENT
    assert first.problem == "out.yaml does not exist"
    assert g.write(t) == g.Written(True)
    assert out.read_bytes() == t.text.encode()  # no newline translation on the way
    assert g.check(t).up_to_date
    assert g.write(t) == g.Written(False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]


def test_stale_but_untouched_file_is_replaced_without_backup(tmp_path):
    out = tmp_path / "out.yaml"
    g.write(target(out, BODY))
    newer = target(out, BODY + "  web: {}\n")
    result = g.check(newer)
    assert result.state is g.State.OURS and result.problem == "out.yaml is stale"
    assert "+  web: {}" in result.diff
    assert g.write(newer) == g.Written(True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml"]


def test_hand_edit_is_reported_and_saved(tmp_path):
    out = tmp_path / "out.yaml"
    t = target(out)
    g.write(t)
    out.write_bytes(out.read_bytes().replace(b"image: x", b"image: mine"))
    result = g.check(t)
    assert result.state is g.State.EDITED and "edited by hand" in result.problem
    assert "-    image: mine\n+    image: x\n" in result.diff
    assert out.read_bytes().count(b"mine") == 1  # check writes nothing
    written = g.write(t)
    assert written.changed and written.backup == tmp_path / "out.yaml.bak"
    assert "edited by hand" in written.reason
    assert b"image: mine" in written.backup.read_bytes()
    assert out.read_text() == t.text


def test_foreign_file_is_saved_but_an_empty_one_is_not(tmp_path):
    out = tmp_path / "out.yaml"
    out.write_text("mine: true\n")
    t = target(out)
    assert g.check(t).state is g.State.FOREIGN
    written = g.write(t)
    assert written.backup is not None and "not made by this generator" in written.reason
    out.write_text("")
    assert g.write(t).backup is None


def test_line_ending_only_difference_is_explained(tmp_path):
    out = tmp_path / "out.yaml"
    t = target(out)
    out.write_bytes(t.text.replace("\n", "\r\n").encode())
    result = g.check(t)
    assert not result.up_to_date and result.state is g.State.OURS
    assert result.diff == "out.yaml: only the line endings differ (CRLF on disk, LF expected)\n"
    assert g.write(t) == g.Written(True)  # not a hand edit: no backup
    assert out.read_bytes() == t.text.encode()


def test_unreadable_path_is_a_write_error(tmp_path):
    with pytest.raises(WriteError, match="cannot read"):
        g.check(g.Target(tmp_path, "x"))


# ----------------------------------------------------------------------------- a directory


def test_owned_directory_reports_and_removes_extra_files(tmp_path):
    out = tmp_path / "k8s"
    owned = g.Owned(out, "*.yaml", "k8s")
    files = [target(out / "api.yaml"), target(out / "sub" / "worker.yaml", BODY + "# w\n")]
    assert g.check_many(files, owned).problems() == [
        "api.yaml does not exist",
        "worker.yaml does not exist",
    ]
    with pytest.raises(WriteError, match="not a directory"):
        g.write_many(files, owned)  # the owned directory itself is never made for a typo
    out.mkdir()
    g.write_many(files, owned)  # makes sub/ inside it
    assert g.check_many(files, owned).up_to_date
    # A file the generator no longer makes, and one a person put there.
    g.write(target(out / "old.yaml"))
    (out / "mine.yaml").write_text("kind: Mine\n")
    (out / "notes.txt").write_text("not matched by the pattern\n")
    result = g.check_many(files, owned)
    assert not result.up_to_date
    assert result.problems() == [
        "k8s/mine.yaml is not generated any more (extra file)",
        "k8s/old.yaml is not generated any more (extra file)",
    ]
    done = g.write_many(files, owned)
    assert [(p.name, b.name if b else None) for p, b in done.removed] == [
        ("mine.yaml", "mine.yaml.bak"),
        ("old.yaml", None),
    ]
    assert not any(w.changed for _t, w in done.written)
    assert g.check_many(files, owned).up_to_date
    assert (out / "mine.yaml.bak").read_text() == "kind: Mine\n"
    assert (out / "notes.txt").exists()
    # With every file owned, backups are still never taken for extra files.
    everything = g.Owned(out, "*", "k8s")
    (out / "notes.txt").unlink()
    assert g.check_many(files, everything).up_to_date
    assert g.write_many(files, everything).removed == []
