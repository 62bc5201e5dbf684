"""Fault: `invoke dev.up` killed with SIGKILL mid-start (the whole process group, so the
`docker compose up` it runs dies too), then the next `dev.up` reaches healthy.

Kill points: the first container of the project exists (compose is creating the rest), and
every container exists but not every one is healthy yet (the readiness loop).  After the
kill, `dev.status` shows exactly what the engine holds and the state dir holds nothing
half-written; the next `dev.up` ends with one healthy container per service.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fault_support import (
    assert_state_dir_sound,
    assert_status_truthful,
    cli_env,
    compose_containers,
    invoke,
    kill_group,
    spawn,
    wait_until,
)

from stack.engine.client import engine_alive

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
]

SERVICES = ("db_postgres", "redis", "ssrf_proxy", "pgvector")  # the default selection


@pytest.fixture
def dev(tmp_path) -> Iterator[tuple[dict[str, str], str, Any]]:
    from stack.engine import labels

    labels.sweep()
    session = labels.new_session_id()
    project = f"stack-it-faults-{session}"
    env = cli_env(session, tmp_path / "home", tmp_path / "state")
    (tmp_path / "home").mkdir()
    try:
        yield env, project, tmp_path / "state" / project
    finally:
        invoke(env, "dev.reset", "--yes", "--project", project, check=False)
        labels.remove_session(session)
        assert labels.count_labelled(session=session) == {
            "containers": 0,
            "networks": 0,
            "volumes": 0,
        }
        assert not (tmp_path / "state" / project).exists()


def _first_container(project: str) -> bool:
    return bool(compose_containers(project))


def _all_exist_not_all_healthy(project: str) -> bool:
    found = compose_containers(project)
    services = {c["Labels"].get("com.docker.compose.service") for c in found}
    return set(SERVICES) <= services and not all("(healthy)" in c["Status"] for c in found)


KILL_POINTS = {
    "first-container-created": _first_container,
    "containers-starting": _all_exist_not_all_healthy,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_dev_up_killed_mid_start_then_up_recovers(dev, point):
    env, project, state_dir = dev
    proc = spawn(env, "dev.up", "--project", project)
    try:
        wait_until(lambda: KILL_POINTS[point](project), proc)
    finally:
        if proc.poll() is None:
            kill_group(proc)
    assert proc.returncode == -9  # killed mid-start, not finished

    # Nothing half-written; no record of a successful `up` that never happened.
    assert_state_dir_sound(state_dir)
    assert not (state_dir / "up.json").exists()
    # The status is the engine's truth (created / running / not created), not a guess.
    assert_status_truthful(env, project)

    up = invoke(env, "dev.up", "--json", "--project", project)
    assert "compose up not needed" not in up.stderr  # nothing recorded: compose runs again
    rows = {r["service"]: r for r in json.loads(up.stdout)}
    for name in SERVICES:
        assert (rows[name]["state"], rows[name]["health"]) == ("running", "healthy"), rows[name]
    status = assert_status_truthful(env, project)
    assert {status[s]["state"] for s in SERVICES} == {"running"}
    assert_state_dir_sound(state_dir)
    assert (state_dir / "up.json").exists()  # this one did succeed

    again = invoke(env, "dev.up", "--project", project)  # and it is now remembered as such
    assert "compose up not needed" in again.stdout


def test_sweep_survives_a_container_removed_under_it(monkeypatch):
    """Another session removes a labelled container between the sweep's list and inspect
    (concurrent test runs share the engine): the sweep goes on, it does not raise NotFound."""
    from stack.engine import labels
    from stack.engine.client import client
    from stack.images.base import base_ref, image_exists

    image = base_ref()  # the stand-ins' local base: never pulled
    if not image_exists(image):
        pytest.skip(f"image {image} not built (fix: invoke images.build)")
    session = labels.new_session_id()
    c = client()
    victim = c.containers.create(image, ["true"], labels=labels.session_labels(session))
    real = c.api.containers
    raced = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        monkeypatch.undo()  # once
        raced.append(victim.id)
        c.api.remove_container(victim.id, force=True)  # gone before it is inspected
        return found

    monkeypatch.setattr(c.api, "containers", racing)
    try:
        labels.sweep(client=c)
        assert raced == [victim.id]  # the race did happen
        assert labels.count_labelled(client=c, session=session)["containers"] == 0
    finally:
        monkeypatch.undo()
        labels.remove_session(session)
