"""Run services of the production compose file, as `docker compose config` interpolates them,
in a small labelled compose project of their own (test_nginx.py, test_ssrf.py).

A service is taken from the rendered template (template + env/definitions.env, interpolated
with the test's settings), its upstream image replaced by the offline stand-in, its
``./volumes/...`` data binds by directories of the test, ``restart`` off. Networks are the
template's own declarations plus the session labels, so nothing is restated here. The project
runs with ``--pull never``; it is brought down at the end and its resources carry the session
labels, so a killed run is swept by the next one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


def production_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The production compose file rendered from the template, interpolated with ``env``."""
    from stack import paths
    from stack.compose import render, validate
    from stack.env.parse import load_definitions

    text = paths.TEMPLATE.read_text(encoding="utf-8")
    rendered = render.render(text, render.shared_from_definitions(load_definitions()))
    config = validate.config(rendered, project_dir=paths.COMPOSE_DIR, env=dict(env or {}))
    assert isinstance(config, dict)
    return config


def standin_for(upstream: str) -> str:
    """The built stand-in of upstream image ``upstream``; skip (naming the fix) if absent."""
    from stack.images.base import image_exists
    from stack.images.catalog import by_ref
    from stack.images.resolve import standin_ref

    recipe = by_ref(upstream).standin
    assert recipe, f"{upstream} has no offline stand-in"
    ref = standin_ref(recipe)
    if not image_exists(ref):
        pytest.skip(f"stand-in {ref} not built: invoke images.build --only {recipe}")
    return ref


def standin(recipe: str) -> str:
    """The built stand-in ``recipe``; skip (naming the fix) if absent."""
    from stack.images.base import image_exists
    from stack.images.resolve import standin_ref

    ref = standin_ref(recipe)
    if not image_exists(ref):
        pytest.skip(f"stand-in {ref} not built: invoke images.build --only {recipe}")
    return ref


def production_service(
    config: dict[str, Any],
    name: str,
    labels: Mapping[str, str],
    binds: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """Service ``name`` of ``config`` on its stand-in image, with ``binds`` (container target ->
    host directory) replacing the sources of those mounts; any other bind under the compose
    directory's ``volumes/`` is refused (it would write into the checkout)."""
    from stack import paths

    svc = copy.deepcopy(config["services"][name])
    svc["image"] = standin_for(svc["image"])
    svc["restart"] = "no"
    svc["labels"] = dict(labels)
    svc.pop("container_name", None)
    binds = dict(binds or {})
    for vol in svc.get("volumes") or []:
        if vol.get("type") != "bind":
            continue
        target = vol["target"]
        if target in binds:
            vol["source"] = str(binds.pop(target))
            vol.pop("bind", None)  # no create_host_path: the directory exists
        else:
            source = Path(vol["source"])
            assert not source.is_relative_to(paths.COMPOSE_DIR / "volumes"), (
                f"{name}: pass a test directory for {target} (its source {source} is data)"
            )
            assert source.exists(), f"{name}: mount source {source} is not in the repository"
    assert not binds, f"{name} mounts nothing at {sorted(binds)}"
    return svc


def busybox_server(
    labels: Mapping[str, str],
    port: int,
    files: Mapping[str, str],
    networks: list[str],
) -> dict[str, Any]:
    """A busybox httpd service answering ``files`` (URL path -> body) on ``port``."""
    script = ["set -e"]
    for path, body in files.items():
        target = "/www" + (path if not path.endswith("/") else path + "index.html")
        script.append(f"mkdir -p $$(dirname {target}) && printf '%s' '{body}' > {target}")
    script.append(f"exec httpd -f -p {port} -h /www")
    return {
        "image": standin("busybox"),
        "command": ["sh", "-c", " && ".join(script[1:])],
        "labels": dict(labels),
        "networks": networks,
        "stop_signal": "SIGKILL",  # a stand-in server keeps nothing
    }


def labelled_networks(config: dict[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """The template's network declarations as they are, plus the session labels."""
    known = {"driver", "internal", "name", "ipam", "labels", "driver_opts", "enable_ipv6"}
    nets = {}
    for name, spec in (config.get("networks") or {}).items():
        spec = dict(spec or {})
        assert set(spec) <= known, f"network {name}: keys {sorted(set(spec) - known)} unknown"
        spec.pop("name", None)  # the project's own names
        spec["labels"] = {**(spec.get("labels") or {}), **labels}
        nets[name] = spec
    return nets


class Project:
    """A compose project written to ``directory`` and driven with the real compose binary."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.file = directory / "compose.yaml"
        self.directory = directory

    def compose(self, *args: str, check: bool = True, timeout: float = 180) -> str:
        from stack.compose.cli import run_compose
        from stack.compose.validate import isolated_env

        argv = ["-f", str(self.file), "-p", self.name, "--project-directory", str(self.directory)]
        proc = run_compose([*argv, *args], env=isolated_env(), check=check, timeout=timeout)
        return proc.stdout + proc.stderr

    def up(self, document: dict[str, Any], *services: str) -> None:
        """Write ``document`` (JSON is YAML) and ``up -d`` it (or only ``services``)."""
        self.file.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
        self.compose("up", "-d", "--pull", "never", "--no-build", *services)

    def container(self, service: str) -> Any:
        from stack.engine.client import client

        found = client().containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.name}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        assert len(found) == 1, f"{service}: {len(found)} containers"
        return found[0]

    def ip(self, service: str, network: str) -> str:
        ctr = self.container(service)
        return str(ctr.attrs["NetworkSettings"]["Networks"][f"{self.name}_{network}"]["IPAddress"])

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", service, check=False)

    def exec(self, service: str, argv: list[str], env: Mapping[str, str] | None = None) -> Any:
        """``(exit code, output)`` of ``argv`` inside the service's container."""
        rc, out = self.container(service).exec_run(argv, environment=dict(env or {}))
        return rc, out.decode(errors="replace")


@contextlib.contextmanager
def project(name: str, directory: Path) -> Iterator[Project]:
    """A :class:`Project` that is brought down (with its volumes) on exit."""
    proj = Project(name, directory)
    try:
        yield proj
    finally:
        if proj.file.exists():
            proj.compose("down", "-v", "--remove-orphans", "-t", "2", check=False)


def wait_for(fn: Callable[[], Any], what: str, logs: Callable[[], str], timeout: float = 60) -> Any:
    """Retry ``fn`` until it returns; on timeout fail with ``what`` and the logs."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            return fn()
        except Exception as exc:  # not ready yet
            last = exc
            time.sleep(0.2)
    pytest.fail(f"{what}: {last!r}\n--- logs ---\n{logs()}")
