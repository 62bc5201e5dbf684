"""``invoke release.k8s``: gather, render, then check or write the manifest directory.

The directory is owned (:class:`stack.generated.Owned`): ``--check`` also reports files
that are no longer generated, and a write removes them (backing up hand-made ones).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from stack import generated, paths
from stack.errors import Problem
from stack.k8s import render as r

DEFAULT_OUTPUT = paths.ROOT / "deploy" / "k8s"


@dataclass
class Request:
    output: Path = DEFAULT_OUTPUT
    env_file: Path | None = None
    namespace: str | None = None
    vector_store: str | None = None
    db: str | None = None
    strict: bool = False


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def command_of(req: Request) -> str:
    parts = r.COMMAND.split()
    if req.output.resolve() != DEFAULT_OUTPUT.resolve():
        parts += ["--output", _shown(req.output)]
    for flag, value in (
        ("--env-file", req.env_file and _shown(req.env_file)),
        ("--namespace", req.namespace),
        ("--vector-store", req.vector_store),
        ("--db", req.db),
    ):
        if value:
            parts += [flag, str(value)]
    if req.strict:
        parts.append("--strict-secrets")
    return shlex.join(parts)


def build(req: Request) -> dict[str, str]:
    """Render the manifests for ``req`` (runs ``docker compose config``; writes nothing)."""
    from stack.compose import production
    from stack.env.parse import load_definitions
    from stack.images.mirror import mirrors_from_env
    from stack.k8s.model import gather

    defs = load_definitions()
    compose_text = production.build().text
    template_text = paths.TEMPLATE.read_text(encoding="utf-8")
    overrides = {k: v for k, v in (("VECTOR_STORE", req.vector_store), ("DB_TYPE", req.db)) if v}
    inputs = gather(
        defs,
        compose_text,
        template_text,
        env_file=req.env_file,
        overrides=overrides,
        mirrors=mirrors_from_env(os.environ),
    )
    opts = r.Options(namespace=req.namespace or "stack", strict=req.strict, command=command_of(req))
    return r.render(inputs, opts)


def output_problem(flag: str, path: Path | None) -> Problem | None:
    """An existing ``--output`` must be a directory this command wrote before.

    The directory is owned: a write removes every file there that is not generated, so a
    directory that holds no ``kustomization.yaml`` with the generated-file header (an empty
    one, a typo for ``$HOME``) is refused; a path that does not exist yet is created.
    """
    if path is None or not path.is_dir():
        return None
    kust = path / "kustomization.yaml"
    if generated.state(generated.read(kust) if kust.is_file() else None) in (
        generated.State.OURS,
        generated.State.EDITED,
    ):
        return None
    return Problem(
        flag,
        f"{path} is not a directory made by `{r.COMMAND}` (no generated kustomization.yaml); "
        "it would own every file there",
        f"give {flag} a path that does not exist yet (it is created), e.g. {flag} ./k8s",
    )


def targets(req: Request, texts: dict[str, str]) -> tuple[list[generated.Target], generated.Owned]:
    shown = _shown(req.output)
    out = [
        generated.Target(req.output / rel, text, f"{shown}/{rel}", command_of(req))
        for rel, text in texts.items()
    ]
    return out, generated.Owned(req.output, "*", shown)
