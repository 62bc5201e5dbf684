"""What the dev tasks act on (:class:`DevOptions`), the labels they put on everything, and
the validation of the task flags before any work starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stack import paths
from stack.errors import DevError

DEFAULT_PROJECT = "stack-dev"
DEFAULT_TIMEOUT = 180.0
MAX_TIMEOUT = 3600.0
EXTRA_LABELS_VAR = "STACK_EXTRA_LABELS"
#: Where the derived dev compose files live (default ``.stack/dev`` in the checkout).
STATE_DIR_VAR = "STACK_STATE_DIR"


@dataclass
class DevOptions:
    """What the dev tasks act on; every field has a sensible default."""

    project: str = DEFAULT_PROJECT
    vector_store: str | None = None
    db: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    environ: Mapping[str, str] | None = None
    dotenv: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None
    out: Callable[[str], None] = print

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    @property
    def state_root(self) -> Path:
        """The directory holding one sub-directory per dev project."""
        if self.state_dir is not None:
            return self.state_dir
        if self.env.get(STATE_DIR_VAR):
            return Path(self.env[STATE_DIR_VAR])
        return paths.ROOT / ".stack" / "dev"

    @property
    def private_top(self) -> Path:
        """The topmost directory made private (0700): ``.stack`` for the default root."""
        default = paths.ROOT / ".stack" / "dev"
        return default.parent if self.state_root == default else self.state_root

    @property
    def project_dir(self) -> Path:
        return self.state_root / self.project

    @property
    def compose_file(self) -> Path:
        return self.project_dir / "compose.yaml"

    @property
    def dotenv_path(self) -> Path:
        return self.dotenv if self.dotenv is not None else paths.ROOT / ".env"


def extra_labels(environ: Mapping[str, str]) -> dict[str, str]:
    """Labels from ``STACK_EXTRA_LABELS=k=v,k=v`` (e.g. a CI job or test session owner)."""
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in environ.get(EXTRA_LABELS_VAR, "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DevError(
                f"{EXTRA_LABELS_VAR}: {item!r} is not key=value",
                hint=f"write {EXTRA_LABELS_VAR}=org.example.job=42,owner=me",
            )
        out[key.strip()] = value.strip()
    return out


def base_labels(opts: DevOptions) -> dict[str, str]:
    """Labels on every container, network and volume of the dev middleware."""
    from stack.engine.labels import LABEL_PROJECT, LABEL_PURPOSE, PROJECT_VALUE

    return {
        LABEL_PROJECT: PROJECT_VALUE,
        LABEL_PURPOSE: "dev",
        **extra_labels(opts.env),
        **opts.labels,
    }


def check_flags(
    *,
    project: str | None = None,
    vector_store: str | None = None,
    db: str | None = None,
    timeout: object = None,
    service: str | None = None,
) -> None:
    """Validate the dev tasks' flags before any work starts (every problem at once)."""
    from stack import argcheck as a

    problems = [
        a.project_name("--project", project),
        a.number("--timeout", timeout, low=1, high=MAX_TIMEOUT),
    ]
    if service is not None:
        from stack.compose.hints import template_hints

        dev_services = tuple(template_hints())  # every service dev can run has a hint
        problems.append(
            a.not_utf8("--service", service) or a.choice("--service", service, dev_services)
        )
    if vector_store is not None or db is not None:
        from stack.env.parse import load_definitions

        defs = load_definitions()
        problems.append(a.choice("--vector-store", vector_store, defs["VECTOR_STORE"].type.choices))
        problems.append(a.choice("--db", db, defs["DB_TYPE"].type.choices))
    a.raise_all(*problems)
