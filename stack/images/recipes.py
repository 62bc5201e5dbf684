"""Stand-in recipe discovery and hashing: ``compose/images/<name>/`` and its tag.

A recipe directory holds a ``Dockerfile``, the files it copies, optionally ``wheels.txt``
(see :mod:`stack.images.context`) and ``sources.txt``: repository paths copied into the
context under ``src/`` and hashed into the tag (the api stand-in ships the ``stack`` package
this way).  Images are tagged ``stack-standin/<name>:<hash12>`` where the hash covers every
recipe file (content and executable bit), the listed sources, the base hash and the build
scheme, so the tag is known before building.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from stack.errors import ImageError
from stack.images.base import NAMESPACE, base_hash
from stack.images.catalog import STANDIN_RECIPES
from stack.paths import IMAGES_DIR

BUILD_SCHEME = "1"
_IGNORED = {"__pycache__", ".DS_Store"}


def has_recipe(name: str) -> bool:
    """True when ``compose/images/<name>/Dockerfile`` exists."""
    return (IMAGES_DIR / name / "Dockerfile").is_file()


def recipe_dir(name: str) -> Path:
    """``compose/images/<name>``; ImageError when it does not exist."""
    d = IMAGES_DIR / name
    if not has_recipe(name):
        raise ImageError(
            f"no stand-in recipe {d}/Dockerfile",
            hint="known recipes: " + ", ".join(available_recipes()),
        )
    return d


def available_recipes() -> list[str]:
    """Recipe names present under compose/images/ (catalog order first)."""
    present = {p.parent.name for p in IMAGES_DIR.glob("*/Dockerfile")}
    ordered = [n for n in STANDIN_RECIPES if n in present]
    return ordered + sorted(present - set(ordered))


def recipe_files(d: Path) -> list[Path]:
    """Every file below ``d`` (sorted; caches such as ``__pycache__`` left out)."""
    files = []
    for p in sorted(d.rglob("*")):
        if any(part in _IGNORED for part in p.relative_to(d).parts):
            continue
        if p.is_file():
            files.append(p)
    return files


def is_script(p: Path) -> bool:
    """True when ``p`` starts with ``#!`` (made executable in the build context)."""
    try:
        with p.open("rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def source_files(d: Path) -> list[tuple[str, Path]]:
    """Repository files a recipe's optional ``sources.txt`` lists (one path a line, ``#``
    comments; a directory means its files), as ``(repo-relative path, file)``.

    They are copied into the build context under ``src/`` and hashed into the tag, so a
    change of those sources (e.g. the reference backend for the api image) rebuilds it.
    """
    from stack.paths import ROOT

    listing = d / "sources.txt"
    if not listing.is_file():
        return []
    out: list[tuple[str, Path]] = []
    for n, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        src = (ROOT / entry).resolve()
        if ".." in Path(entry).parts or not src.is_relative_to(ROOT.resolve()) or not src.exists():
            raise ImageError(
                f"{listing}:{n}: {entry!r} is not a path inside the repository",
                hint="list repository-relative files or directories that exist",
            )
        files = recipe_files(src) if src.is_dir() else [src]
        out += [(p.relative_to(ROOT.resolve()).as_posix(), p) for p in files]
    return sorted(dict(out).items())


def recipe_hash(name: str) -> str:
    """12-hex hash of the recipe files (+ its ``sources.txt`` files) + base hash + scheme."""
    d = recipe_dir(name)
    h = hashlib.sha256()
    h.update(f"scheme={BUILD_SCHEME};base={base_hash()};name={name}\0".encode())
    for p in recipe_files(d):
        rel = p.relative_to(d).as_posix()
        h.update(rel.encode() + b"\0")
        h.update(b"x" if (is_script(p) or os.access(p, os.X_OK)) else b"-")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    for rel, p in source_files(d):
        h.update(b"src/" + rel.encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:12]


def standin_tag(name: str) -> str:
    """``stack-standin/<name>:<hash12>`` for the current recipe."""
    return f"{NAMESPACE}/{name}:{recipe_hash(name)}"
