"""The model of the shared env definitions: variables, their types and sections.

Pure data plus value validation; no I/O.  The parser (:mod:`stack.env.parse`) builds
these objects from ``env/*.env``; the renderers, ``env.check`` and the dev
middleware read them.

Every rule about a variable is an annotation on the line above it (see
:data:`ANNOTATIONS` and the header of ``env/definitions.env``); nothing is guessed from
a variable's name or parsed out of its comment:

``@secret``                 the value is a secret (masked, checked in production)
``@required``               an empty value is an error
``@type=KIND``              one of :data:`KINDS` (``enum:a|b``); without it: a string
``@services=a,b``           the compose services that receive it (default: the section's)
``@generate=KIND[:N]``      ``env.init``/``env.sync`` write a fresh value (implies
                            ``@secret``); KIND is one of :data:`GENERATORS`
``@same-as=VAR``            holds the same value as VAR (which carries ``@generate``)
``@contains=VAR``           a comma list that must contain VAR's value (same)
``@url-password=VAR``       a URL whose password is VAR's value (generated with it)
``@url-host=VAR``           ...checked only when the URL's host is VAR's value
``@interpolated``           the default is compose syntax (``${VAR}``), written verbatim
                            into ``.env``, where compose expands it; only for variables
                            no service receives (compose itself reads them), VAR defined
                            above it; ``env.check`` expands a file's value the same way
                            and reports one lacking a comma-separated item of the default's

The parser rejects unknown annotations and broken references with file:line
(:func:`stack.env.parse.rule_problems`), and a secret with a shipped default (or
``@required``) that has no rule for ``env.init``.
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

#: ``@generate`` kinds -> default length: ``secret-key`` is ``sk-`` + a URL-safe token of N
#: random bytes, ``token`` a URL-safe token of N bytes, ``password`` N letters and digits,
#: ``password-special`` the same plus ``-`` and ``_`` (OpenSearch 2.12+ wants one).
GENERATORS: dict[str, int] = {"secret-key": 42, "token": 42, "password": 32, "password-special": 32}

#: Every annotation a variable may carry (``=`` marks the ones taking an argument).
ANNOTATIONS = (
    "@secret",
    "@required",
    "@type=",
    "@services=",
    "@generate=",
    "@same-as=",
    "@contains=",
    "@url-password=",
    "@url-host=",
    "@interpolated",
)
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
class Generator:
    """How a fresh value is made (``@generate=KIND[:LENGTH]``)."""

    kind: str
    length: int

    @classmethod
    def parse(cls, text: str) -> Generator:
        """Parse ``token`` or ``password:24``; raises ``ValueError`` with the reason."""
        kind, sep, size = text.partition(":")
        if kind not in GENERATORS:
            raise ValueError(f"unknown generator {kind!r} (known: {', '.join(GENERATORS)})")
        if not sep:
            return cls(kind, GENERATORS[kind])
        if not size.isdigit() or not 8 <= int(size) <= 256:
            raise ValueError(f"@generate={text}: the length must be a number from 8 to 256")
        return cls(kind, int(size))

    def __str__(self) -> str:
        return self.kind if self.length == GENERATORS[self.kind] else f"{self.kind}:{self.length}"


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
    generate: Generator | None = None  # @generate=KIND[:N]
    same_as: str | None = None  # @same-as=VAR
    contains: str | None = None  # @contains=VAR
    url_password: str | None = None  # @url-password=VAR
    url_host: str | None = None  # @url-host=VAR
    interpolated: bool = False  # @interpolated

    @property
    def generated(self) -> bool:
        """Whether ``env.init``/``env.sync`` write a value for it (generated or derived)."""
        return bool(self.generate or self.same_as or self.contains or self.url_password)

    @property
    def follows(self) -> str | None:
        """The variable whose value this one repeats (``@same-as`` / ``@contains``)."""
        return self.same_as or self.contains

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

    def links(self) -> list[tuple[Variable, Variable]]:
        """(follower, leader) pairs of ``@same-as`` / ``@contains``, in definition order."""
        by_name = self.by_name
        return [
            (v, by_name[v.follows]) for v in self.variables if v.follows and v.follows in by_name
        ]

    def suggest(self, name: str, n: int = 1) -> Sequence[str]:
        """Closest known names to ``name`` (for "did you mean")."""
        import difflib

        return difflib.get_close_matches(name, list(self.by_name), n=n, cutoff=0.75)
