"""Well-known locations of the repository and the user cache."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_DIR = ROOT / "env"
COMPOSE_DIR = ROOT / "compose"
TEMPLATE = COMPOSE_DIR / "docker-compose-template.yaml"
GENERATED_COMPOSE = COMPOSE_DIR / "docker-compose.yaml"
IMAGES_DIR = COMPOSE_DIR / "images"


def cache_dir() -> Path:
    """Per-user cache (build contexts, downloaded wheels); never inside the repo.

    ``STACK_CACHE_DIR`` wins, then ``$XDG_CACHE_HOME/stack``, then ``~/.cache/stack``.
    """
    if os.environ.get("STACK_CACHE_DIR"):
        return Path(os.environ["STACK_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stack"
