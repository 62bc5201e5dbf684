"""Run vector stores in labelled containers for tests: concurrent start, readiness, cleanup.

* Every container and the session network carry :func:`stack.engine.labels.session_labels`,
  so :func:`stack.engine.labels.sweep` can remove them once their owner process is gone.
* Readiness is the catalog's wait (HTTP / exec / TCP) followed by a real query (``ping``).

Which stores can run here (offline: only local images) and the test environment are
:mod:`stack.stores.availability`; its names stay importable from here.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stack.errors import StoreError
from stack.stores.availability import TEST_ENV, Availability, apply_test_env, availability
from stack.stores.catalog import StoreSpec, Wait, get

if TYPE_CHECKING:
    from stack.stores.contract import VectorStore

# Everything importable from here before the split (importers keep this path).
__all__ = [
    "TEST_ENV",
    "Availability",
    "Cancelled",
    "RunningStore",
    "StoreSession",
    "apply_test_env",
    "availability",
]


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


class Cancelled(StoreError):
    """The start was abandoned (Ctrl-C / session shutdown)."""


def _strategy(wait: Wait, cancel: threading.Event | None = None) -> Any:
    """The catalog's wait as a testcontainers strategy that gives up once ``cancel`` is set.

    testcontainers' strategies poll until their own timeout; this one runs them in slices of
    about a second and checks ``cancel`` in between, so Ctrl-C during a start returns at once
    instead of after the store's whole startup timeout.
    """
    from testcontainers.core.wait_strategies import (
        ExecWaitStrategy,
        HttpWaitStrategy,
        PortWaitStrategy,
    )
    from testcontainers.core.waiting_utils import WaitStrategy

    inner: Any
    if wait.kind == "http":
        inner = HttpWaitStrategy(wait.port, wait.path).for_status_code(200)
    elif wait.kind == "exec":
        inner = ExecWaitStrategy(list(wait.command))
    else:
        inner = PortWaitStrategy(wait.port)
    inner.with_poll_interval(0.2)
    event = cancel or threading.Event()

    class Sliced(WaitStrategy):
        def wait_until_ready(self, container: Any) -> None:
            deadline = time.monotonic() + self._startup_timeout
            last = ""
            while True:
                if event.is_set():
                    raise Cancelled("start cancelled")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{wait.kind} wait on port {wait.port} not ready within "
                        f"{self._startup_timeout:.0f} s (last attempt: {last})"
                    )
                inner.with_startup_timeout(min(1.0, left))
                try:
                    inner.wait_until_ready(container)
                    return
                except TimeoutError as exc:
                    last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    return Sliced().with_startup_timeout(int(wait.timeout))


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
    _cancel: threading.Event = field(default_factory=threading.Event)

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
        container.waiting_for(_strategy(spec.wait, self._cancel))
        started = time.time()
        with self._lock:
            if self._cancel.is_set():
                raise Cancelled(f"{name}: start cancelled")
            self._containers.append(container)
        try:
            # DockerContainer.start, not the module's start(): the catalog's wait decides.
            DockerContainer.start(container)
        except Cancelled:
            raise
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
            if self._cancel.is_set():
                raise Cancelled(f"{running.spec.name}: start cancelled")
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
        """Start all stores concurrently (one thread each); a failure is returned, not raised.

        Ctrl-C (or any BaseException here) cancels the starts still waiting -- each gives up
        within about a second instead of its store's startup timeout -- then propagates.
        """
        results: dict[str, RunningStore | BaseException] = {}
        if not refs:
            return results
        self.network()
        with ThreadPoolExecutor(max_workers=len(refs), thread_name_prefix="store") as pool:
            futures = {pool.submit(self.start, n, r): n for n, r in refs.items()}
            try:
                for fut, n in futures.items():
                    try:
                        results[n] = fut.result()
                    except Exception as exc:  # reported per store; Ctrl-C propagates
                        results[n] = exc
                    if on_done:
                        on_done(n, results[n])
            except BaseException:
                self.cancel()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return results

    def cancel(self) -> None:
        """Make every start still in progress give up (they raise :class:`Cancelled`)."""
        self._cancel.set()

    def close(self) -> None:
        """Remove every container (with anonymous volumes), the network, then any leftover."""
        import docker.errors

        self.cancel()
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
