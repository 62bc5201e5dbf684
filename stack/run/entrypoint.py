"""The backend image's entrypoint: ``python -m stack.run.entrypoint`` (``MODE`` picks the row).

It reads ``MODE`` and the environment the container received, builds the command from
the MODE table (:mod:`stack.run.modes`, the same function ``invoke run.*`` uses), runs
the migration first for ``MODE=api`` when ``MIGRATION_ENABLED=true`` (as the platform's
entrypoint does), then replaces itself with the program (``os.execvp``), from the app
directory.  Variables the container did not receive fall back to the definitions'
defaults when ``env/`` is available.

Options: ``--app-dir DIR`` (default ``$STACK_APP_DIR`` or the bundled ``stack/app``),
``--state-dir DIR`` (default ``$STACK_RUN_STATE_DIR`` or ``<tmp>/stack-run``),
``--dry-run`` (print the command lines and exit).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from stack.errors import StackError
from stack.run import modes as m


def defaults() -> dict[str, str]:
    """The definitions' defaults, or nothing when ``env/`` is not shipped."""
    try:
        from stack.env.parse import load_definitions

        return load_definitions().defaults()
    except (StackError, OSError, ImportError):
        return {}


def plan(
    environ: Mapping[str, str],
    *,
    app_dir: Path,
    state_dir: Path,
    python: str,
    base: Mapping[str, str] | None = None,
) -> m.Command:
    """The command for ``environ["MODE"]`` (``base``: defaults under the environment)."""
    name = environ.get("MODE", "")
    if not name:
        raise m.RunError(
            "MODE is not set", hint=f"set MODE to one of: {', '.join(m.MODES)} (e.g. MODE=api)"
        )
    env = {**(base or {}), **environ}
    return m.command(name, env, app_dir=app_dir, state_dir=state_dir, python=python)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    execvpe: Callable[[str, list[str], dict[str, str]], object] = os.execvpe,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.run.entrypoint", description=__doc__)
    parser.add_argument("--app-dir", type=Path, help="backend directory (holds app.py)")
    parser.add_argument("--state-dir", type=Path, help="local state (beat's schedule)")
    parser.add_argument("--dry-run", action="store_true", help="print the command lines")
    args = parser.parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    app_dir = args.app_dir or Path(env.get("STACK_APP_DIR") or m.DEFAULT_APP_DIR)
    state_dir = args.state_dir or Path(
        env.get("STACK_RUN_STATE_DIR") or Path(tempfile.gettempdir()) / "stack-run"
    )
    try:
        cmd = plan(
            env, app_dir=app_dir, state_dir=state_dir, python=sys.executable, base=defaults()
        )
    except StackError as exc:
        print(f"entrypoint: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.dry_run:
        for step in (*cmd.first, cmd):
            print(shlex.join(step.argv))
        return 0
    full = {**defaults(), **env}
    for step in cmd.first:
        print(f"entrypoint: MODE={step.mode}: {shlex.join(step.argv)}", flush=True)
        code = subprocess.call(list(step.argv), cwd=step.cwd, env={**full, "MODE": step.mode})
        if code != 0:
            print(f"entrypoint: MODE={step.mode} failed (exit code {code})", file=sys.stderr)
            return code
    state_dir.mkdir(parents=True, exist_ok=True)
    print(f"entrypoint: MODE={cmd.mode}: {shlex.join(cmd.argv)}", flush=True)
    os.chdir(cmd.cwd)
    execvpe(cmd.argv[0], list(cmd.argv), full)
    return 0  # only reached with a test double for execvpe


if __name__ == "__main__":
    sys.exit(main())
