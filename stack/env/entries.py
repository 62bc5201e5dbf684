"""The strict dotenv reader: a file as :class:`Entry` objects, byte for byte.

python-dotenv's parser, used for this repository's ``env/`` and for users' ``.env`` files.
Order, comments and line numbers are kept, and joining every entry's ``raw`` gives back the
file exactly.  Values are literal: ``$`` is a dollar sign, never an interpolation.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stack.errors import Problem, ProblemsError

BOM = "\ufeff"


@dataclass(frozen=True)
class Entry:
    """One logical line of a dotenv file.

    ``kind`` is ``"blank"``, ``"comment"``, ``"binding"`` or ``"error"``.  ``raw`` is the
    exact source text of the entry (including its newline), so a file can be
    reproduced byte for byte by joining the ``raw`` of every entry.
    """

    kind: str
    line: int
    raw: str
    key: str | None = None
    value: str | None = None

    @property
    def text(self) -> str:
        return self.raw.rstrip("\r\n")


def decode(data: bytes, path: Path | str) -> str:
    """Decode an env file as UTF-8 or raise an error naming the file and line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProblemsError(
            f"{path}: cannot read the file",
            [
                Problem.at(
                    path,
                    line,
                    f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                    "save the file as UTF-8 text",
                )
            ],
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ProblemsError(
            f"{path}: cannot read the file",
            [Problem.at(path, line, "contains NUL bytes (binary data?)", "save it as text")],
        )
    return text


def read_entries(text: str) -> list[Entry]:
    """Split dotenv ``text`` into entries with python-dotenv's parser.

    Joining ``entry.raw`` of the result gives back ``text`` exactly.
    """
    from dotenv.parser import parse_stream

    entries: list[Entry] = []
    body = text[1:] if text.startswith(BOM) else text
    offset_line = 0
    if body is not text:
        entries.append(Entry("blank", 1, BOM))
    for binding in parse_stream(io.StringIO(body)):
        chunk = binding.original.string
        line = binding.original.line + offset_line
        # python-dotenv glues leading blank lines onto the following entry.
        while chunk and chunk[0] in "\r\n \t" and (binding.key or binding.error):
            head, sep, rest = _split_first_line(chunk)
            if head.strip():
                break
            entries.append(Entry("blank", line, head + sep))
            chunk, line = rest, line + 1
        if binding.error:
            entries.append(Entry("error", line, chunk))
        elif binding.key is None:
            for piece in _lines(chunk):
                kind = "comment" if piece.lstrip().startswith("#") else "blank"
                entries.append(Entry(kind, line, piece))
                line += 1
        else:
            entries.append(Entry("binding", line, chunk, binding.key, binding.value))
    return entries


def _split_first_line(chunk: str) -> tuple[str, str, str]:
    idx = chunk.find("\n")
    if idx < 0:
        return chunk, "", ""
    return chunk[:idx], "\n", chunk[idx + 1 :]


def _lines(chunk: str) -> Iterable[str]:
    return chunk.splitlines(keepends=True) or [chunk]


def strict_notes(entry: Entry) -> list[str]:
    """Ways a binding line relies on dotenv rules other readers may not share."""
    notes: list[str] = []
    stripped = entry.raw.lstrip()
    if stripped.startswith("export "):
        notes.append("an `export ` prefix")
    first = entry.text.partition("=")[2].lstrip()
    if first[:1] not in ("'", '"') and re.search(r"\s#", entry.text.partition("=")[2]):
        notes.append("an inline ` #` comment")
    return notes
