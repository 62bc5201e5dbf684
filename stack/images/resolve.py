"""Decide which image a service runs: upstream, mirrored, offline stand-in, or missing.

Order of preference: the upstream ref (or its mirrored form) when present locally; then,
online with a mirror mapped for the image's registry (``STACK_REGISTRY_MIRRORS``), the mirrored
ref to be pulled -- a configured mirror means "use the real image"; then the built stand-in
(``stack-standin/<recipe>:<hash12>``); then -- unless offline -- the upstream ref to be pulled.
Offline (``STACK_OFFLINE=1``) and nothing local: ``missing``, with the remedy
(``invoke images.build --only <recipe>`` or a mirror).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from stack.errors import ImageError
from stack.images.base import local_images
from stack.images.build import standin_tag
from stack.images.catalog import ImageEntry
from stack.images.mirror import ENV_VAR, rewrite

Kind = Literal["upstream", "mirror", "standin", "missing"]
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Resolution:
    """The image to use for one catalog entry, how it was chosen, and the fix if missing."""

    entry: ImageEntry
    ref_to_use: str
    kind: Kind
    remedy: str = ""

    @property
    def needs_pull(self) -> bool:
        """True when the ref is not local and would have to be pulled."""
        return self.kind in ("upstream", "mirror") and bool(self.remedy)


def offline(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``STACK_OFFLINE`` is 1/true/yes/on: nothing may be pulled."""
    env = os.environ if environ is None else environ
    return env.get("STACK_OFFLINE", "").strip().lower() in _TRUE


def standin_ref(name: str) -> str:
    """Current hash tag of stand-in recipe ``name`` (built or not)."""
    return standin_tag(name)


def resolve(
    entry: ImageEntry,
    *,
    offline: bool,
    mirrors: Mapping[str, str],
    present: Callable[[str], bool],
) -> Resolution:
    """Pick the image for ``entry`` (see module docstring)."""
    mirrored = rewrite(entry.ref, mirrors)
    if present(entry.ref):
        return Resolution(entry, entry.ref, "upstream")
    if mirrored != entry.ref and present(mirrored):
        return Resolution(entry, mirrored, "mirror")
    if mirrored != entry.ref and not offline:
        return Resolution(entry, mirrored, "mirror", remedy=f"will be pulled: {mirrored}")
    standin = None
    if entry.standin:
        try:
            standin = standin_ref(entry.standin)
        except ImageError:  # recipe not in this checkout
            standin = None
    if standin and present(standin):
        return Resolution(entry, standin, "standin")
    if not offline:
        return Resolution(entry, entry.ref, "upstream", remedy=f"will be pulled: {entry.ref}")
    fixes = []
    if entry.standin:
        fixes.append(f"invoke images.build --only {entry.standin}")
    from stack.images.mirror import parse_ref

    registry = parse_ref(entry.ref).registry
    fixes.append(f"set {ENV_VAR}={registry}=<mirror>/... and unset STACK_OFFLINE to pull")
    fixes.append(f"or load {entry.ref} into the engine (docker load)")
    why = "offline (STACK_OFFLINE=1) and no local copy"
    if not entry.standin:
        why += "; no offline stand-in exists for it"
    return Resolution(entry, mirrored, "missing", remedy=f"{why}: " + "; ".join(fixes))


def present_checker(refs: set[str]) -> Callable[[str], bool]:
    """``present`` callback matching Docker Hub short and long forms alike."""
    from stack.images.mirror import parse_ref

    normal = set()
    for r in refs:
        try:
            normal.add(str(parse_ref(r)))
        except Exception:  # odd local tags are just not matched
            continue

    def present(ref: str) -> bool:
        if ref in refs:
            return True
        try:
            return str(parse_ref(ref)) in normal
        except Exception:
            return False

    return present


def resolve_all(
    names: list[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    refs: set[str] | None = None,
) -> dict[str, Resolution]:
    """Resolve catalog entries with the process settings (offline flag, mirrors, local images)."""
    from stack.images.catalog import IMAGES
    from stack.images.mirror import mirrors_from_env

    env = os.environ if environ is None else environ
    mirrors = mirrors_from_env(env)
    present = present_checker(local_images() if refs is None else refs)
    off = offline(env)
    chosen = names or list(IMAGES)
    return {n: resolve(IMAGES[n], offline=off, mirrors=mirrors, present=present) for n in chosen}
