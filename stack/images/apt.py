"""Debian mirror discovery for the stand-in base: the host's apt sources, no host name
hard-coded.

The one-line ``sources.list`` files and deb822 ``*.sources`` files are read in apt's order;
the mirror is the first ``deb`` entry for the suite (bookworm) with component ``main``, unless
``STACK_DEBIAN_MIRROR`` names one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stack.errors import ImageError

#: The Debian suite the stand-in base is made of (part of the base recipe's hash).
SUITE = "bookworm"


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source entry."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    origin: str  # file:line


def _one_line_sources(path: Path) -> Iterable[AptSource]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) < 2:
            continue
        yield AptSource(words[0], (words[1],), tuple(words[2:]), f"{path}:{no}")


def _deb822_sources(path: Path) -> Iterable[AptSource]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    stanza: dict[str, str] = {}
    start = 1
    key = ""

    def flush(at: int) -> Iterable[AptSource]:
        if not stanza:
            return
        if stanza.get("enabled", "yes").lower() == "no":
            return
        if "deb" not in stanza.get("types", "").split():
            return
        for uri in stanza.get("uris", "").split():
            yield AptSource(
                uri,
                tuple(stanza.get("suites", "").split()),
                tuple(stanza.get("components", "").split()),
                f"{path}:{at}",
            )

    for no, raw in enumerate([*text.splitlines(), ""], 1):
        if raw.startswith("#"):
            continue
        if not raw.strip():
            yield from flush(start)
            stanza, key = {}, ""
            start = no + 1
            continue
        if raw[0] in " \t" and key:
            stanza[key] += " " + raw.strip()
            continue
        k, sep, v = raw.partition(":")
        if sep:
            key = k.strip().lower()
            stanza[key] = v.strip()


def apt_sources(root: Path = Path("/etc/apt")) -> list[AptSource]:
    """All ``deb`` entries of the host, in apt's reading order."""
    found: list[AptSource] = []
    found.extend(_one_line_sources(root / "sources.list"))
    parts = root / "sources.list.d"
    if parts.is_dir():
        for f in sorted(parts.iterdir()):
            if f.suffix == ".list":
                found.extend(_one_line_sources(f))
            elif f.suffix == ".sources":
                found.extend(_deb822_sources(f))
    return found


def host_mirror(suite: str = SUITE, root: Path = Path("/etc/apt")) -> str:
    """URI of the main archive for ``suite`` from the host's apt sources."""
    sources = apt_sources(root)
    for s in sources:
        if suite in s.suites and "main" in s.components and "security" not in s.uri:
            return s.uri.rstrip("/")
    listed = "; ".join(f"{s.origin} {s.uri} {' '.join(s.suites)}" for s in sources) or "none"
    raise ImageError(
        f"no '{suite}' main archive in the host's apt sources ({root}/sources.list, "
        f"{root}/sources.list.d/*.list|*.sources); found: {listed}",
        hint=f"add a 'deb <mirror> {suite} main' source, or set STACK_DEBIAN_MIRROR=<url>",
    )


def mirror() -> str:
    """Mirror to debootstrap from: STACK_DEBIAN_MIRROR if set, else the host's apt sources."""
    return os.environ.get("STACK_DEBIAN_MIRROR", "").rstrip("/") or host_mirror()
