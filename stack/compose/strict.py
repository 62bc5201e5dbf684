"""Secure release mode: every ``@secret`` variable becomes a required reference.

``invoke release.compose --strict-secrets --output PATH`` renders a production file in
which no shipped secret default survives: wherever the shared block or the template body
interpolates a variable the definitions mark ``@secret`` (``${DB_PASSWORD:-difyai123456}``,
redis's ``--requirepass``, the sandbox ``API_KEY``, the plugin daemon keys...), the
reference becomes :func:`strict_reference`, so ``docker compose up`` without real values
refuses to start and names the variable.  Which variables are rewritten comes from the
definitions' ``@secret`` flags only (:func:`secret_names`), never from a list here.

Two forms, both "no default":

* ``${VAR:?message}`` (set and non-empty) for a secret that must hold a value: it has a
  shipped default, ``env.init`` generates or derives it (``@generate``, ``@same-as``,
  ``@contains``, ``@url-password``) or it is ``@required``;
* ``${VAR?message}`` (set, possibly empty) for an optional credential someone else issues
  (SMTP, S3, sentinel...): its shipped default is already empty and ``env.init`` writes it
  empty, so demanding a value would refuse every ``.env`` that does not use the feature.

Pure text in, text out; the Kubernetes renderer calls :func:`is_secret` and
:func:`strict_reference` for the same decision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from stack.env.model import Definitions, Variable
from stack.errors import Problem

#: What compose prints after "required variable VAR is missing a value: ".  Safe in every
#: YAML context a reference can sit in (plain, single- or double-quoted, flow): no quote,
#: backslash, comma, bracket, brace, ``#`` or ``: ``; and no ``$``.
MESSAGE = "no default in a strict release; run invoke env.init to write a .env with fresh secrets"

#: The value every secret gets when the command validates the strict file itself.
PLACEHOLDER = "strict-secrets-placeholder"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_secret(defs: Definitions, name: str) -> bool:
    """Whether the definitions mark ``name`` ``@secret`` (unknown names are not)."""
    return name in defs and defs[name].secret


def secret_names(defs: Definitions) -> frozenset[str]:
    """Every ``@secret`` variable of the definitions."""
    return frozenset(v.name for v in defs.secrets())


def must_have_value(var: Variable) -> bool:
    """Whether a strict release needs a non-empty value (``:?``) rather than any (``?``)."""
    return bool(var.default) or var.generated or var.required


def strict_reference(var: Variable) -> str:
    """The reference a strict release uses for ``var``: ``${VAR:?...}`` or ``${VAR?...}``."""
    op = ":?" if must_have_value(var) else "?"
    return "${" + var.name + op + MESSAGE + "}"


def placeholders(defs: Definitions) -> dict[str, str]:
    """Stand-in values for every secret: what the command validates the strict file with."""
    return {name: PLACEHOLDER for name in sorted(secret_names(defs))}


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` that closes a reference whose body starts at ``start`` (-1: none)."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
    return -1


def rewrite(text: str, references: Mapping[str, str]) -> str:
    """Replace every interpolation of a name in ``references`` with its strict reference.

    ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?...}`` (any operator,
    the whole span up to its closing brace) and bare ``$VAR`` are replaced; ``$$`` is a
    literal dollar and is kept.  A reference to any other variable is kept, but its
    default is scanned too (``${URL:-${DB_PASSWORD:-x}}`` rewrites the inner one).
    """
    out: list[str] = []
    index = 0
    while True:
        found = text.find("$", index)
        if found < 0:
            out.append(text[index:])
            return "".join(out)
        out.append(text[index:found])
        if text.startswith("$$", found):
            out.append("$$")
            index = found + 2
            continue
        braced = text.startswith("${", found)
        name = _NAME.match(text, found + 2 if braced else found + 1)
        if name is None:
            out.append("$")
            index = found + 1
            continue
        if name.group(0) not in references:
            out.append(text[found : name.end()])
            index = name.end()
            continue
        end = _closing(text, name.end()) if braced else name.end() - 1
        if end < 0:  # unterminated: compose rejects it anyway; leave it as it is
            out.append(text[found:])
            return "".join(out)
        out.append(references[name.group(0)])
        index = end + 1


def strict_text(text: str, defs: Definitions) -> str:
    """``text`` with every reference to an ``@secret`` variable made strict."""
    return rewrite(text, {name: strict_reference(defs[name]) for name in secret_names(defs)})


def flag_problems(
    output: str | Path | None, *, template: object = None, env_file: object = None
) -> list[Problem]:
    """What is wrong with the flags given alongside ``--strict-secrets`` (nothing: ``[]``).

    A strict file needs its own ``--output``: the committed compose/docker-compose.yaml
    keeps the definitions' defaults (it is what ``dev.*`` and ``release.smoke`` run).
    """
    from stack import paths

    problems = []
    example = "for example --strict-secrets --output compose/docker-compose.strict.yaml"
    if output is None:
        problems.append(Problem("--output", "--strict-secrets needs --output PATH", example))
    elif str(output).strip() and Path(output).resolve() == paths.GENERATED_COMPOSE.resolve():
        problems.append(
            Problem(
                "--output",
                f"{output} is the committed default file, which keeps the definitions' defaults",
                example,
            )
        )
    for flag, value in (("--template", template), ("--env-file", env_file)):
        if value is not None:
            problems.append(
                Problem(
                    flag,
                    "--strict-secrets reads the @secret flags of env/definitions.env, "
                    f"so it cannot be combined with {flag}",
                    f"drop {flag} or --strict-secrets",
                )
            )
    return problems
