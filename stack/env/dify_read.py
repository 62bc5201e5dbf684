"""The Dify-format reader (:func:`read_dify_env`), for ``--env-file`` on foreign repositories.

It follows the rules of Dify's own ``generate_docker_compose`` (one ``KEY=VALUE`` per line,
split at the first ``=``, stripped, one pair of matching quotes removed, the last duplicate
wins).  Wherever the strict rules (:mod:`stack.env.entries`) would read a line differently,
a warning with file:line says so.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from stack.env.entries import BOM, decode
from stack.env.model import NAME_RE
from stack.errors import EnvError, Problem


@dataclass(frozen=True)
class DifyVar:
    """A variable read by Dify's rules; ``value`` is compose syntax, not escaped."""

    name: str
    value: str
    line: int


def read_dify_env(path: Path, shown: str | None = None) -> tuple[list[DifyVar], list[Problem]]:
    """Read ``path`` the way Dify's ``generate_docker_compose`` does.

    Returns the variables (file order of first appearance, last value wins) and
    warnings where the strict rules would read a line differently; an invalid
    variable name is an error, because no compose file could carry it.
    """
    where = shown or str(path)
    try:
        text = decode(path.read_bytes(), where)
    except OSError as exc:
        raise EnvError(f"{where}: cannot read: {exc.strerror}") from None
    problems: list[Problem] = []
    found: dict[str, DifyVar] = {}
    # Text-mode iteration with universal newlines, exactly as Dify's script reads it.
    handle = io.StringIO(text.removeprefix(BOM), newline=None)
    for number, raw in enumerate(handle, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([^=]+)=(.*)$", line)
        if not match:
            problems.append(
                Problem.at(
                    where,
                    number,
                    f"not KEY=VALUE, skipped (Dify's generator skips it too): {line[:60]!r}",
                    severity="warning",
                )
            )
            continue
        key, value = match.group(1).strip(), match.group(2).strip()
        quoted = len(value) >= 1 and value[0] == value[-1] and value[0] in "\"'"
        if quoted:
            value = value[1:-1]
        if key.startswith("export "):
            bare = key.removeprefix("export ").strip()
            problems.append(
                Problem.at(
                    where,
                    number,
                    f"`export ` prefix: Dify's generator would emit the key {key!r}, which "
                    f"compose rejects; read as {bare}",
                    f"remove `export ` from line {number}",
                    severity="warning",
                )
            )
            key = bare
        if not NAME_RE.match(key):
            problems.append(
                Problem.at(
                    where,
                    number,
                    f"invalid variable name {key!r}: compose cannot interpolate it",
                    "use letters, digits and _ only",
                )
            )
            continue
        if not quoted and re.search(r"\s#", value):
            problems.append(
                Problem.at(
                    where,
                    number,
                    f"{key}: ` #` is kept as part of the value here; dotenv would read "
                    "it as a comment",
                    severity="warning",
                )
            )
        if "$" in value and not key.startswith("COMPOSE_"):  # COMPOSE_* is never emitted
            problems.append(
                Problem.at(
                    where,
                    number,
                    f"{key}: `$` reaches compose as interpolation syntax, as with Dify's "
                    "generator (e.g. ${OTHER} is a nested reference; strict dotenv would "
                    "read it differently)",
                    "only if a literal dollar sign was meant: write $$",
                    severity="warning",
                )
            )
        if key in found:
            first = found[key]
            problems.append(
                Problem.at(
                    where,
                    number,
                    f"duplicate key {key} (first at line {first.line}); this later value wins",
                    severity="warning",
                )
            )
            found[key] = DifyVar(key, value, first.line)
        else:
            found[key] = DifyVar(key, value, number)
    return list(found.values()), problems
