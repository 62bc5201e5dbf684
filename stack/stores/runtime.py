"""Run vector stores in labelled containers for tests: availability, concurrent start, cleanup.

* Never pulls: an image is used only if :func:`stack.images.resolve.resolve` finds it locally
  (upstream, mirrored or the ``stack-standin/<recipe>:<hash>`` stand-in); otherwise the store is
  *unavailable* with a reason naming the image and the remedy.
* Every container and the session network carry :func:`stack.engine.labels.session_labels`,
  so :func:`stack.engine.labels.sweep` can remove them once their owner process is gone.
* Readiness is the catalog's wait (HTTP / exec / TCP) followed by a real query (``ping``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stack.errors import StoreError
from stack.stores.catalog import StoreSpec, Wait, get

if TYPE_CHECKING:
    from stack.stores.contract import VectorStore

#: Environment every testcontainers run needs here (Ryuk cannot be pulled; host marker file).
TEST_ENV = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_HOST_OVERRIDE": "localhost",
    "STACK_OFFLINE": "1",
}


def apply_test_env(environ: dict[str, str] | None = None) -> None:
    """Set :data:`TEST_ENV` defaults (values already set by the user win)."""
    env = os.environ if environ is None else environ
    for key, value in TEST_ENV.items():
        env.setdefault(key, value)


@dataclass(frozen=True)
class Availability:
    """Whether a store's image can be had locally, which ref, and why not."""

    store: str
    ok: bool
    image_ref: str = ""
    kind: str = ""  # upstream | mirror | standin | missing | no-engine
    reason: str = ""


def availability(names: Iterable[str]) -> dict[str, Availability]:
    """Decide per store whether it can run here without pulling anything."""
    from stack.engine.client import engine_alive

    names = list(names)
    if not engine_alive():
        why = "no Docker engine reachable (fix: invoke engine.ensure)"
        return {n: Availability(n, False, kind="no-engine", reason=why) for n in names}
    from stack.images.resolve import resolve_all

    specs = {n: get(n) for n in names}
    resolutions = resolve_all(sorted({s.image for s in specs.values()}))
    out: dict[str, Availability] = {}
    for n, spec in specs.items():
        r = resolutions[spec.image]
        if r.kind in ("upstream", "mirror", "standin") and not r.needs_pull:
            out[n] = Availability(n, True, r.ref_to_use, r.kind)
        else:
            remedy = r.remedy or "not present locally"
            out[n] = Availability(
                n,
                False,
                r.ref_to_use,
                "missing",
                f"image {r.entry.ref} not available offline: {remedy}",
            )
    return out


@dataclass
class RunningStore:
    """A started, ready store container."""

    spec: StoreSpec
    container: Any
    image_ref: str
    host: str
    ports: dict[int, int]
    started_at: float  # time.time() when the start began
    ready_at: float

    @property
    def ready_seconds(self) -> float:
        """Start -> ready (container create + wait + first real query)."""
        return self.ready_at - self.started_at

    def connect(self) -> VectorStore:
        """A fresh adapter connected to this container."""
        return self.spec.connect_adapter(self.host, self.ports)


def _strategy(wait: Wait) -> Any:
    from testcontainers.core.wait_strategies import (
        ExecWaitStrategy,
        HttpWaitStrategy,
        PortWaitStrategy,
    )

    s: Any
    if wait.kind == "http":
        s = HttpWaitStrategy(wait.port, wait.path).for_status_code(200)
    elif wait.kind == "exec":
        s = ExecWaitStrategy(list(wait.command))
    else:
        s = PortWaitStrategy(wait.port)
    return s.with_startup_timeout(int(wait.timeout)).with_poll_interval(0.2)


def _logs_tail(container: Any, lines: int = 30) -> str:
    try:
        raw = container.get_wrapped_container().logs(tail=lines)
        return raw.decode("utf-8", "replace")
    except Exception:
        return "(no logs)"


@dataclass
class StoreSession:
    """Containers (and one network) of one test session; :meth:`close` removes them all."""

    session: str
    purpose: str = "vdb"
    running: dict[str, RunningStore] = field(default_factory=dict)
    _containers: list[Any] = field(default_factory=list)
    _network: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def labels(self, what: str) -> dict[str, str]:
        """Session labels plus what the resource is for."""
        from stack.engine.labels import session_labels

        labels = session_labels(self.session, purpose=self.purpose)
        labels["org.stack.resource"] = what
        return labels

    def network(self) -> str:
        """Name of the session's labelled bridge network (created on first use)."""
        with self._lock:
            if self._network is None:
                from stack.engine.client import client

                self._network = client().networks.create(
                    f"stack-{self.purpose}-{self.session}",
                    driver="bridge",
                    labels=self.labels("network"),
                )
            return str(self._network.name)

    def start(self, name: str, image_ref: str) -> RunningStore:
        """Start ``name`` from ``image_ref`` (must be local), wait until a real query works."""
        from testcontainers.core.container import DockerContainer

        spec = get(name)
        container = spec.container(image_ref)
        container.with_kwargs(labels=self.labels(f"store:{name}"), network=self.network())
        for p in spec.extra_ports:
            container.with_exposed_ports(p)
        container.waiting_for(_strategy(spec.wait))
        started = time.time()
        with self._lock:
            self._containers.append(container)
        try:
            # DockerContainer.start, not the module's start(): the catalog's wait decides.
            DockerContainer.start(container)
        except Exception as exc:
            raise StoreError(
                f"{name}: container from {image_ref} did not become ready: {exc}\n"
                f"--- last log lines ---\n{_logs_tail(container)}"
            ) from exc
        host = container.get_container_host_ip()
        ports = {p: int(container.get_exposed_port(p)) for p in (spec.port, *spec.extra_ports)}
        running = RunningStore(spec, container, image_ref, host, ports, started, started)
        self._ping(running)
        running.ready_at = time.time()
        with self._lock:
            self.running[name] = running
        return running

    def _ping(self, running: RunningStore) -> None:
        deadline = time.time() + running.spec.wait.timeout
        last: Exception | None = None
        while time.time() < deadline:
            running.container.reload()
            if running.container.status == "exited":
                break
            try:
                store = running.connect()
                try:
                    store.ping()
                finally:
                    store.close()
                return
            except Exception as exc:
                last = exc
                time.sleep(0.25)
        raise StoreError(
            f"{running.spec.name}: no successful query within {running.spec.wait.timeout:.0f}s "
            f"({last})\n--- last log lines ---\n{_logs_tail(running.container)}"
        )

    def start_many(
        self,
        refs: Mapping[str, str],
        *,
        on_done: Callable[[str, RunningStore | BaseException], None] | None = None,
    ) -> dict[str, RunningStore | BaseException]:
        """Start all stores concurrently (one thread each); a failure is returned, not raised."""
        results: dict[str, RunningStore | BaseException] = {}
        if not refs:
            return results
        self.network()
        with ThreadPoolExecutor(max_workers=len(refs), thread_name_prefix="store") as pool:
            futures = {pool.submit(self.start, n, r): n for n, r in refs.items()}
            for fut, n in futures.items():
                try:
                    results[n] = fut.result()
                except Exception as exc:  # reported per store; Ctrl-C propagates
                    results[n] = exc
                if on_done:
                    on_done(n, results[n])
        return results

    def close(self) -> None:
        """Remove every container (with anonymous volumes), the network, then any leftover."""
        import docker.errors

        with self._lock:
            containers, self._containers = self._containers, []
            network, self._network = self._network, None
            self.running.clear()
        for c in containers:
            try:
                if c._container is not None:
                    c._container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except Exception:
                pass
        if network is not None:
            with contextlib.suppress(Exception):
                network.remove()
        if not containers and network is None:
            return  # nothing was created (e.g. no engine): nothing to sweep
        from stack.engine.labels import remove_session

        remove_session(self.session)
