"""The Markdown reference of every shared env variable (``docs/ENV.md``).

:func:`render` is pure and deterministic; the header (an HTML comment naming the command
that regenerates the file, with a digest of the body) is :mod:`stack.generated`'s protocol,
the same as the compose file's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stack import generated
from stack.env import secrets as gen
from stack.env.model import Definitions, Variable

COMMAND = "invoke env.doc"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (``<`` escaped outside code spans)."""
    parts = re.split(r"(`[^`]*`)", text.replace("\n", " "))
    out = []
    for part in parts:
        if not part.startswith("`"):
            part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(part.replace("|", "\\|"))
    return "".join(out)


def code(text: str) -> str:
    """``text`` as an inline code span inside a table cell."""
    if text == "":
        return "*(empty)*"
    text = text.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def anchor(title: str) -> str:
    """GitHub's heading anchor for ``title``."""
    slug = re.sub(r"[^\w\- ]", "", title.lower()).strip()
    return slug.replace(" ", "-")


def _flags(var: Variable) -> str:
    flags = []
    if var.required:
        flags.append("required")
    if var.secret:
        flags.append("secret (generated)" if gen.generated(var) else "secret")
    return ", ".join(flags)


def render(
    defs: Definitions,
    *,
    command: str = COMMAND,
    sources: Sequence[str] = ("env/definitions.env",),
) -> str:
    """The whole document: header, overview, one table per section."""
    secrets_n = len(defs.secrets())
    required_n = sum(1 for v in defs if v.required)
    lines = [
        "# Environment variables",
        "",
        f"Every variable of the stack: {len(defs)} variables in {len(defs.sections)} sections "
        f"({secrets_n} secrets, {required_n} required). The single source of truth is "
        f"{', '.join(f'`{s}`' for s in sources)}; this page is generated from it.",
        "",
        "- `invoke env.init` writes a new `.env` with these defaults and a fresh random value "
        "for every secret marked *secret (generated)*; secrets marked only *secret* are "
        "credentials of external services that you supply.",
        "- `invoke env.check` validates a `.env` against the types below "
        "(`--production` also rejects shipped default secrets).",
        "- `invoke env.sync` adds variables introduced by an upgrade and keeps your values.",
        "",
        "Defaults are literal: `$` is a dollar sign, never an interpolation.",
        "",
        "## Sections",
        "",
    ]
    for section in defs.sections:
        lines.append(f"- [{section.title}](#{anchor(section.title)}) ({len(section.names)})")
    lines.append("")
    by_name = defs.by_name
    for section in defs.sections:
        lines.append(f"## {section.title}")
        lines.append("")
        if section.services:
            services = ", ".join(f"`{s}`" for s in section.services)
            lines.append(f"Services: {services}")
            lines.append("")
        lines.append("| Variable | Default | Type | Flags | Services | Description |")
        lines.append("|---|---|---|---|---|---|")
        for name in section.names:
            var = by_name[name]
            if not var.services:
                services = "(none)"
            elif var.services == section.services:
                services = "(section)"
            else:
                services = ", ".join(var.services)
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"`{var.name}`",
                        code(var.default),
                        cell(str(var.type)),
                        _flags(var),
                        cell(services),
                        cell(var.comment),
                    ]
                )
                + " |"
            )
        lines.append("")
    body = "\n".join(lines)
    # The header is an HTML comment: invisible when the Markdown is rendered.
    return generated.render(body, command=command, sources=sources, style=generated.HTML)
