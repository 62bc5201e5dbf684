"""The production compose file: gather inputs, render, check or write.

Two input modes share one renderer (:mod:`stack.compose.render`):

* this repository: the strict env definitions in ``env/`` and
  ``compose/docker-compose-template.yaml``;
* a foreign Dify-format repository (``--template``/``--env-file``): the
  ``.env.example`` is read by Dify's own rules, so the result renders under
  ``docker compose config`` exactly like the file Dify's generator makes.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from stack import generated, paths
from stack.compose import render as r
from stack.errors import Problem, ProblemsError, StackError, TemplateError

COMMAND = "invoke release.compose"


@dataclass
class Rendered:
    """A rendered compose file and what was noticed while rendering it."""

    text: str
    output: Path
    shown_output: str
    command: str
    warnings: list[Problem] = field(default_factory=list)
    #: Values to validate with (``--strict-secrets``: a placeholder for every secret).
    validate_env: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> generated.Target:
        """The file to write, in :mod:`stack.generated`'s terms."""
        return generated.Target(self.output, self.text, self.shown_output, self.command)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def _read_template(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TemplateError(
            f"{shown}: template not found", hint="pass --template PATH to an existing file"
        ) from None
    except OSError as exc:  # a directory, no permission...
        raise TemplateError(
            f"{shown}: cannot read the template: {exc.strerror or exc}",
            hint="pass --template PATH to a readable file",
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TemplateError(f"{shown}:{line}: not UTF-8 text", hint="save it as UTF-8") from None


def build(
    template: Path | None = None,
    env_file: Path | None = None,
    output: Path | None = None,
    *,
    strict: bool = False,
) -> Rendered:
    """Render the production file; pure apart from reading the inputs.

    ``strict`` is the secure release mode (:mod:`stack.compose.strict`): every ``@secret``
    reference is required, none keeps a default; only with the env definitions.
    """
    foreign = template is not None or env_file is not None
    if strict and foreign:
        raise StackError(
            "--strict-secrets needs the env definitions (their @secret flags)",
            hint="drop --template/--env-file, or drop --strict-secrets",
        )
    rewrite = None
    validate_env: dict[str, str] = {}
    template = template or paths.TEMPLATE
    tpl_shown = _shown(template)
    text = _read_template(template, tpl_shown)
    warnings: list[Problem] = []
    if env_file is None and not foreign:
        from stack.env.parse import load_definitions

        defs = load_definitions()
        variables = r.shared_from_definitions(defs)
        known = defs.defaults()
        output = output or paths.GENERATED_COMPOSE
        command = COMMAND
        sources = [tpl_shown, "env/"]
        if strict:
            from stack.compose import strict as st

            command += " --strict-secrets"
            validate_env = st.placeholders(defs)
            rewrite = functools.partial(st.strict_text, defs=defs)
        if output != paths.GENERATED_COMPOSE or strict:
            command += f" --output {shlex.quote(_shown(output))}"
        check_defaults = True
    else:
        from stack.env.parse import read_dify_env

        env_file = env_file or template.parent / ".env.example"
        env_shown = _shown(env_file)
        if not env_file.is_file():
            raise StackError(
                f"{env_shown}: env file not found", hint="pass --env-file PATH to the .env.example"
            )
        found, problems = read_dify_env(env_file, env_shown)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ProblemsError(f"{env_shown}: cannot render from this env file", problems)
        warnings.extend(problems)
        variables = [
            r.SharedVar(v.name, v.value, f"{env_shown}:{v.line}")
            for v in found
            if not v.name.startswith("COMPOSE_")
        ]
        known = {v.name: v.value for v in found}
        output = output or template.parent / "docker-compose.yaml"
        parts = [*COMMAND.split(), "--template", tpl_shown, "--env-file", env_shown]
        parts += ["--output", _shown(output)]
        command = shlex.join(parts)
        sources = [tpl_shown, env_shown]
        check_defaults = False
    for var in variables:  # a value YAML cannot carry (e.g. a lone surrogate) fails here
        try:
            r.shared_line(var)
        except ValueError as exc:
            raise StackError(f"{var.where}: {var.name}: {exc}") from None
    rendered = r.render(
        text, variables, command=command, sources=sources, template_name=tpl_shown, rewrite=rewrite
    )
    before, after = r.split_template(text, tpl_shown)
    warnings.extend(
        r.reference_problems(before + after, known, tpl_shown, check_defaults=check_defaults)
    )
    return Rendered(rendered, output, _shown(output), command, warnings, validate_env)


def check(rendered: Rendered) -> generated.Check:
    """Compare the file on disk with a fresh render, byte for byte (writes nothing)."""
    return generated.check(rendered.target)


def stale_diff(rendered: Rendered) -> str:
    """The diff between the file on disk and a fresh render ('' when up to date)."""
    return check(rendered).diff


def write(rendered: Rendered) -> generated.Written:
    """Write the file atomically when it changed (see :func:`stack.generated.write`).

    A file on disk that was edited by hand since it was generated (its digest no
    longer matches), or that this generator did not make, is first copied to a
    backup beside it, so nothing a user wrote is lost.
    """
    return generated.write(rendered.target)
