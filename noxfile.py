"""nox sessions: thin wiring around ruff, mypy, pytest and the stack tasks.

Sessions run in the environment where the project is installed
(`pip install -e '.[dev]'`, which `scripts/setup` does), so nothing is
installed twice and every session can import `stack`.  Positional arguments
after `--` replace a session's defaults.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

from stack.release.variants import VARIANTS
from stack.stores.catalog import STORES

nox.options.sessions = ["lint", "typecheck", "tests", "compose", "k8s"]
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False

PYTEST = ("python", "-m", "pytest")

# Sessions use no venv of their own: put the bin directory of the interpreter running nox
# (the project's .venv when started as `.venv/bin/nox`) first on PATH, so `python`, `ruff`,
# `mypy` and `invoke` are the project's even from a plain shell without an activated venv.
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: formatting check, then lint rules (posargs: paths)."""
    paths = session.posargs or ["."]
    session.run("ruff", "format", "--check", "--diff", *paths)
    session.run("ruff", "check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the stack package."""
    session.run("mypy", *(session.posargs or ["stack"]))


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tier: pure logic plus `docker compose config`; no engine needed."""
    session.run(*PYTEST, *(session.posargs or ["tests/unit", "-q", "-m", "not integration"]))


@nox.session
def compose(session: nox.Session) -> None:
    """Generated files are up to date: the compose file (validated too) and docs/ENV.md."""
    session.run("invoke", "release.compose", "--check", *session.posargs)
    session.run("invoke", "env.doc", "--check")


@nox.session
def k8s(session: nox.Session) -> None:
    """Kubernetes manifests: deploy/k8s up to date, schema-valid (1.30 + newest), env parity."""
    session.run("invoke", "release.k8s", "--check")
    tests = ["tests/unit/test_k8s_render.py", "-q", "-k", "schema"]
    session.run(*PYTEST, *(session.posargs or tests))


@nox.session(default=False)
def integration(session: nox.Session) -> None:
    """Integration tier: real Docker engine and stand-in images (`invoke engine.ensure`)."""
    session.run(*PYTEST, *(session.posargs or ["tests/integration", "-m", "integration", "-q"]))


@nox.session(default=False)
def vdb(session: nox.Session) -> None:
    """Per-vector-store contract suite, every store in ONE pytest process.

    `nox -s vdb` runs all of stack.stores.catalog.STORES; `nox -s vdb -- pgvector chroma`
    runs the named ones (posargs replace the default; options starting with `-` pass
    through to pytest). Under CI=true (or `--require`) a skipped required store fails.
    """
    from stack.stores.catalog import STORES

    names = [a for a in session.posargs if not a.startswith("-")] or list(STORES)
    extra = [a for a in session.posargs if a.startswith("-")]
    unknown = sorted(set(names) - set(STORES))
    if unknown:
        session.error(f"unknown store(s): {', '.join(unknown)}; known: {', '.join(STORES)}")
    # -rfE: the per-store summary already explains every skip, one line per store.
    session.run(*PYTEST, "tests/vdb", "-m", "vdb", "-rfE", f"--stores={','.join(names)}", *extra)


@nox.session(default=False, tags=["matrix"])
@nox.parametrize("store", list(STORES), ids=list(STORES))
def vdb_store(session: nox.Session, store: str) -> None:
    """One vector store's contract suite: a CI matrix job per store (`nox -l --json -t matrix`).

    Generated from stack.stores.catalog.STORES, like `vdb` (which starts them all in one
    process); posargs are passed to pytest.
    """
    session.run(*PYTEST, "tests/vdb", "-m", "vdb", "-rfE", f"--stores={store}", *session.posargs)


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """End-to-end tier: the real `invoke` CLI driving the engine, as a developer types it."""
    session.run(*PYTEST, *(session.posargs or ["tests/e2e", "-m", "e2e", "-q"]))


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """CLI fuzz tier: every task x flag (read from the invoke Collections) with invalid values.

    STACK_FUZZ_EXAMPLES (default 4) sets how many hypothesis values are added per flag.
    """
    session.run(*PYTEST, *(session.posargs or ["tests/fuzz", "-m", "e2e", "-q"]))


@nox.session(default=False, tags=["matrix"])
@nox.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def smoke(session: nox.Session, variant: str) -> None:
    """`invoke release.smoke` of the production file for one DB_TYPE+VECTOR_STORE pair
    (nginx on a free port; posargs replace `--port FREE`, e.g. `-- --port 8080 --keep`)."""
    from stack.dev.ports import free_ports
    from stack.release import variants

    env_file = variants.write(variant, session.create_tmp())
    args = session.posargs or ["--port", str(free_ports(1)[0])]
    session.run("invoke", "release.smoke", "--env-file", str(env_file), *args)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks as ratios to same-run baselines (posargs: cli dev vdb --runs N)."""
    session.run("python", "-m", "stack.bench", *session.posargs)
