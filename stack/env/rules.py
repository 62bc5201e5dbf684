"""The annotations that tie variables together, checked in the definitions and in a
user's ``.env`` (pure).

``@same-as`` / ``@contains`` (secrets sharing one value), ``@url-password`` /
``@url-host`` (a URL carrying another variable's password) and ``@interpolated`` (a
default in compose syntax, ``COMPOSE_PROFILES=${VECTOR_STORE},${DB_TYPE}``).  The
annotations themselves are read by :mod:`stack.env.parse` and documented in
:mod:`stack.env.model` and the header of ``env/definitions.env``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from stack.env import secrets as gen
from stack.env.model import GENERATORS, Definitions, Variable
from stack.errors import Problem

#: A compose reference: ``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$VAR``.
COMPOSE_REF = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)

#: (key, value, line) of each binding of a user's file, in file order.
Bindings = Sequence[tuple[str, str | None, int]]


def references(value: str) -> list[str]:
    """The variables a compose-syntax ``value`` refers to, in order."""
    return [m["name"] or m["bare"] for m in COMPOSE_REF.finditer(value) if m[0] != "$$"]


def compose_value(value: str, env: Mapping[str, str]) -> str:
    """``value`` expanded the way compose expands a ``.env`` line, from the bindings above.

    Hand-written because python-dotenv's own expansion treats ``:-`` like ``-`` (an empty
    value is kept) and lacks ``$VAR``, unlike compose.
    """

    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name = match["name"] or match["bare"]
        op, default = match["op"], match["default"] or ""
        got = env.get(name)
        if op == ":-" and not got:
            return default
        if op == "-" and got is None:
            return default
        return got or ""

    return COMPOSE_REF.sub(one, value)


# --------------------------------------------------------------------------- definitions


def rule_problems(variables: list[Variable], path: Path | str) -> list[Problem]:
    """Problems of the annotations that tie variables together (see :mod:`stack.env.model`).

    References resolve within ``variables`` (one file).
    """
    out: list[Problem] = []
    position = {v.name: i for i, v in enumerate(variables)}
    by_name = {v.name: v for v in variables}

    def bad(var: Variable, what: str, fix: str | None = None) -> None:
        out.append(Problem.at(path, var.line, f"{var.name}: {what}", fix))

    for index, var in enumerate(variables):
        refs = {
            "@same-as": var.same_as,
            "@contains": var.contains,
            "@url-password": var.url_password,
            "@url-host": var.url_host,
        }
        for tag, target in refs.items():
            if target is not None and (target not in by_name or target == var.name):
                bad(var, f"{tag}={target} names no other variable of {path}")
        if var.same_as and var.contains:
            bad(var, "@same-as and @contains exclude each other")
        leader = by_name.get(var.follows or "")
        if leader is not None:
            if var.generate:
                bad(
                    var,
                    f"@generate and @{'same-as' if var.same_as else 'contains'} conflict",
                    f"generate the value once, on {leader.name}; drop @generate here",
                )
            if not leader.generate:
                bad(
                    var,
                    f"{leader.name} (which it repeats) has no @generate=KIND",
                    f"put @generate=KIND on {leader.name}",
                )
        if var.url_host and not var.url_password:
            bad(var, "@url-host needs @url-password=VAR")
        if var.url_password in by_name and (var.generate or var.follows):
            bad(var, "@url-password derives the value; it excludes @generate/@same-as")
        if var.url_password in by_name and not _has_url_password(var.default):
            bad(
                var,
                f"@url-password: the default {var.default!r} holds no password",
                "write it as scheme://:PASSWORD@host...",
            )
        if var.interpolated:
            if var.services:
                bad(
                    var,
                    "@interpolated is only for variables no service receives "
                    f"(it has @services={','.join(var.services)})",
                    "the renderer escapes `$` for services: give them a literal value",
                )
            for name in references(var.default):
                if position.get(name, len(variables)) >= index:
                    bad(
                        var,
                        f"@interpolated default refers to {name}, which is not defined "
                        "above it (compose reads .env top down)",
                        f"define {name} before {var.name}",
                    )
        elif var.secret and (var.default or var.required) and not var.generated:
            bad(
                var,
                "a secret with a shipped default (or @required) needs a rule for env.init",
                "add @generate=KIND (" + ", ".join(GENERATORS) + "), @same-as=VAR or "
                "@url-password=VAR; an external credential has an empty default",
            )
    return out


def _has_url_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


# --------------------------------------------------------------------------- a user's file


def link_problems(
    defs: Definitions,
    effective: Mapping[str, str],
    values: Mapping[str, str],
    where: Callable[[str], str],
) -> list[Problem]:
    """``@same-as`` / ``@contains`` pairs whose effective values disagree."""
    out: list[Problem] = []
    for follower, leader in defs.links():
        a, b = effective[follower.name], effective[leader.name]
        if not gen.agree(follower, a, b):
            rule = "@contains" if follower.contains else "@same-as"
            verb = "contain" if follower.contains else "equal"
            shown = follower.name if follower.name in values else leader.name
            out.append(
                Problem(
                    where(shown),
                    f"{follower.name} must {verb} {leader.name} ({rule} in "
                    f"{follower.where}) but differs",
                    "give both the same value (a fresh one: `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(42))'`)",
                )
            )
    return out


def url_password_problems(
    defs: Definitions,
    effective: Mapping[str, str],
    values: Mapping[str, str],
    where: Callable[[str], str],
) -> list[Problem]:
    """``@url-password`` URLs whose password differs from that variable's."""
    out: list[Problem] = []
    for var in defs:
        if var.url_password is not None and var.url_password in defs:
            out.extend(_url_password_problem(var, effective, values, where))
    return out


def _url_password_problem(
    var: Variable,
    effective: Mapping[str, str],
    values: Mapping[str, str],
    where: Callable[[str], str],
) -> list[Problem]:
    """``@url-password``: the URL's password is that variable's (when ``@url-host`` says
    the URL points at that server)."""
    pw_name = var.url_password or ""
    url = effective[var.name]
    try:
        parts = urlsplit(url)
        url_host, url_user = parts.hostname, parts.username
    except ValueError:
        return []
    host = effective.get(var.url_host) if var.url_host else None
    if var.url_host and (host is None or url_host != host.lower()):
        return []
    if url_user or (gen.url_password(url) or "") == effective[pw_name]:
        return []
    points = f", but both point at {var.url_host}={host}" if var.url_host else ""
    return [
        Problem(
            where(var.name) if var.name in values else where(pw_name),
            f"the password inside {var.name} differs from {pw_name}{points}",
            f"put {pw_name}'s value into {var.name} (URL-encoded)",
            severity="warning",
        )
    ]


def interpolated_problems(
    var: Variable, defs: Definitions, bindings: Bindings, shown: str, production: bool
) -> list[Problem]:
    """An ``@interpolated`` list (``COMPOSE_PROFILES``): what compose reads from the file
    (top down, each line expanded from the ones above) must hold every item the
    definition's expression gives for the file's own values."""
    seen: dict[str, str] = {}
    found: tuple[str, int] | None = None
    for key, value, line in bindings:
        if value is None:
            continue
        if key == var.name:
            found = (value, line)
            break
        seen[key] = compose_value(value, seen)
    effective = {v.name: v.default for v in defs}
    effective.update({k: v for k, v, _ in bindings if k in effective and v is not None})
    needed = [i for i in compose_value(var.default, effective).split(",") if i.strip()]
    refs = references(var.default)
    setting = ", ".join(f"{r}={effective.get(r, '')}" for r in refs)
    if found is None:
        if not production:  # a partial file (dev.up computes the profiles itself)
            return []
        return [
            Problem(
                shown,
                f"{var.name} is not set: compose starts no service of the profiles "
                f"{', '.join(needed)} ({setting}) from this file",
                f"add the line {var.name}={var.default}",
            )
        ]
    value, line = found
    got = compose_value(value, seen)
    have = {i.strip() for i in got.split(",")}
    lacking = [i for i in needed if i.strip() not in have]
    if not lacking:
        return []
    bound = {k for k, v, _ in bindings if v is not None}
    unbound = [r for r in refs if r not in seen]
    if unbound and compose_value(var.default, seen) != compose_value(var.default, effective):
        late = [r for r in unbound if r in bound]
        why = (
            f"{', '.join(late)} is set only below line {line} (compose reads .env top down)"
            if late
            else f"the file sets no {', '.join(unbound)} above it, so compose reads it as empty"
        )
        fix = f"set {', '.join(unbound)} above line {line}"
    else:
        who = [f"{r}={effective[r]}" for r in refs if r in effective and effective[r] in lacking]
        why = f"selected by {' and '.join(who) or setting}"
        fix = f"set {var.name}={var.default} (compose fills in the values)"
    return [
        Problem.at(
            shown,
            line,
            f"{var.name} gives compose {got!r}, which lacks {', '.join(lacking)}: {why}",
            fix,
        )
    ]
