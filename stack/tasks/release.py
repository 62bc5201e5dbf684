"""Release tasks: generate the production compose file."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, task
from invoke.exceptions import Exit

from stack.tasks._common import failures, report


@task(
    help={
        "check": "Write nothing; exit 1 with a unified diff when the file on disk is stale.",
        "template": "Template to render (default compose/docker-compose-template.yaml). "
        "Its first line must be the bare `x-shared-env: &shared-api-worker-env` anchor.",
        "env_file": "A Dify-format .env.example to read instead of env/ (Dify's rules; "
        "warnings name file:line wherever strict dotenv would read a line differently).",
        "output": "Where to write (default compose/docker-compose.yaml, or "
        "docker-compose.yaml beside --template).",
        "skip_validate": "Do not run `docker compose config` on the result.",
    }
)
def compose(c, check=False, template=None, env_file=None, output=None, skip_validate=False):
    """Render the production docker-compose.yaml from the template and env definitions.

    Header + `x-shared-env` anchor block (one KEY: ${KEY:-default} line per shared
    variable, in definition order) + the template body byte for byte, then
    validated with `docker compose config` for the default profiles and for all.
    """
    from stack.compose import production, validate

    with failures():
        rendered = production.build(
            Path(template) if template else None,
            Path(env_file) if env_file else None,
            Path(output) if output else None,
        )
        report(rendered.warnings)
        if not skip_validate:
            validate.validate(
                rendered.text,
                project_dir=rendered.output.parent,
                name=rendered.output.name,
            )
        if check:
            diff = production.stale_diff(rendered)
            if diff:
                print(diff, end="")
                raise Exit(
                    f"{rendered.shown_output} is stale or was edited by hand; "
                    f"run `{rendered.command}` and commit the result",
                    1,
                )
            print(f"{rendered.shown_output} is up to date")
            return
        written = production.write(rendered)
        if written.backup:
            print(f"warning: {written.reason}; saved it as {written.backup}")
        state = "written" if written.changed else "unchanged"
        print(f"{rendered.shown_output} {state}")


ns = Collection("release")
ns.add_task(compose)
