"""The generated-file protocol, shared by every generator (``release.compose``, ``env.doc``).

A generated file is a header, one blank line, and a body::

    # ==================================================================
    # GENERATED FILE - DO NOT EDIT: change the sources below and regenerate.
    # Generated from: compose/docker-compose-template.yaml, env/
    # Regenerate:     invoke release.compose
    # Check drift:    invoke release.compose --check
    # Digest:         sha256:<16 hex digits of the body's sha256>
    # ==================================================================

    <body>

* :func:`render` puts the header on a body (pure ``str -> str``; the header uses the
  body's line endings and the comment syntax of a :class:`Style`).
* :func:`state` tells from a file's *bytes* whether it is ours and untouched, ours but
  edited by hand (the digest no longer matches the body), or not ours at all.
* :func:`check` compares bytes (never universal-newline text, so a CRLF file is not
  "stale" right after it was written) and explains any difference with a unified diff.
* :func:`write` writes atomically (:func:`stack.fsutil.write_atomic`) only when the
  bytes differ, first saving a hand-edited or foreign file as ``<name>.bak[.N]``.
* :func:`check_many` / :func:`write_many` do the same for a set of files, optionally
  owning a whole directory: files there that the set no longer contains are reported
  as *extra* by ``check_many`` and removed by ``write_many`` (hand-made or edited ones
  are backed up first).
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stack.errors import WriteError
from stack.fsutil import backup, unified_diff, write_atomic

RULE = "=" * 66
DIGEST_LEN = 16
#: How far into a file the header is looked for.
HEAD_LIMIT = 4000

_DIGEST_RE = re.compile(r"^[#/;!* -]*Digest: +sha256:([0-9a-f]{16})\r?$", re.M)
_BLANK_RE = re.compile(r"\r?\n\r?\n")
_BACKUP_RE = re.compile(r"\.bak(\.\d+)?$")  # stack.fsutil.backup's names
_TEMP_RE = re.compile(r"^\..+\.tmp$")  # stack.fsutil.write_atomic's temp files


@dataclass(frozen=True)
class Style:
    """The comment syntax of a header: a prefix per line, or lines wrapped in a block."""

    prefix: str = "# "
    open: str = ""
    close: str = ""


HASH = Style("# ")
HTML = Style("", "<!--", "-->")


class State(enum.Enum):
    """What a file on disk is, as far as the protocol can tell."""

    ABSENT = "absent"
    OURS = "ours"  # carries a header and its digest matches the body
    EDITED = "edited"  # carries a header, but the body changed since it was generated
    FOREIGN = "foreign"  # no header: not made by a generator (or the header was removed)


# ----------------------------------------------------------------------------- render


def digest(body: str) -> str:
    """Short content digest of the body (everything below the header)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:DIGEST_LEN]


def newline_of(text: str) -> str:
    """The line ending of ``text``'s first line (``\\n`` when it has none)."""
    end = text.find("\n")
    return "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"


def header(
    command: str,
    sources: Sequence[str],
    body_digest: str,
    *,
    style: Style = HASH,
    newline: str = "\n",
) -> str:
    """The header lines (ending with a line ending, no blank line)."""
    lines = [
        RULE,
        "GENERATED FILE - DO NOT EDIT: change the sources below and regenerate.",
        f"Generated from: {', '.join(sources)}",
        f"Regenerate:     {command}",
        f"Check drift:    {command} --check",
        f"Digest:         sha256:{body_digest}",
        RULE,
    ]
    out = [style.prefix + line for line in lines]
    if style.open:
        out.insert(0, style.open)
    if style.close:
        out.append(style.close)
    return newline.join(out) + newline


def render(
    body: str,
    *,
    command: str,
    sources: Sequence[str],
    style: Style = HASH,
    newline: str | None = None,
) -> str:
    """Header, a blank line, then ``body`` unchanged (line endings follow the body)."""
    nl = newline or newline_of(body)
    return header(command, sources, digest(body), style=style, newline=nl) + nl + body


# ----------------------------------------------------------------------------- inspect


def split(text: str) -> tuple[str, str] | None:
    """``(digest, body)`` of a generated text, or ``None`` when it has no header."""
    match = _DIGEST_RE.search(text[:HEAD_LIMIT])
    if not match:
        return None
    blank = _BLANK_RE.search(text, match.end())
    if not blank:
        return None
    return match.group(1), text[blank.end() :]


def state(data: bytes | None) -> State:
    """Classify a file's bytes (``None``: the file does not exist).

    A body whose only change is its line endings (a CRLF checkout of an LF file, or
    the reverse) is still :attr:`State.OURS`: nothing a person wrote would be lost.
    """
    if data is None:
        return State.ABSENT
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return State.FOREIGN
    parts = split(text)
    if parts is None:
        return State.FOREIGN
    expected, body = parts
    lf = body.replace("\r\n", "\n")
    for candidate in (body, lf, lf.replace("\n", "\r\n")):
        if digest(candidate) == expected:
            return State.OURS
    return State.EDITED


def read(path: Path) -> bytes | None:
    """The bytes of ``path`` (``None`` when it does not exist)."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WriteError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint=f"make {path} a readable file, or choose another path",
        ) from None


# ----------------------------------------------------------------------------- one file


@dataclass(frozen=True)
class Target:
    """One file a generator produces: where, its full text, and how users see it."""

    path: Path
    text: str
    shown: str = ""
    command: str = ""

    @property
    def name(self) -> str:
        return self.shown or str(self.path)

    @property
    def data(self) -> bytes:
        # surrogatepass: a text UTF-8 cannot carry never equals a file; write_atomic
        # then refuses it with a WriteError naming the character.
        return self.text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Check:
    """The result of :func:`check` for one file."""

    target: Target
    state: State
    up_to_date: bool
    diff: str = ""

    @property
    def problem(self) -> str:
        """One line saying what is wrong (``''`` when up to date)."""
        if self.up_to_date:
            return ""
        name = self.target.name
        if self.state is State.ABSENT:
            return f"{name} does not exist"
        if self.state is State.EDITED:
            return f"{name} was edited by hand (its digest does not match its content)"
        if self.state is State.FOREIGN:
            return f"{name} was not made by this generator (no generated-file header)"
        return f"{name} is stale"


def explain(old: bytes | None, new: str, name: str) -> str:
    """A unified diff from the file's bytes to ``new`` (``''`` when equal)."""
    if old is None:
        old_text = ""
    else:
        try:
            old_text = old.decode("utf-8")
        except UnicodeDecodeError:
            return f"{name}: the file on disk is not UTF-8 text\n"
    if old_text == new:
        return ""
    if old_text.replace("\r\n", "\n") == new.replace("\r\n", "\n"):
        ours, theirs = ("CRLF", "LF") if "\r\n" in new else ("LF", "CRLF")
        return f"{name}: only the line endings differ ({theirs} on disk, {ours} expected)\n"
    return unified_diff(old_text, new, f"{name} (on disk)", f"{name} (fresh render)")


def check(target: Target) -> Check:
    """Compare the file on disk with ``target`` byte for byte; writes nothing."""
    data = read(target.path)
    if data == target.data:
        return Check(target, State.OURS, True)
    return Check(target, state(data), False, explain(data, target.text, target.name))


@dataclass(frozen=True)
class Written:
    """What :func:`write` did."""

    changed: bool
    backup: Path | None = None
    reason: str = ""


def write(target: Target, *, parents: bool = False) -> Written:
    """Write ``target`` atomically when its bytes differ from the file on disk.

    A file that was edited by hand since it was generated, or that no generator made,
    is first copied to a backup beside it, so nothing a user wrote is lost.  ``parents``
    creates missing directories (only inside a directory the generator owns).
    """
    data = read(target.path)
    if data == target.data:
        return Written(False)
    saved, reason = _save_if_theirs(target.path, data)
    write_atomic(target.path, target.text, parents=parents)
    return Written(True, saved, reason)


def _save_if_theirs(path: Path, data: bytes | None) -> tuple[Path | None, str]:
    found = state(data)
    if found is State.EDITED:
        reason = "the file on disk was edited by hand after it was generated"
    elif found is State.FOREIGN and data is not None and data.strip():
        reason = "the file on disk was not made by this generator"
    else:
        return None, ""
    return backup(path), reason


# ----------------------------------------------------------------------------- many files


@dataclass(frozen=True)
class Owned:
    """A directory a generator owns: every file matching ``pattern`` in it is generated."""

    path: Path
    pattern: str = "*"
    shown: str = ""

    def files(self) -> list[Path]:
        """The files in the directory that match ``pattern`` (never our backups/temps)."""
        if not self.path.is_dir():
            return []
        return sorted(
            p
            for p in self.path.rglob(self.pattern)
            if p.is_file() and not _BACKUP_RE.search(p.name) and not _TEMP_RE.match(p.name)
        )

    def display(self, path: Path) -> str:
        rel = path.relative_to(self.path).as_posix()
        return f"{self.shown.rstrip('/')}/{rel}" if self.shown else str(path)


@dataclass(frozen=True)
class ManyCheck:
    """The result of :func:`check_many`: stale files and extra files."""

    checks: list[Check]
    extra: list[tuple[Path, str, State]]  # path, shown name, state

    @property
    def up_to_date(self) -> bool:
        return not self.extra and all(c.up_to_date for c in self.checks)

    def problems(self) -> list[str]:
        out = [c.problem for c in self.checks if not c.up_to_date]
        out += [f"{shown} is not generated any more (extra file)" for _p, shown, _s in self.extra]
        return out

    @property
    def diff(self) -> str:
        return "".join(c.diff for c in self.checks)


def _extras(targets: Sequence[Target], owned: Owned | None) -> list[tuple[Path, str, State]]:
    if owned is None:
        return []
    wanted = {Path(t.path).resolve() for t in targets}
    return [
        (p, owned.display(p), state(read(p))) for p in owned.files() if p.resolve() not in wanted
    ]


def check_many(targets: Sequence[Target], owned: Owned | None = None) -> ManyCheck:
    """:func:`check` every target, plus files in ``owned`` that no target produces."""
    return ManyCheck([check(t) for t in targets], _extras(targets, owned))


@dataclass(frozen=True)
class ManyWritten:
    """What :func:`write_many` did."""

    written: list[tuple[Target, Written]]
    removed: list[tuple[Path, Path | None]]  # extra file, its backup (None: it was ours)


def write_many(targets: Sequence[Target], owned: Owned | None = None) -> ManyWritten:
    """:func:`write` every target; remove the extra files of ``owned`` (backing up theirs).

    Directories are created only below ``owned`` (the directory itself must exist).
    """
    if owned is not None and not owned.path.is_dir():
        raise WriteError(
            f"cannot write into {owned.path}: it is not a directory",
            hint=f"create it first (`mkdir -p {owned.path}`), or choose another directory",
        )
    root = owned.path.resolve() if owned is not None else None
    written = [
        (t, write(t, parents=root is not None and root in Path(t.path).resolve().parents))
        for t in targets
    ]
    removed: list[tuple[Path, Path | None]] = []
    for path, _shown, found in _extras(targets, owned):
        saved = backup(path) if found is not State.OURS else None
        try:
            path.unlink()
        except OSError as exc:
            raise WriteError(
                f"cannot remove {path}: {exc.strerror or exc}",
                hint=f"make {path.parent} writable, or remove the file yourself",
            ) from None
        removed.append((path, saved))
    return ManyWritten(written, removed)
