"""The strict definitions reader: ``env/*.env`` into :class:`~stack.env.model.Definitions`.

Two reading modes exist for env files, both importable from here:

* **strict** (:func:`read_entries`, :func:`load_definitions`): python-dotenv's parser
  (:mod:`stack.env.entries`), used for this repository's ``env/`` and for users' ``.env``
  files.  Order, comments, sections and line numbers are kept; duplicates and invalid names
  are errors.  Values are literal: ``$`` is a dollar sign, never an interpolation.  The
  ``# @...`` tags are read by :mod:`stack.env.annotations`.
* **dify** (:func:`read_dify_env`, :mod:`stack.env.dify_read`): the rules of Dify's own
  ``generate_docker_compose``, for ``--env-file`` on foreign repositories.

This module's own job is the first: loading and checking the definitions files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stack.env.annotations import (
    ANNOTATION_RE,
    KNOWN_TAGS,
    REFERENCE_TAGS,
    SECTION_RE,
    STRICT_NAME_RE,
    parse_section,
    parse_variable,
)
from stack.env.dify_read import DifyVar, read_dify_env
from stack.env.entries import BOM, Entry, decode, read_entries, strict_notes
from stack.env.model import Definitions, Section, Variable
from stack.env.rules import rule_problems
from stack.errors import EnvError, Problem, ProblemsError

# Everything importable from here before the split (importers keep this path).
__all__ = [
    "ANNOTATION_RE",
    "BOM",
    "KNOWN_TAGS",
    "REFERENCE_TAGS",
    "SECTION_RE",
    "STRICT_NAME_RE",
    "DifyVar",
    "Entry",
    "decode",
    "load_definitions",
    "parse_definitions",
    "read_dify_env",
    "read_entries",
    "strict_notes",
]


def load_definitions(
    paths: Iterable[Path] | None = None, *, root: Path | None = None
) -> Definitions:
    """Load the shared env definitions (every ``env/*.env`` file, in name order).

    Raises :class:`ProblemsError` listing every problem found in every file.
    """
    from stack import paths as stack_paths

    root = root or stack_paths.ROOT
    files = sorted(paths) if paths is not None else sorted(stack_paths.ENV_DIR.glob("*.env"))
    if not files:
        raise EnvError(
            f"no env definitions found in {stack_paths.ENV_DIR}",
            hint="restore env/definitions.env from git (git checkout -- env/)",
        )
    variables: list[Variable] = []
    sections: list[Section] = []
    problems: list[Problem] = []
    seen: dict[str, Variable] = {}
    header = ""
    for path in files:
        shown = _display(path, root)
        try:
            text = decode(path.read_bytes(), shown)
        except ProblemsError as exc:
            problems.extend(exc.problems)
            continue
        file_vars, file_sections, file_problems, file_header = parse_definitions(text, shown)
        header = header or file_header
        problems.extend(file_problems)
        for var in file_vars:
            if var.name in seen:
                first = seen[var.name]
                problems.append(
                    Problem.at(
                        shown,
                        var.line,
                        f"duplicate key {var.name} (first defined at {first.where})",
                        f"keep one of {first.where} and {shown}:{var.line}",
                    )
                )
                continue
            seen[var.name] = var
            variables.append(var)
        sections.extend(file_sections)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ProblemsError(f"invalid env definitions ({len(errors)} problem(s))", problems)
    return Definitions(tuple(variables), tuple(sections), tuple(files), header)


def _display(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return path


def parse_definitions(
    text: str, path: Path | str
) -> tuple[list[Variable], list[Section], list[Problem], str]:
    """Parse one definitions file; pure (no I/O).  Returns variables, sections,
    problems and the file's leading header comment."""
    path = Path(path)
    entries = read_entries(text)
    problems: list[Problem] = []
    variables: list[Variable] = []
    sections: list[Section] = []
    section_title = ""
    section_services: tuple[str, ...] = ()
    section_line = 0
    section_names: list[str] = []
    block: list[Entry] = []  # comment lines directly above the next binding
    header_lines: list[str] = []
    in_header = True

    def close_section() -> None:
        if section_title:
            sections.append(
                Section(section_title, section_services, section_line, tuple(section_names))
            )

    for entry in entries:
        if entry.kind == "blank":
            if in_header and header_lines:
                in_header = False
            block = []
            continue
        if entry.kind == "comment":
            match = SECTION_RE.match(entry.text.strip())
            if match:
                in_header = False
                close_section()
                section_title, section_services, errs = parse_section(match["rest"])
                problems.extend(Problem.at(path, entry.line, e) for e in errs)
                section_line, section_names, block = entry.line, [], []
                continue
            if in_header:
                header_lines.append(entry.text)
                continue
            block.append(entry)
            continue
        in_header = False
        if entry.kind == "error":
            problems.append(
                Problem.at(
                    path,
                    entry.line,
                    f"cannot parse {entry.text.strip()[:60]!r} as KEY=VALUE",
                    "write it as KEY=value (quote values with spaces: KEY='a b')",
                )
            )
            block = []
            continue
        assert entry.key is not None
        var, var_problems = parse_variable(entry, block, path, section_title, section_services)
        problems.extend(var_problems)
        if var is not None:
            variables.append(var)
            section_names.append(var.name)
        block = []
    close_section()
    problems.extend(rule_problems(variables, path))
    return variables, sections, problems, "\n".join(header_lines)
