"""A user's ``.env`` as text: read it (:class:`UserEnv`) and build the new lines written to it.

Reading uses the strict reader of :mod:`stack.env.entries` (python-dotenv's parser,
every byte kept in :attr:`Entry.raw`).  Nothing here ever re-serializes a line the
user wrote; new lines are built by :func:`binding_line`, which quotes a value so
that python-dotenv reads it back exactly and docker compose does not expand ``$``.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from stack.env import secrets as gen
from stack.env.entries import Entry, decode, read_entries
from stack.env.model import NAME_RE, Section, Variable
from stack.errors import EnvError

#: Values written without quotes: nothing python-dotenv or compose would reinterpret.
PLAIN_RE = re.compile(r"[A-Za-z0-9_./:@%+,=~-]*\Z")
SECTION_RULE = "# " + "-" * 70


# --------------------------------------------------------------------------- reading


@dataclass
class UserEnv:
    """A user's env file: its text, entries and first binding of each key."""

    path: Path
    shown: str
    text: str
    entries: list[Entry]
    bindings: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str, path: Path, shown: str | None = None) -> UserEnv:
        entries = read_entries(text)
        bindings: dict[str, Entry] = {}
        for entry in entries:
            if entry.kind == "binding" and entry.key is not None:
                bindings.setdefault(entry.key, entry)
        return cls(path, shown or str(path), text, entries, bindings)

    def values(self) -> dict[str, str]:
        """Key -> value as python-dotenv reads it (the last duplicate wins)."""
        out: dict[str, str] = {}
        for entry in self.entries:
            if entry.kind == "binding" and entry.key is not None and entry.value is not None:
                out[entry.key] = entry.value
        return out

    @property
    def newline(self) -> str:
        """The file's line ending (``\\r\\n`` when most lines use it)."""
        crlf = sum(1 for e in self.entries if e.raw.endswith("\r\n"))
        lf = sum(1 for e in self.entries if e.raw.endswith("\n")) - crlf
        return "\r\n" if crlf > lf else "\n"


def read_user_env(path: Path, shown: str | None = None) -> UserEnv:
    """Read ``path``; :class:`EnvError` when missing, :class:`ProblemsError` when it is
    not UTF-8 text (the problem names file:line)."""
    where = shown or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EnvError(
            f"{where}: not found", hint=f"create it with `invoke env.init --output {where}`"
        ) from None
    except IsADirectoryError:
        raise EnvError(f"{where}: is a directory, not an env file") from None
    except OSError as exc:
        raise EnvError(f"{where}: cannot read: {exc.strerror}") from None
    return UserEnv.from_text(decode(data, where), path, where)


# --------------------------------------------------------------------------- writing


def _reads_back(line: str, key: str, value: str) -> bool:
    entries = read_entries(line)
    bindings = [e for e in entries if e.kind == "binding"]
    others = [e for e in entries if e.kind not in ("binding", "blank")]
    if len(bindings) != 1 or others:
        return False
    return (bindings[0].key, bindings[0].value) == (key, value)


def quote_value(value: str) -> str:
    """``value`` as dotenv text that python-dotenv reads back exactly.

    Plain when safe; otherwise single-quoted (``\\`` and ``'`` escaped), which also
    keeps docker compose from expanding ``$``.
    """
    if PLAIN_RE.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def binding_line(key: str, value: str, newline: str = "\n") -> str:
    """``KEY=value`` plus ``newline``, verified to read back as exactly ``value``."""
    line = f"{key}={quote_value(value)}{newline}"
    plain = PLAIN_RE.match(value) and NAME_RE.match(key)
    if not plain and not _reads_back(line, key, value):
        raise EnvError(f"{key}: cannot write {value[:40]!r} so that dotenv reads it back")
    return line


def definition_line(var: Variable, value: str, newline: str = "\n") -> str:
    """``binding_line`` for a defined variable: an ``@interpolated`` default is written
    verbatim (unquoted, so that compose expands its ``${VAR}`` references)."""
    if var.interpolated and value == var.default and "'" not in value and "\n" not in value:
        line = f"{var.name}={value}{newline}"
        if _reads_back(line, var.name, value):
            return line
    return binding_line(var.name, value, newline)


def variable_block(var: Variable, value: str, newline: str = "\n") -> str:
    """A blank line, the variable's comment and facts, and its binding."""
    lines = [""]
    for text in textwrap.wrap(var.comment, 86, break_on_hyphens=False, break_long_words=False):
        lines.append(f"# {text}")
    facts = []
    if var.type.kind != "string":
        facts.append(f"type: {var.type}")
    if var.required:
        facts.append("required")
    if var.secret:
        facts.append("secret" + (": generated by env.init" if gen.generated(var) else ""))
    if facts:
        lines.append(f"# ({'; '.join(facts)})")
    return newline.join(lines) + newline + definition_line(var, value, newline)


def section_header(section: Section, newline: str = "\n") -> str:
    """The comment block that opens a section in a user's ``.env``."""
    title = section.title
    if section.services:
        title += f"  (services: {', '.join(section.services)})"
    return newline.join(["", SECTION_RULE, f"# {title}", SECTION_RULE]) + newline
