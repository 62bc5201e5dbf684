"""Render the production compose file: header + shared anchor block + template body.

The header, its digest and hand-edit detection are :mod:`stack.generated`'s protocol.

Everything here is pure: text in, text out.  The output is deterministic (the same
inputs give the same bytes) and every emitted value is YAML-safe and compose-safe:
after ``docker compose config`` a container sees exactly the default the
definitions hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stack import generated
from stack.env.model import Definitions
from stack.errors import Problem, ProblemsError, TemplateError

ANCHOR = "x-shared-env: &shared-api-worker-env"
ANCHOR_RE = re.compile(r"^x-shared-env: &shared-api-worker-env[ \t]*(\r?\n|\Z)", re.M)


@dataclass(frozen=True)
class SharedVar:
    """One line of the anchor block.  ``value`` is compose syntax (already escaped)."""

    name: str
    value: str
    where: str = ""


# ----------------------------------------------------------------------------- escaping


def compose_literal(value: str) -> str:
    """Escape a literal string for use as the default inside ``${VAR:-...}``.

    ``$`` becomes ``$$``.  compose ends the default at the first ``}`` that does
    not close a ``{`` opened inside it, and it has no escape for ``}``, so a
    value with an unbalanced ``}`` cannot be expressed: :class:`ValueError`.
    """
    depth = 0
    for index, char in enumerate(value):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ValueError(
                    f"unbalanced '}}' at character {index + 1}: compose's ${{VAR:-...}} "
                    "cannot express it"
                )
    return value.replace("$", "$$")


_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_$.,/@+=%~^*!?()\[\]{}:;<>|`-]*\Z")
_NON_PRINTABLE = {0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF}
_YAML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def yaml_scalar(text: str) -> str:
    """A YAML scalar that parses back to exactly ``text``.

    ``text`` always starts with ``${`` here; it is emitted plain when nothing in it
    can change its meaning (no spaces, quotes, ``#`` or backslashes), otherwise as a
    double-quoted scalar with every non-printable character escaped.
    """
    if _PLAIN_SAFE.match(text) and text.startswith("${") and ": " not in text:
        return text
    out = []
    for char in text:
        code = ord(char)
        if char in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[char])
        elif code < 0x20 or 0x7F <= code <= 0x9F or code in _NON_PRINTABLE:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{code:04X} cannot be written as UTF-8")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def shared_line(var: SharedVar) -> str:
    return f"  {var.name}: {yaml_scalar('${' + var.name + ':-' + var.value + '}')}"


def shared_block(variables: Sequence[SharedVar], newline: str = "\n") -> str:
    """The ``x-shared-env`` mapping, one ``KEY: ${KEY:-default}`` line per variable.

    With no variables it is an empty mapping (``{}``), which ``<<:`` can still merge.
    """
    if not variables:
        return f"{ANCHOR} {{}}{newline}"
    return newline.join([ANCHOR, *(shared_line(v) for v in variables)]) + newline


def shared_from_definitions(defs: Definitions) -> list[SharedVar]:
    """Shared variables of the definitions, escaped; every bad value reported at once."""
    problems: list[Problem] = []
    out: list[SharedVar] = []
    for var in defs.shared():
        try:
            out.append(SharedVar(var.name, compose_literal(var.default), var.where))
            yaml_scalar(var.default)
        except ValueError as exc:
            problems.append(
                Problem(
                    var.where,
                    f"{var.name}: {exc}",
                    f"change the default of {var.name} in {var.path}",
                )
            )
    if problems:
        raise ProblemsError("defaults that compose cannot carry", problems)
    return out


# ----------------------------------------------------------------------------- template


def split_template(text: str, name: str = "template") -> tuple[str, str]:
    """Return the template text before and after its anchor line.

    The anchor line must appear exactly once; it is usually line 1.
    """
    matches = list(ANCHOR_RE.finditer(text))
    if not matches:
        first = text.splitlines()[0] if text.strip() else "(empty file)"
        raise TemplateError(
            f"{name}:1: no `{ANCHOR}` line (line 1 is {first[:60]!r})",
            hint=f"put the bare line `{ANCHOR}` at the top of {name}; the generator "
            "replaces it with the shared block",
        )
    if len(matches) > 1:
        lines = [text.count("\n", 0, m.start()) + 1 for m in matches]
        raise TemplateError(
            f"{name}: the anchor line appears {len(matches)} times (lines "
            f"{', '.join(map(str, lines))})",
            hint="keep only the first one",
        )
    match = matches[0]
    return text[: match.start()], text[match.end() :]


def render(
    template_text: str,
    variables: Sequence[SharedVar],
    *,
    command: str = "invoke release.compose",
    sources: Sequence[str] = ("compose/docker-compose-template.yaml", "env/"),
    template_name: str = "compose/docker-compose-template.yaml",
    rewrite: Callable[[str], str] | None = None,
) -> str:
    """Header, then the anchor block, then the template body byte for byte.

    ``rewrite`` (the secure release mode, :func:`stack.compose.strict.strict_text`)
    transforms block + body before the header and its digest are put on.
    """
    before, after = split_template(template_text, template_name)
    # Keep the template's line endings (a CRLF template gets a CRLF header and block).
    newline = "\r\n" if ANCHOR_RE.search(template_text).group(1) == "\r\n" else "\n"  # type: ignore[union-attr]
    body = before + shared_block(variables, newline) + after
    if rewrite is not None:
        body = rewrite(body)
    return generated.render(body, command=command, sources=sources, newline=newline)


# ----------------------------------------------------------------------------- references


_REF_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Reference:
    """A ``${VAR...}`` use in a template: its line and default (``None``: none)."""

    name: str
    line: int
    default: str | None


def references(text: str) -> list[Reference]:
    """Every variable the template interpolates, with its inline default."""
    refs: list[Reference] = []
    for match in _REF_RE.finditer(text):
        if match.group(0) == "$$":
            continue
        line = text.count("\n", 0, match.start()) + 1
        name = match.group(1) or match.group(3)
        op = match.group(2) or ""
        default: str | None = None
        for prefix in (":-", "-"):
            if op.startswith(prefix):
                default = _default_text(text, match.start(1) + len(match.group(1)) + len(prefix))
                break
        refs.append(Reference(name, line, default))
    return refs


def _default_text(text: str, start: int) -> str:
    depth, index = 0, start
    while index < len(text):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                break
            depth -= 1
        index += 1
    return text[start:index]


def reference_problems(
    template_text: str,
    known: dict[str, str],
    template_name: str,
    *,
    check_defaults: bool,
) -> list[Problem]:
    """Warnings: references with no default that nothing defines; drifted defaults."""
    problems: list[Problem] = []
    undefined: dict[str, list[int]] = {}
    for ref in references(template_text):
        if ref.default is None and ref.name not in known:
            undefined.setdefault(ref.name, []).append(ref.line)
        elif check_defaults and ref.default is not None and ref.name in known:
            expected = compose_literal_or_none(known[ref.name])
            if expected is not None and ref.default != expected:
                problems.append(
                    Problem.at(
                        template_name,
                        ref.line,
                        f"${{{ref.name}:-{ref.default}}} disagrees with the definitions' "
                        f"default {known[ref.name]!r}",
                        f"use ${{{ref.name}:-{expected}}} or change env/",
                        severity="warning",
                    )
                )
    for name, lines in sorted(undefined.items()):
        problems.append(
            Problem(
                f"{template_name}:{lines[0]}",
                f"${{{name}}} has no default and no definition provides it (lines "
                f"{', '.join(map(str, lines))}); compose will substitute an empty string",
                f"add {name} to the env definitions, or write ${{{name}:-default}}",
                severity="warning",
            )
        )
    return problems


def compose_literal_or_none(value: str) -> str | None:
    try:
        return compose_literal(value)
    except ValueError:
        return None
