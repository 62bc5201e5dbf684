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
        "strict_secrets": "Secure release mode (needs --output PATH): every @secret variable "
        "becomes ${VAR:?...} (no shipped default), so `docker compose up` without a .env "
        "from `invoke env.init` refuses to start and names the variable. Validated with "
        "placeholder secrets.",
    }
)
def compose(
    c,
    check=False,
    template=None,
    env_file=None,
    output=None,
    skip_validate=False,
    strict_secrets=False,
):
    """Render the production docker-compose.yaml from the template and env definitions.

    Header + `x-shared-env` anchor block (one KEY: ${KEY:-default} line per shared
    variable, in definition order) + the template body byte for byte, then
    validated with `docker compose config` for the default profiles and for all
    (a text already validated unchanged, with the same compose and environment, is
    not validated again: the results are cached in the user cache directory).
    """
    from stack import argcheck as a
    from stack.compose import production, strict, validate

    with failures():
        a.raise_all(
            a.input_file("--template", template),
            a.input_file("--env-file", env_file),
            a.output_path("--output", output, writing=not check),
            *(
                strict.flag_problems(output, template=template, env_file=env_file)
                if strict_secrets
                else ()
            ),
        )
        rendered = production.build(
            Path(template) if template else None,
            Path(env_file) if env_file else None,
            Path(output) if output else None,
            strict=strict_secrets,
        )
        report(rendered.warnings)
        if not skip_validate:
            validate.validate(
                rendered.text,
                project_dir=rendered.output.parent,
                name=rendered.output.name,
                env=rendered.validate_env,
            )
        if check:
            result = production.check(rendered)
            if not result.up_to_date:
                print(result.diff, end="")
                raise Exit(f"{result.problem}; run `{rendered.command}` and commit the result", 1)
            print(f"{rendered.shown_output} is up to date")
            return
        written = production.write(rendered)
    if written.backup:
        print(f"warning: {written.reason}; saved it as {written.backup}")
    state = "written" if written.changed else "unchanged"
    print(f"{rendered.shown_output} {state}")


@task(
    help={
        "env_file": "The .env to deploy with (default: the repository's .env when there is "
        "one, else the definitions' defaults); DB_TYPE and VECTOR_STORE pick the profiles.",
        "project": "Compose project name (default stack-smoke).",
        "port": "Host port for nginx, 1-65535 (default EXPOSE_NGINX_PORT, 80). "
        "With --port, HTTPS is published on a free port.",
        "keep": "Leave the deployment running and print how to reach it "
        "(remove it with `invoke release.down`).",
        "timeout": "Seconds allowed for the start and for the checks (default 600).",
    }
)
def smoke(c, env_file=None, project=None, port=None, keep=False, timeout=None):
    """Boot the committed production compose file with local stand-ins and check it.

    Runs compose/docker-compose.yaml plus an override (stand-in images, ownership labels)
    from a temporary copy of compose/, starts every service whose image can be had (the
    others are listed), checks through nginx (/v1/health, the web page, ingest -> index ->
    search, beat's periodic task) and the engine (init_permissions, uid 1001), prints a
    table and removes everything (also on failure or Ctrl-C) unless --keep.
    """
    from stack import argcheck as a
    from stack.release import smoke as sm

    with failures():
        a.raise_all(
            a.input_file("--env-file", env_file),
            a.project_name("--project", project),
            a.number("--port", port, low=1, high=65535, integer=True),
            a.number("--timeout", timeout, low=1, high=3600),
        )
        opts = sm.Options(
            project=project or sm.DEFAULT_PROJECT,
            port=None if port is None else int(port),
            env_file=Path(env_file) if env_file else None,
            keep=keep,
            timeout=float(timeout) if timeout is not None else sm.DEFAULT_TIMEOUT,
        )
        outcome = sm.run(opts)
        print(sm.summary(outcome))
        if not outcome.ok:
            raise Exit("error: smoke checks failed (see the table above)", 1)


@task(help={"project": "Compose project of the kept smoke deployment (default stack-smoke)."})
def down(c, project=None):
    """Remove a smoke deployment kept with `invoke release.smoke --keep`."""
    from stack import argcheck as a
    from stack.release import smoke as sm

    with failures():
        a.raise_all(a.project_name("--project", project))
        sm.down(project or sm.DEFAULT_PROJECT)


@task(
    help={
        "output": "Directory to write the manifests into (default deploy/k8s): a new path "
        "(created; its parent must exist) or one this command wrote. It is owned: files there "
        "that are no longer generated are removed (hand-made ones backed up).",
        "check": "Write nothing; exit 1 with a unified diff when a file is stale, missing, "
        "edited by hand or extra.",
        "strict_secrets": "Render no Secret values: the manifests reference Secrets supplied "
        "from outside (keys listed in secrets.env.example).",
        "env_file": "A .env whose values override the definitions, read by compose's rules "
        "(as `docker compose --env-file` would).",
        "namespace": "Kubernetes namespace (a DNS-1123 label; default stack).",
        "vector_store": "VECTOR_STORE to deploy (default: the .env's, else the definitions').",
        "db": "DB_TYPE to deploy (default: the .env's, else the definitions').",
    }
)
def k8s(
    c,
    output=None,
    check=False,
    strict_secrets=False,
    env_file=None,
    namespace=None,
    vector_store=None,
    db=None,
):
    """Render Kubernetes manifests + kustomization.yaml from the same definitions as compose.

    `kubectl apply -k DIR` deploys them. The compose model comes from `docker compose
    config` (profiles of DB_TYPE and VECTOR_STORE); images are the catalog's pins (with
    STACK_REGISTRY_MIRRORS applied). Every file carries the generated-file header.
    """
    from stack import argcheck as a
    from stack import generated
    from stack.env.parse import load_definitions
    from stack.k8s import release as k

    with failures():
        defs = load_definitions()
        a.raise_all(
            a.output_dir("--output", output, writing=not check),
            k.output_problem("--output", Path(output) if output else None),
            a.input_file("--env-file", env_file),
            a.dns_label("--namespace", namespace),
            a.choice("--vector-store", vector_store, defs["VECTOR_STORE"].type.choices),
            a.choice("--db", db, defs["DB_TYPE"].type.choices),
        )
        req = k.Request(
            output=Path(output) if output else k.DEFAULT_OUTPUT,
            env_file=Path(env_file) if env_file else None,
            namespace=namespace,
            vector_store=vector_store,
            db=db,
            strict=strict_secrets,
        )
        targets, owned = k.targets(req, k.build(req))
        if check:
            result = generated.check_many(targets, owned)
            if not result.up_to_date:
                print(result.diff, end="")
                for problem in result.problems():
                    print(f"error: {problem}")
                raise Exit(f"run `{k.command_of(req)}` and commit the result", 1)
            print(f"{owned.shown} is up to date ({len(targets)} files)")
            return
        req.output.mkdir(exist_ok=True)
        done = generated.write_many(targets, owned)
    changed = [t.name for t, w in done.written if w.changed]
    for _target, w in done.written:
        if w.backup:
            print(f"warning: {w.reason}; saved it as {w.backup}")
    for path, saved in done.removed:
        print(f"removed {path}" + (f" (saved as {saved})" if saved else ""))
    print(f"{owned.shown}: {len(changed)} of {len(targets)} files written")


ns = Collection("release")
ns.add_task(compose)
ns.add_task(k8s)
ns.add_task(smoke)
ns.add_task(down)
