"""A Dify-format ``.env.example`` as the model ``env.sync``/``env.check`` work with.

The values are read with Dify's own rules (:func:`stack.env.parse.read_dify_env`, with its
file:line warnings); this module adds what a merge needs besides the values: the exact
line that sets each variable and the comment lines above it, and which variables are
secrets.

Which variables are secrets
    A Dify example carries no ``@secret`` marks, so the rule is over names and values
    (:func:`secret_reason`), in this order:

    1. the default is a known shipped secret: a shipped secret default of the stack's own
       definitions (``difyai123456``, ``dify-sandbox``, the plugin daemon keys, Weaviate's
       key...) or one of :data:`DIFY_SHIPPED_SECRETS` (Dify's old ``SECRET_KEY``), of at
       least :data:`MIN_SHIPPED` characters: shorter ones are ordinary words too
       (``ORACLE_PASSWORD=dify`` but also ``DB_DATABASE=dify``);
    2. the default is a URL whose password is such a value (``CELERY_BROKER_URL``);
    3. the name ends with one of :data:`SECRET_SUFFIXES` (``_PASSWORD``, ``_SECRET``,
       ``_KEY``, ``SECRET_KEY``, ``API_KEY``, ``_TOKEN``...).

    What a sync does with a *new* secret (:func:`fresh_decision`): an empty default stays
    empty, and a placeholder default (``your-secret-key``, ``xxx``, ``<...>``) stays as
    shipped: both are credentials of a service someone else runs, which only the user can
    fill in.  Every other new secret gets a fresh value from :mod:`stack.env.secrets`; one
    the stack's definitions tie to another (``SANDBOX_API_KEY`` and
    ``CODE_EXECUTION_API_KEY`` must be equal) takes the value the user already has.
"""

from __future__ import annotations

import bisect
import io
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stack.env import secrets as gen
from stack.env.model import Definitions, Generator, Variable
from stack.env.parse import BOM, decode, read_dify_env
from stack.errors import EnvError, Problem, ProblemsError

#: Dify's shipped secrets the stack's own definitions do not ship (its SECRET_KEY is empty).
DIFY_SHIPPED_SECRETS: tuple[str, ...] = ("sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U",)

#: Shipped secrets shorter than this are not recognised by value (see the module docstring).
MIN_SHIPPED = 8

#: Name endings that make a variable a secret (rule 3).
SECRET_SUFFIXES: tuple[str, ...] = (
    "SECRET_KEY",
    "API_KEY",
    "_PASSWORD",
    "_PASSWD",
    "_PWD",
    "_SECRET",
    "_KEY",
    "_KEYS",
    "_TOKEN",
    "_CREDENTIALS",
)
SECRET_NAME_RE = re.compile(
    r"(?:\A|_)(?:" + "|".join(re.escape(s.lstrip("_")) for s in SECRET_SUFFIXES) + r")\Z"
)
PLACEHOLDER_RE = re.compile(r"\A(?:your[-_].*|.*[-_]your[-_].*|x{3,}|<.*>)\Z", re.IGNORECASE)
LINE_KEY_RE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


@dataclass(frozen=True)
class ExampleVar:
    """One variable of an example: its value (Dify's reading) and where it stands."""

    name: str
    value: str
    line: int  # first line that sets it (its place in the file)
    raw: str  # the line whose value wins (the last one), without its line break
    block: tuple[str, ...]  # comment and blank lines between the previous variable and it
    secret: str | None  # why it is a secret (None: it is not)


@dataclass(frozen=True)
class Example:
    """A Dify ``.env.example``: variables in file order, and the reader's warnings."""

    path: Path
    shown: str
    variables: tuple[ExampleVar, ...]
    warnings: tuple[Problem, ...]

    @property
    def by_name(self) -> dict[str, ExampleVar]:
        return {v.name: v for v in self.variables}

    def defaults(self) -> dict[str, str]:
        return {v.name: v.value for v in self.variables}

    def definitions(self, *, placeholders_secret: bool = True) -> Definitions:
        """The example as definitions (types left as strings: Dify's own are looser).

        A secret that a sync would give a fresh value (:func:`fresh_decision`) gets the
        generator, ``@same-as``/``@contains`` and ``@url-password`` of the stack's own
        definition of that name when it has one (and its partner is in this example too),
        else a generator chosen by its name (:func:`generator_for`).
        """
        repo = repo_definitions().by_name
        names = self.by_name
        variables = []
        for v in self.variables:
            secret = v.secret is not None and (placeholders_secret or not is_placeholder(v.value))
            mine = repo.get(v.name)
            same_as = contains = url_pw = url_host = None
            generate: Generator | None = None
            if v.secret is not None and fresh_decision(v) is None:
                if mine and mine.follows in names:
                    same_as, contains = mine.same_as, mine.contains
                elif mine and mine.url_password in names:
                    url_pw = mine.url_password
                    url_host = mine.url_host if mine.url_host in names else None
                elif not gen.url_password(v.value):
                    generate = (mine.generate if mine else None) or generator_for(v.name)
            variables.append(
                Variable(
                    name=v.name,
                    default=v.value,
                    comment=comment_text(v.block),
                    section="",
                    secret=secret,
                    # A rule taken from the stack's definitions names its place there.
                    path=mine.path if mine and (same_as or contains) else Path(self.shown),
                    line=mine.line if mine and (same_as or contains) else v.line,
                    generate=generate,
                    same_as=same_as,
                    contains=contains,
                    url_password=url_pw,
                    url_host=url_host,
                )
            )
        return Definitions(tuple(variables), ())


def generator_for(name: str) -> Generator:
    """How a new secret the stack does not define is generated, by its name: ``SECRET_KEY``
    a secret key, keys and tokens a URL-safe token, anything else a password."""
    if name == "SECRET_KEY":
        return Generator.parse("secret-key")
    if re.search(r"(KEY|KEYS|TOKEN|CREDENTIALS)\Z", name) and "PASSWORD" not in name:
        return Generator.parse("token")
    return Generator.parse("password-special" if "OPENSEARCH" in name else "password")


def comment_text(block: tuple[str, ...]) -> str:
    """The comment lines directly above a variable, as one sentence."""
    lines: list[str] = []
    for text in block:
        if not text.strip():
            lines = []
        else:
            lines.append(text.strip().lstrip("#").strip())
    return " ".join(lines)


def is_placeholder(value: str) -> bool:
    """``your-secret-key``, ``YOUR-ELASTICSEARCH_API_KEY``, ``xxx``, ``<token>``."""
    return bool(PLACEHOLDER_RE.match(value))


@cache
def known_shipped_secrets() -> dict[str, str]:
    """Known shipped secret value -> the variable(s) that ship it, for the reports."""
    from stack.env.userenv import shipped_secret_defaults

    shipped = shipped_secret_defaults(repo_definitions())
    out = {v: ", ".join(names) for v, names in shipped.items() if len(v) >= MIN_SHIPPED}
    for value in DIFY_SHIPPED_SECRETS:
        out.setdefault(value, "SECRET_KEY")
    return out


@cache
def repo_definitions() -> Definitions:
    """The stack's own definitions: what it knows about Dify's variables."""
    from stack.env.parse import load_definitions

    return load_definitions()


def secret_reason(name: str, default: str, shipped: dict[str, str] | None = None) -> str | None:
    """Why ``name`` is a secret (see the module docstring), or ``None``."""
    shipped = known_shipped_secrets() if shipped is None else shipped
    if default in shipped:
        return f"its default {default!r} is a known shipped secret (that of {shipped[default]})"
    password = gen.url_password(default)
    if password and password in shipped:
        return f"its default embeds the known shipped password {password!r}"
    match = SECRET_NAME_RE.search(name)
    return f"its name ends with {match.group(0)}" if match else None


def fresh_decision(var: ExampleVar) -> str | None:
    """Why a new secret keeps its shipped value (``None``: it gets a fresh one)."""
    if not var.value:
        return "its default is empty: a credential only you can fill in"
    if is_placeholder(var.value):
        return "its default is a placeholder for a credential issued elsewhere: fill it in"
    return None


def read_example(path: Path, shown: str | None = None) -> Example:
    """Read a Dify ``.env.example``; :class:`ProblemsError` when it has errors."""
    where = shown or str(path)
    found, problems = read_dify_env(path, where)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ProblemsError(f"{where}: cannot use this example", problems)
    try:
        text = decode(path.read_bytes(), where)
    except OSError as exc:
        raise EnvError(f"{where}: cannot read: {exc.strerror}") from None
    # The same line splitting as read_dify_env, so the line numbers agree.
    lines = [raw.rstrip("\n") for raw in io.StringIO(text.removeprefix(BOM), newline=None)]
    setters: dict[str, list[int]] = {}
    for number, text_line in enumerate(lines, 1):
        match = LINE_KEY_RE.match(text_line)
        if match and not text_line.lstrip().startswith("#"):
            setters.setdefault(match.group(1), []).append(number)
    binding_lines = sorted(n for numbers in setters.values() for n in numbers)
    shipped = known_shipped_secrets()
    variables = []
    for var in found:
        numbers = setters.get(var.name) or [var.line]
        before = bisect.bisect_left(binding_lines, var.line)
        previous = binding_lines[before - 1] if before else 0
        block = tuple(
            t for t in lines[previous : var.line - 1] if not t.strip() or t.lstrip().startswith("#")
        )
        variables.append(
            ExampleVar(
                var.name,
                var.value,
                var.line,
                lines[numbers[-1] - 1],
                block,
                secret_reason(var.name, var.value, shipped),
            )
        )
    return Example(path, where, tuple(variables), tuple(problems))
