"""The environment ``invoke run.*`` gives the backend, layer by layer, and where each value
came from (``--explain``).

Layers, lowest first (a later layer wins):

1. the definitions' defaults (``env/definitions.env``);
2. the dev middleware's published endpoints, derived from the same plan as ``dev.up``:
   every value naming a planned service by its container name (``DB_HOST=db_postgres``,
   ``CELERY_BROKER_URL=redis://:pw@redis:6379/1``) points at ``127.0.0.1`` and the
   service's ``EXPOSE_*`` port (see :mod:`stack.run.endpoints` for the rule);
3. the user's ``.env`` (or ``--env-file``);
4. the process environment.

The endpoint rule of layer 2 applies to the values of *every* layer, because ``env.init``
writes every variable into ``.env`` with its container default: a value that still names
a middleware service is rewritten (credentials inside a URL kept); a host set to anything
else is kept.  The backend process receives every variable the backend services receive
in production (``x-shared-env``) plus ``MODE``, on top of the rest of the process
environment (``PATH``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.env.model import Definitions
from stack.errors import Problem, ProblemsError
from stack.run.endpoints import URL_RE, Endpoint, rewrite_all

MASK = "****"
#: Where the backend keeps its local state (read by stack.app.config.state_dir).
STATE_VAR = "STACK_RUN_STATE_DIR"


@dataclass(frozen=True)
class Value:
    """One effective value and its origin."""

    name: str
    value: str
    source: str  # default | .env:12 | environment
    secret: bool = False
    original: str | None = None  # the value before the endpoint rewrite
    service: str | None = None  # the middleware service it points at
    note: str = ""

    @property
    def origin(self) -> str:
        """Human-readable origin, e.g. ``.env:348, db_postgres -> dev endpoint``."""
        if self.original is None:
            text = self.source
        elif self.source == "default":
            text = f"dev plan ({self.service}; default {self.shown(self.original)})"
        else:
            text = f"{self.source}, {self.shown(self.original)} -> dev endpoint of {self.service}"
        return f"{text}; {self.note}" if self.note else text

    def shown(self, value: str | None = None) -> str:
        """The value with secrets masked (a URL keeps everything but its password)."""
        text = self.value if value is None else value
        if not self.secret or not text:
            return text
        match = URL_RE.match(text)
        if match and match["userinfo"]:
            user, _, _pw = match["userinfo"][:-1].partition(":")
            return text.replace(match["userinfo"], f"{user}:{MASK}@", 1)
        if match:
            return text
        return MASK


@dataclass(frozen=True)
class Environment:
    """The effective values of every definition, plus what the child process gets."""

    values: Mapping[str, Value]
    passed: tuple[str, ...]  # names handed to the backend process

    def __getitem__(self, name: str) -> str:
        return self.values[name].value

    def flat(self) -> dict[str, str]:
        return {n: v.value for n, v in self.values.items()}

    def child_env(
        self, base: Mapping[str, str], mode: str, state_dir: Path | None = None
    ) -> dict[str, str]:
        """``base`` (the process environment) with every passed variable and ``MODE``;
        ``STACK_RUN_STATE_DIR`` (the backend's local state: files, beat's schedule)."""
        env = dict(base)
        for name in self.passed:
            env[name] = self.values[name].value
        env["MODE"] = mode
        if state_dir is not None:
            env[STATE_VAR] = str(state_dir)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def explain(self, names: list[str] | None = None) -> str:
        """One line per value: ``NAME = value   (origin)``, secrets masked."""
        chosen = names if names is not None else list(self.passed)
        rows = [(n, self.values[n]) for n in chosen if n in self.values]
        width = max((len(n) for n, _ in rows), default=0)
        lines = [
            "effective environment (later layers win: definitions' defaults < dev middleware"
            " endpoints < .env / --env-file < process environment):"
        ]
        for name, val in rows:
            lines.append(f"  {name:<{width}} = {val.shown()}   ({val.origin})")
        return "\n".join(lines)


def layer(
    defs: Definitions,
    *,
    endpoints: Mapping[str, Endpoint],
    dotenv: Mapping[str, tuple[str, int]] | None = None,
    dotenv_name: str = ".env",
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Resolve every definition through the four layers (pure)."""
    raw: dict[str, tuple[str, str]] = {v.name: (v.default, "default") for v in defs}
    for name, (value, line) in (dotenv or {}).items():
        if name in defs:
            raw[name] = (value, f"{dotenv_name}:{line}")
    for name, value in (environ or {}).items():
        if name in defs:
            raw[name] = (value, "environment")
    rewrites = rewrite_all({n: v for n, (v, _) in raw.items()}, endpoints)
    values: dict[str, Value] = {}
    for var in defs:
        value, source = raw[var.name]
        rw = rewrites.get(var.name)
        if rw and rw.changed:
            values[var.name] = Value(
                var.name, rw.value, source, var.secret, value, rw.service, rw.note
            )
        else:
            note = rw.note if rw else ""
            values[var.name] = Value(var.name, value, source, var.secret, note=note)
    problems = []
    for var in defs:
        val = values[var.name]
        reason = var.type.check(val.value)
        if reason:
            problems.append(
                Problem(
                    f"{var.name} ({val.source})",
                    reason,
                    f"set a valid {var.name} (see docs/ENV.md)",
                )
            )
    if problems:
        raise ProblemsError("invalid settings for the backend", problems)
    passed = tuple(v.name for v in defs.shared())
    return Environment(values, passed)


def read_dotenv(path: Path) -> dict[str, tuple[str, int]]:
    """The user's ``.env`` values with line numbers (absent file: nothing)."""
    if not path.is_file():
        return {}
    from stack.dev.settings import read_dotenv as read

    return read(path)
