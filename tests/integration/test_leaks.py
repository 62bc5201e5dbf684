"""Leak test: a process holding real labelled resources dies by SIGKILL; the next session's
sweep removes them all, while a live concurrent session is left alone and cleans up on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stack.paths import ROOT

pytestmark = pytest.mark.integration

CHILD = textwrap.dedent(
    """
    import signal, sys, time
    # A background job (e.g. a CI runner's `cmd &`) inherits SIGINT as ignored, and Python
    # then never raises KeyboardInterrupt: restore the default so Ctrl-C means Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from stack.stores.runtime import StoreSession, apply_test_env
    from stack.engine.client import client
    from testcontainers.core.container import DockerContainer

    apply_test_env()
    session, image = sys.argv[1], sys.argv[2]
    ss = StoreSession(session, purpose="leaktest")
    try:
        net = ss.network()
        vol = client().volumes.create(f"stack-leaktest-{session}", labels=ss.labels("volume"))
        c = DockerContainer(image).with_command(["sleep", "infinity"])
        c.with_kwargs(labels=ss.labels("holder"), network=net, init=True)
        c.with_volume_mapping(vol.name, "/data", "rw")
        c.start()
        ss._containers.append(c)
        print("READY", flush=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    finally:
        ss.close()
        print("CLOSED", flush=True)
    """
)


def _image() -> str:
    """A local image to hold: the stand-in base (never pulled)."""
    from stack.engine.client import engine_alive

    if not engine_alive():
        pytest.skip("no Docker engine reachable (fix: invoke engine.ensure)")
    from stack.images.base import base_ref, image_exists

    ref = base_ref()
    if not image_exists(ref):
        pytest.skip(f"image {ref} not built (fix: invoke images.build --only pgvector)")
    return ref


def _spawn(tmp_path: Path, session: str, image: str) -> subprocess.Popen[str]:
    script = tmp_path / "holder.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STACK_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), session, image],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.strip() == "READY":
            return proc
    proc.kill()
    pytest.fail("holder process did not get ready:\n" + "".join(lines))


def _counts(session: str) -> dict[str, int]:
    from stack.engine.labels import count_labelled

    return count_labelled(session=session)


def test_sigkilled_session_is_swept_and_live_session_kept(tmp_path: Path) -> None:
    from stack.engine.labels import new_session_id, sweep

    image = _image()
    dead, live = new_session_id(), new_session_id()
    killed = _spawn(tmp_path, dead, image)
    survivor = _spawn(tmp_path, live, image)
    try:
        assert _counts(dead) == {"containers": 1, "networks": 1, "volumes": 1}
        assert _counts(live) == {"containers": 1, "networks": 1, "volumes": 1}

        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        assert _counts(dead)["containers"] == 1  # SIGKILL ran no cleanup: it leaked

        # What the next session does first:
        report = sweep(keep_session=new_session_id())
        assert not report.errors, report.errors
        assert _counts(dead) == {"containers": 0, "networks": 0, "volumes": 0}
        assert _counts(live) == {"containers": 1, "networks": 1, "volumes": 1}

        # Ctrl-C on the live one: its own cleanup removes everything.
        survivor.send_signal(signal.SIGINT)
        out, _ = survivor.communicate(timeout=60)
        assert "CLOSED" in out, out
        assert _counts(live) == {"containers": 0, "networks": 0, "volumes": 0}
    finally:
        for p in (killed, survivor):
            if p.poll() is None:
                p.kill()
        from stack.engine.labels import remove_session

        for s in (dead, live):
            remove_session(s)


# A store start that can never become ready (an HTTP wait on postgres' port with a one-hour
# timeout); Ctrl-C must cancel it and clean up at once, not after the startup timeout.
STUCK = textwrap.dedent(
    """
    import dataclasses, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from stack.stores import runtime
    from stack.stores.catalog import Wait, get

    runtime.apply_test_env()
    session, image = sys.argv[1], sys.argv[2]
    base = get("pgvector")

    class Stuck(type(base)):
        @property
        def wait(self):
            return Wait("http", base.port, "/never", timeout=3600)

    spec = Stuck(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    runtime.get = lambda name: spec
    ss = runtime.StoreSession(session, purpose="leaktest")
    print("READY", flush=True)
    try:
        ss.start_many({"pgvector": image})
        print("RETURNED", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    finally:
        ss.close()
        print("CLOSED", flush=True)
    """
)


def test_ctrl_c_during_parallel_start_cancels_promptly(tmp_path: Path) -> None:
    from stack.engine.labels import new_session_id, remove_session
    from stack.stores.runtime import availability

    avail = availability(["pgvector"])["pgvector"]
    if not avail.ok:
        pytest.skip(avail.reason)
    session = new_session_id()
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STACK_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), session, avail.image_ref],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        deadline = time.time() + 60  # the container exists: the start is waiting now
        while _counts(session)["containers"] == 0 and time.time() < deadline:
            time.sleep(0.2)
        assert _counts(session)["containers"] == 1
        proc.send_signal(signal.SIGINT)
        # Far below the one-hour startup timeout: before the fix this waited for it.
        out, _ = proc.communicate(timeout=60)
        assert "INTERRUPTED" in out and "CLOSED" in out, out
        assert _counts(session) == {"containers": 0, "networks": 0, "volumes": 0}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        remove_session(session)
