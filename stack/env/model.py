"""The model of the shared env definitions: variables, their types and sections.

Pure data plus value validation; no I/O.  The parser (:mod:`stack.env.parse`) builds
these objects from ``env/*.env``; the renderers, ``env.check`` and the dev
middleware read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: The services that run the backend image; a variable any of them receives is
#: part of the ``x-shared-env`` anchor block.
BACKEND_SERVICES: frozenset[str] = frozenset({"api", "worker", "worker_beat"})

KINDS = ("string", "integer", "boolean", "port", "url", "enum")
BOOLEAN_VALUES = ("true", "false")
URL_SCHEMES = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class VarType:
    """A variable's type: one of :data:`KINDS`; ``choices`` only for ``enum``."""

    kind: str = "string"
    choices: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> VarType:
        """Parse ``integer`` or ``enum:a|b|c``; raises ``ValueError`` with the reason."""
        kind, _, rest = text.partition(":")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown type {kind!r} (known: {', '.join(KINDS)})")
        if kind == "enum":
            choices = tuple(c.strip() for c in rest.split("|") if c.strip())
            if not choices:
                raise ValueError("enum needs its values: @type=enum:a|b|c")
            return cls("enum", choices)
        if rest:
            raise ValueError(f"type {kind!r} takes no values")
        return cls(kind)

    def __str__(self) -> str:
        return f"enum:{'|'.join(self.choices)}" if self.kind == "enum" else self.kind

    def check(self, value: str) -> str | None:
        """Return why ``value`` is invalid for this type, or ``None`` when it is fine.

        An empty value is always accepted here; emptiness is the ``required`` flag's job.
        """
        if value == "":
            return None
        if self.kind == "integer":
            if not re.fullmatch(r"-?[0-9]+", value):
                return f"{value!r} is not an integer"
        elif self.kind == "port":
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                return f"{value!r} is not a port (1-65535)"
        elif self.kind == "boolean":
            if value.lower() not in BOOLEAN_VALUES:
                return f"{value!r} is not a boolean (true or false)"
        elif self.kind == "url":
            if not URL_SCHEMES.match(value):
                return f"{value!r} is not a URL (scheme://...)"
        elif self.kind == "enum" and value not in self.choices:
            return f"{value!r} is not one of: {', '.join(self.choices)}"
        return None


@dataclass(frozen=True)
class Variable:
    """One shared env variable, as defined in ``env/``."""

    name: str
    default: str
    comment: str
    section: str
    type: VarType = field(default_factory=VarType)
    secret: bool = False
    required: bool = False
    services: tuple[str, ...] = ()
    path: Path = Path("env/definitions.env")
    line: int = 0

    @property
    def shared(self) -> bool:
        """Whether the variable goes into the ``x-shared-env`` anchor block."""
        if self.name.startswith("COMPOSE_"):
            return False
        return bool(BACKEND_SERVICES.intersection(self.services))

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Section:
    """A titled group of variables, in file order."""

    title: str
    services: tuple[str, ...]
    line: int
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Definitions:
    """All shared variables, in definition order, with their sections."""

    variables: tuple[Variable, ...]
    sections: tuple[Section, ...]
    files: tuple[Path, ...] = ()
    header: str = ""

    def __iter__(self) -> Iterator[Variable]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> Variable:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Variable]:
        return {v.name: v for v in self.variables}

    def defaults(self) -> dict[str, str]:
        return {v.name: v.default for v in self.variables}

    def shared(self) -> list[Variable]:
        return [v for v in self.variables if v.shared]

    def secrets(self) -> list[Variable]:
        return [v for v in self.variables if v.secret]

    def suggest(self, name: str, n: int = 1) -> Sequence[str]:
        """Closest known names to ``name`` (for "did you mean")."""
        import difflib

        return difflib.get_close_matches(name, list(self.by_name), n=n, cutoff=0.75)
