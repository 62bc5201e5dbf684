"""Readers for env files.

Two reading modes:

* **strict** (:func:`read_entries`, :func:`load_definitions`): python-dotenv's parser,
  used for this repository's ``env/`` and for users' ``.env`` files.  Order,
  comments, sections and line numbers are kept; duplicates and invalid names are
  errors.  Values are literal: ``$`` is a dollar sign, never an interpolation.
* **dify** (:func:`read_dify_env`): the rules of Dify's own
  ``generate_docker_compose`` (one ``KEY=VALUE`` per line, split at the first
  ``=``, stripped, one pair of matching quotes removed, the last duplicate wins),
  for ``--env-file`` on foreign repositories.  Wherever the strict rules would
  read a line differently, a warning with file:line says so.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stack.env.model import NAME_RE, Definitions, Section, Variable, VarType
from stack.errors import EnvError, Problem, ProblemsError

STRICT_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
SECTION_RE = re.compile(r"#\s*@section\s+(?P<rest>.*)\Z")
ANNOTATION_RE = re.compile(r"#\s*@")
BOM = "\ufeff"


@dataclass(frozen=True)
class Entry:
    """One logical line of a dotenv file.

    ``kind`` is ``"blank"``, ``"comment"``, ``"binding"`` or ``"error"``.  ``raw`` is the
    exact source text of the entry (including its newline), so a file can be
    reproduced byte for byte by joining the ``raw`` of every entry.
    """

    kind: str
    line: int
    raw: str
    key: str | None = None
    value: str | None = None

    @property
    def text(self) -> str:
        return self.raw.rstrip("\r\n")


def decode(data: bytes, path: Path | str) -> str:
    """Decode an env file as UTF-8 or raise an error naming the file and line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProblemsError(
            f"{path}: cannot read the file",
            [
                Problem.at(
                    path,
                    line,
                    f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                    "save the file as UTF-8 text",
                )
            ],
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ProblemsError(
            f"{path}: cannot read the file",
            [Problem.at(path, line, "contains NUL bytes (binary data?)", "save it as text")],
        )
    return text


def read_entries(text: str) -> list[Entry]:
    """Split dotenv ``text`` into entries with python-dotenv's parser.

    Joining ``entry.raw`` of the result gives back ``text`` exactly.
    """
    from dotenv.parser import parse_stream

    entries: list[Entry] = []
    body = text[1:] if text.startswith(BOM) else text
    offset_line = 0
    if body is not text:
        entries.append(Entry("blank", 1, BOM))
    for binding in parse_stream(io.StringIO(body)):
        chunk = binding.original.string
        line = binding.original.line + offset_line
        # python-dotenv glues leading blank lines onto the following entry.
        while chunk and chunk[0] in "\r\n \t" and (binding.key or binding.error):
            head, sep, rest = _split_first_line(chunk)
            if head.strip():
                break
            entries.append(Entry("blank", line, head + sep))
            chunk, line = rest, line + 1
        if binding.error:
            entries.append(Entry("error", line, chunk))
        elif binding.key is None:
            for piece in _lines(chunk):
                kind = "comment" if piece.lstrip().startswith("#") else "blank"
                entries.append(Entry(kind, line, piece))
                line += 1
        else:
            entries.append(Entry("binding", line, chunk, binding.key, binding.value))
    return entries


def _split_first_line(chunk: str) -> tuple[str, str, str]:
    idx = chunk.find("\n")
    if idx < 0:
        return chunk, "", ""
    return chunk[:idx], "\n", chunk[idx + 1 :]


def _lines(chunk: str) -> Iterable[str]:
    return chunk.splitlines(keepends=True) or [chunk]


def strict_notes(entry: Entry) -> list[str]:
    """Ways a binding line relies on dotenv rules other readers may not share."""
    notes: list[str] = []
    stripped = entry.raw.lstrip()
    if stripped.startswith("export "):
        notes.append("an `export ` prefix")
    first = entry.text.partition("=")[2].lstrip()
    if first[:1] not in ("'", '"') and re.search(r"\s#", entry.text.partition("=")[2]):
        notes.append("an inline ` #` comment")
    return notes


# --------------------------------------------------------------------------- definitions


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
                section_title, section_services, errs = _parse_section(match["rest"])
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
        var, var_problems = _variable(entry, block, path, section_title, section_services)
        problems.extend(var_problems)
        if var is not None:
            variables.append(var)
            section_names.append(var.name)
        block = []
    close_section()
    return variables, sections, problems, "\n".join(header_lines)


def _parse_section(rest: str) -> tuple[str, tuple[str, ...], list[str]]:
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


def _variable(
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
    secret = required = False
    vtype: VarType | None = None
    services = section_services
    for tag_line, tag in tags:
        name, _, arg = tag.partition("=")
        if name == "@secret" and not arg:
            secret = True
        elif name == "@required" and not arg:
            required = True
        elif name == "@type":
            try:
                vtype = VarType.parse(arg)
            except ValueError as exc:
                problems.append(Problem.at(path, tag_line, f"{key}: {exc}"))
        elif name == "@services":
            services = _service_list(arg)
        else:
            problems.append(
                Problem.at(
                    path,
                    tag_line,
                    f"{key}: unknown tag {tag!r}",
                    "use @secret, @required, @type=KIND or @services=a,b",
                )
            )
    if vtype is None:
        vtype = infer_type(key, entry.value)
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
    )
    return var, problems


def infer_type(name: str, default: str) -> VarType:
    """A type for a variable without ``@type``, guessed from its name and default."""
    low = default.lower()
    if low in ("true", "false"):
        return VarType("boolean")
    if name.endswith("_PORT") and default.isdigit():
        return VarType("port")
    if re.fullmatch(r"-?[0-9]+", default):
        return VarType("integer")
    return VarType("string")


# --------------------------------------------------------------------------- dify format


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
