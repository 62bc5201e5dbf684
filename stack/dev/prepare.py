"""Derive the dev middleware from the definitions, the settings and the template.

Three steps, each usable alone:

* :func:`read_sources` reads the inputs: the shared definitions, the resolved settings
  (flags > environment > ``.env`` > defaults), the raw template and the production services
  as interpolated by ``docker compose config`` (cached in the state directory by the digest
  of its inputs, so a repeated ``dev.up`` does not run compose for it).
* :func:`plan_services` is the pure derivation: sources plus which images exist in, give
  the :class:`~stack.dev.plan.Plan` (services, ports, volumes, credentials, skipped,
  missing).  No file, no engine, no subprocess.
* :func:`derive` runs both and renders the dev compose text, writing nothing (it asks the
  engine which images exist unless ``present=`` answers that); :func:`prepare` also stops
  on missing images and writes the file (0600 in a 0700 directory: it holds the secrets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stack import paths
from stack.dev import plan as p
from stack.dev import state
from stack.dev.options import DevOptions, base_labels
from stack.dev.settings import Settings
from stack.errors import Problem, ProblemsError

if TYPE_CHECKING:
    from stack.env.model import Definitions

__all__ = [
    "DevOptions",
    "Images",
    "Prepared",
    "Sources",
    "derive",
    "plan_services",
    "prepare",
    "read_sources",
]

COMPOSE_FILE = "compose.yaml"


@dataclass(frozen=True)
class Images:
    """What decides each service's image: which refs exist locally, offline, mirrors."""

    present: Callable[[str], bool]
    offline: bool = True
    mirrors: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Sources:
    """Every input of the derivation, read once."""

    settings: Settings
    raw: Mapping[str, Any]  # the template as YAML data (with its x-stack-dev hints)
    config: Mapping[str, Any]  # `docker compose config` of the production services
    config_key: str = ""  # digest of the inputs of `config`
    config_cached: bool = False  # read from the state directory's cache


@dataclass
class Prepared:
    """Everything ``prepare`` computed: the plan, the settings, the dev compose file."""

    plan: p.Plan
    settings: Settings
    compose_file: Path
    labels: dict[str, str]
    text: str = ""  # the dev compose document ('' when a required image is missing)


def read_sources(opts: DevOptions, *, cache: bool = True) -> Sources:
    """Definitions, settings, raw template and the interpolated production services."""
    from stack.compose import render
    from stack.dev.settings import resolve

    defs = definitions()
    settings = resolve(
        defs,
        flags={"VECTOR_STORE": opts.vector_store, "DB_TYPE": opts.db},
        environ=opts.env,
        dotenv=opts.dotenv_path,
    )
    template_text = paths.TEMPLATE.read_text(encoding="utf-8")
    text = render.render(template_text, render.shared_from_definitions(defs))
    env = settings.values()
    # The cache (private: it holds interpolated secrets) is only read here; `prepare` writes
    # it.  Its key covers every input of `compose config`: the rendered text, every setting
    # and the project directory (the template reads no other file: no env_file, no include).
    key = state.digest(text, env, str(paths.COMPOSE_DIR))
    cached = state.read_json(opts, state.CONFIG_CACHE) if cache else None
    if (
        isinstance(cached, dict)
        and cached.get("digest") == key
        and isinstance(cached.get("config"), dict)
    ):
        return Sources(settings, p.raw_template(template_text), cached["config"], key, True)
    from stack.compose import validate

    config = validate.config(text, project_dir=paths.COMPOSE_DIR, profiles=("*",), env=env)
    return Sources(settings, p.raw_template(template_text), config, key)


_DEFINITIONS: dict[tuple[tuple[str, int, int], ...], Definitions] = {}


def definitions() -> Definitions:
    """The shared definitions, parsed once per process while their files are unchanged."""
    from stack.env.parse import load_definitions

    try:
        key = tuple(
            (str(f), f.stat().st_mtime_ns, f.stat().st_size)
            for f in sorted(paths.ENV_DIR.glob("*.env"))
        )
    except OSError:
        return load_definitions()  # let it report the problem
    if key not in _DEFINITIONS:
        _DEFINITIONS.clear()
        _DEFINITIONS[key] = load_definitions()
    return _DEFINITIONS[key]


def image_context(opts: DevOptions, present: Callable[[str], bool] | None = None) -> Images:
    """Offline flag and mirrors from the environment; local images from the engine."""
    from stack.images.mirror import mirrors_from_env
    from stack.images.resolve import offline

    if present is None:
        from stack.engine.client import client
        from stack.images.resolve import local_images, present_checker

        present = present_checker(local_images(client()))
    return Images(present, offline(opts.env), mirrors_from_env(opts.env))


def plan_services(sources: Sources, project: str, images: Images) -> p.Plan:
    """The dev plan (pure): which services run which image, on which port, with what data."""
    from stack.images.catalog import by_ref
    from stack.images.resolve import resolve as pick

    raw, config, settings = sources.raw, sources.config, sources.settings
    chosen, notes = p.select(raw, settings["DB_TYPE"], settings["VECTOR_STORE"])
    plan = p.Plan(project, notes=list(notes))
    folded: dict[str, str] = {}  # image-catalog name -> the service whose stand-in holds it
    picks = {}
    for name in chosen:
        entry = by_ref(raw["services"][name]["image"])
        choice = pick(
            entry, offline=images.offline, mirrors=images.mirrors or {}, present=images.present
        )
        picks[name] = (entry, choice)
        if choice.kind == "standin":
            folded.update(dict.fromkeys(entry.folds, name))
    data_root = paths.COMPOSE_DIR / "volumes"
    for name in chosen:
        entry, choice = picks[name]
        svc_raw = raw["services"][name]
        svc_config = config["services"][name]
        hint = svc_raw.get("x-stack-dev") or {}
        if entry.name in folded:
            plan.skipped.append((name, f"folded into the {folded[entry.name]} stand-in"))
            continue
        if choice.needs_pull and hint.get("optional"):
            plan.skipped.append((name, f"optional; image {entry.ref} not present locally"))
            plan.notes.append(f"{name}: `docker pull {choice.ref_to_use}` to include it")
            continue
        if choice.kind == "missing":
            if hint.get("optional"):
                plan.skipped.append((name, f"optional; image {entry.ref} not available locally"))
                plan.notes.append(f"{name}: {choice.remedy}")
            else:
                plan.missing.append((name, entry.ref, choice.remedy))
            continue
        expose = hint.get("expose")
        host_port = int(settings[expose]) if expose and settings.get(expose) else None
        plan.services.append(
            p.DevService(
                name=name,
                image=entry.ref,
                run_image=choice.ref_to_use,
                image_kind=choice.kind,
                needs_pull=choice.needs_pull,
                container_port=int(hint["port"]) if hint.get("port") else None,
                expose=expose,
                host_port=host_port if hint.get("port") else None,
                scheme=hint.get("scheme"),
                volumes=p.data_volumes(project, name, svc_config, data_root),
                credential=p.credential(name, svc_raw, svc_config),
            )
        )
    return plan


def dev_text(plan: p.Plan, sources: Sources, labels: Mapping[str, str]) -> str:
    """The dev compose document of ``plan`` (pure, byte-identical for the same inputs)."""
    settings = sources.settings
    inner = None
    if settings.source("PLUGIN_DIFY_INNER_API_URL") == "default":
        inner = f"http://host.docker.internal:{settings.get('DIFY_PORT', '5001')}"
    doc = p.render_dev(
        plan,
        sources.config,
        labels=labels,
        data_root=paths.COMPOSE_DIR / "volumes",
        inner_api_url=inner,
    )
    return p.dump(doc, plan.project)


def derive(
    opts: DevOptions,
    *,
    present: Callable[[str], bool] | None = None,
    sources: Sources | None = None,
) -> Prepared:
    """Settings, plan and dev compose text for ``opts``; writes nothing.

    ``present(ref)`` says whether an image exists locally; without it the engine is asked
    (one image listing).  With it, nothing but ``docker compose config`` runs (and not even
    that when the state directory's cache matches).
    """
    src = sources or read_sources(opts)
    plan = plan_services(src, opts.project, image_context(opts, present))
    labels = base_labels(opts)
    text = "" if plan.missing else dev_text(plan, src, labels)
    return Prepared(plan, src.settings, opts.compose_file, labels, text)


def prepare(
    opts: DevOptions,
    *,
    allow_missing: bool = False,
    present: Callable[[str], bool] | None = None,
) -> Prepared:
    """:func:`derive`, then write the dev compose file (no container starts).

    A required service whose image cannot be had stops here (nothing started), unless
    ``allow_missing`` (``dev.status`` shows such services as rows instead; nothing is
    written then).
    """
    src = read_sources(opts)
    prep = derive(opts, present=present, sources=src)
    if prep.plan.missing and not allow_missing:
        raise ProblemsError(
            "dev.up cannot start: images are missing (nothing was started)",
            [
                Problem(f"service {svc}", f"image {ref} is not available", fix)
                for svc, ref, fix in prep.plan.missing
            ],
        )
    if prep.text:
        state.write(opts, COMPOSE_FILE, prep.text)  # private: it holds the .env's secrets
        if not src.config_cached:
            state.write_json(
                opts, state.CONFIG_CACHE, {"digest": src.config_key, "config": src.config}
            )
    return prep
