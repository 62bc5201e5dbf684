"""Annotation and tag handling of the definitions: ``# @section`` lines and the ``# @...``
tags above a binding, turned into a :class:`~stack.env.model.Variable` with its problems.

The tags are listed in :data:`stack.env.model.ANNOTATIONS` (and the header of
``env/definitions.env``); an unknown one is an error with file:line.
"""

from __future__ import annotations

import re
from pathlib import Path

from stack.env.entries import Entry, strict_notes
from stack.env.model import ANNOTATIONS, Generator, Variable, VarType
from stack.errors import Problem

STRICT_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
SECTION_RE = re.compile(r"#\s*@section\s+(?P<rest>.*)\Z")
ANNOTATION_RE = re.compile(r"#\s*@")
REFERENCE_TAGS = ("@same-as", "@contains", "@url-password", "@url-host")
KNOWN_TAGS = " ".join(a + "..." if a.endswith("=") else a for a in ANNOTATIONS)


def parse_section(rest: str) -> tuple[str, tuple[str, ...], list[str]]:
    title_words: list[str] = []
    services: tuple[str, ...] = ()
    errors: list[str] = []
    for token in rest.split():
        if token.startswith("@services="):
            services = _service_list(token.removeprefix("@services="))
        elif token.startswith("@"):
            errors.append(f"unknown section tag {token!r} (known: @services=a,b)")
        else:
            title_words.append(token)
    if not title_words:
        errors.append("a section needs a title: # @section Title @services=a,b")
    return " ".join(title_words), services, errors


def _service_list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def parse_variable(
    entry: Entry,
    block: list[Entry],
    path: Path,
    section: str,
    section_services: tuple[str, ...],
) -> tuple[Variable | None, list[Problem]]:
    problems: list[Problem] = []
    key = entry.key or ""
    line = entry.line
    if not STRICT_NAME_RE.match(key):
        problems.append(
            Problem.at(
                path,
                line,
                f"invalid variable name {key!r}: use upper-case letters, digits and _",
                f"rename it, e.g. {re.sub(r'[^A-Z0-9_]', '_', key.upper()) or 'MY_VAR'}",
            )
        )
        return None, problems
    for note in strict_notes(entry):
        problems.append(
            Problem.at(path, line, f"{key}: {note} is not allowed in definitions", "remove it")
        )
    if entry.value is None:
        problems.append(
            Problem.at(path, line, f"{key} has no `=`", f"write {key}= for an empty default")
        )
        return None, problems
    comment_lines: list[str] = []
    tags: list[tuple[int, str]] = []
    for c in block:
        body = c.text.strip()
        if ANNOTATION_RE.match(body):
            tags.extend((c.line, t) for t in body.lstrip("#").split())
        else:
            comment_lines.append(body[1:].strip() if body.startswith("#") else body)
    secret = required = interpolated = False
    vtype = VarType()
    services = section_services
    generate: Generator | None = None
    refs: dict[str, str] = {}  # annotation -> referenced variable
    for tag_line, tag in tags:
        name, has_arg, arg = tag.partition("=")
        if name in ("@secret", "@required", "@interpolated") and not has_arg:
            secret = secret or name == "@secret"
            required = required or name == "@required"
            interpolated = interpolated or name == "@interpolated"
        elif name == "@type":
            try:
                vtype = VarType.parse(arg)
            except ValueError as exc:
                problems.append(Problem.at(path, tag_line, f"{key}: {exc}"))
        elif name == "@services":
            services = _service_list(arg)
        elif name == "@generate":
            try:
                generate = Generator.parse(arg)
            except ValueError as exc:
                problems.append(Problem.at(path, tag_line, f"{key}: {exc}"))
            secret = True
        elif name in REFERENCE_TAGS and has_arg:
            if STRICT_NAME_RE.match(arg):
                refs[name] = arg
            else:
                problems.append(
                    Problem.at(path, tag_line, f"{key}: {tag!r} needs a variable name: {name}=VAR")
                )
        else:
            problems.append(
                Problem.at(
                    path,
                    tag_line,
                    f"{key}: unknown tag {tag!r}",
                    f"use one of {KNOWN_TAGS} (documented in the header of env/definitions.env)",
                )
            )
    comment = " ".join(comment_lines).strip()
    if not comment:
        problems.append(
            Problem.at(
                path, line, f"{key} has no comment", f"add a '# ...' line describing {key} above it"
            )
        )
    reason = vtype.check(entry.value)
    if reason:
        problems.append(Problem.at(path, line, f"{key}: default {reason}"))
    if not section:
        problems.append(
            Problem.at(path, line, f"{key} is outside any section", "add '# @section Title' above")
        )
    var = Variable(
        name=key,
        default=entry.value,
        comment=comment,
        section=section,
        type=vtype,
        secret=secret,
        required=required,
        services=services,
        path=path,
        line=line,
        generate=generate,
        same_as=refs.get("@same-as"),
        contains=refs.get("@contains"),
        url_password=refs.get("@url-password"),
        url_host=refs.get("@url-host"),
        interpolated=interpolated,
    )
    return var, problems
