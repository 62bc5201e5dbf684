"""``run.all``: api, worker and beat together, Procfile-style, with prefixed coloured lines.

Why not honcho (measured, honcho 2.0.0): a Ctrl-C that arrives while honcho is still
starting its processes (before every ``start`` event was read) raises ``KeyError: 'pid'``
inside its signal handler and leaves the started processes running; its per-process
reader is forked with the manager's handler still installed, so the same signal is
handled twice ("SIGINT received" printed twice, a second traceback).  Reproduced here with
two ``sleep`` processes and ``os.killpg(pid, SIGINT)`` right after start: 2 failures in 8
runs, one of them a hang.  It also only signals processes that have not exited, so the
children of a SIGKILLed gunicorn master stay behind.  (tests/unit/test_run_supervise.py:
``test_ctrl_c_during_start_up`` and ``test_the_group_of_a_killed_leader_is_swept``.)
This module keeps honcho's model (one process group per process, SIGTERM to each group,
SIGKILL after a grace period, the others stopped when one exits) and fixes those three:

* signal handlers only record the signal; the main loop acts on it, also during start-up;
* the whole process group of every process is stopped, also when its leader is already
  gone (a SIGKILLed gunicorn master leaves workers that hold the output pipe), and every
  group is sent SIGKILL at the end (``ESRCH`` when it is already empty);
* the exit status: Ctrl-C/SIGTERM with every process stopped by us is 0; a process that
  exited on its own makes it non-zero (128 + signal, its code, or 1 for an unexpected 0),
  and the last line names the process and its exit code or signal.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

KILL_WAIT = 8.0  # seconds between SIGTERM and SIGKILL (gunicorn's graceful stop included)
COLOURS = ("36", "33", "32", "35", "34", "31")  # cyan yellow green magenta blue red
HANDLED = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Proc:
    """One supervised process."""

    name: str
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]


def describe(rc: int) -> str:
    """``exit code 3`` or ``signal SIGKILL``."""
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return f"exit code {rc}"


def status_for(rc: int) -> int:
    """Exit status of ``run.all`` when a process ended on its own with ``rc``."""
    if rc < 0:
        return 128 + (-rc)
    return rc or 1


class Prefixer:
    """Writes ``name | line`` with one colour per process (when the stream is a terminal)."""

    def __init__(self, names: Sequence[str], stream: TextIO) -> None:
        self.width = max(len(n) for n in (*names, "run"))
        self.stream = stream
        colour = stream.isatty() and not os.environ.get("NO_COLOR")
        self.colours = {n: COLOURS[i % len(COLOURS)] if colour else "" for i, n in enumerate(names)}

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self.width}} | "
        code = self.colours.get(name, "")
        if code:
            prefix = f"\033[{code}m{prefix}\033[0m"
        self.stream.write(prefix + text.rstrip("\r\n") + "\n")
        self.stream.flush()


def _pump(name: str, pipe: IO[bytes], events: queue.Queue[tuple[str, str | None]]) -> None:
    for raw in iter(pipe.readline, b""):
        events.put((name, raw.decode("utf-8", "replace")))
    pipe.close()
    events.put((name, None))


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """Starts the processes, multiplexes their output and stops them (see the docstring)."""

    def __init__(self, procs: Sequence[Proc], printer: Prefixer, kill_wait: float) -> None:
        self.procs = procs
        self.printer = printer
        self.kill_wait = kill_wait
        self.received: list[signal.Signals] = []
        self.events: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.open_pipes = 0
        self.first_exit: tuple[str, int] | None = None
        self.stopping_since: float | None = None
        self.killed = False

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.received.append(signal.Signals(signum))  # acted upon by the main loop

    def start(self) -> None:
        for proc in self.procs:
            if self.received:
                return
            child = subprocess.Popen(
                list(proc.argv),
                cwd=proc.cwd,
                env=dict(proc.env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: Ctrl-C reaches us, we stop the group
            )
            self.children[proc.name] = child
            self.printer.line("run", f"{proc.name} started (pid {child.pid})")
            assert child.stdout is not None
            self.open_pipes += 1
            threading.Thread(
                target=_pump, args=(proc.name, child.stdout, self.events), daemon=True
            ).start()

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [c for c in self.children.values() if c.poll() is None]

    def step(self) -> bool:
        """One round of the loop; False once everything has ended and been read."""
        try:
            name, text = self.events.get(timeout=0.1)
        except queue.Empty:
            pass
        else:
            if text is None:
                self.open_pipes -= 1
            else:
                self.printer.line(name, text)
        if self.stopping_since is None:
            if not self.received:
                for name, child in self.children.items():
                    if child.poll() is not None:
                        self.first_exit = (name, child.returncode)
                        break
            if self.received or self.first_exit:
                self.stop()
        elif not self.killed and time.monotonic() - self.stopping_since > self.kill_wait:
            for name, child in self.children.items():
                if child.poll() is None or self.open_pipes:
                    self.printer.line("run", f"sending SIGKILL to the group of {name}")
                _signal_group(child.pid, signal.SIGKILL)
            self.killed = True
        if self.stopping_since is None or self.running():
            return True
        # Every leader has ended; wait for the output pipes (a leftover group member may
        # still hold one: it gets SIGKILL above), but not forever.
        return bool(self.open_pipes) and time.monotonic() - self.stopping_since < 2 * self.kill_wait

    def stop(self) -> None:
        if self.first_exit:
            name, rc = self.first_exit
            why = f"{name} exited with {describe(rc)}"
        else:
            why = f"{self.received[0].name} received"
        self.printer.line("run", f"{why}: stopping the others")
        for child in self.children.values():
            # The whole group, also of a leader that is gone: its children may remain.
            _signal_group(child.pid, signal.SIGTERM)
        self.stopping_since = time.monotonic()

    def sweep(self) -> None:
        """SIGKILL whatever is left in each process group (also after an error here)."""
        for child in self.children.values():
            _signal_group(child.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)


def run_all(
    procs: Sequence[Proc],
    out: Callable[[str], None] = print,
    stream: TextIO | None = None,
    kill_wait: float = KILL_WAIT,
) -> int:
    """Run ``procs`` until Ctrl-C/SIGTERM or until one exits; returns the exit status."""
    if not procs:
        out("run.all: nothing to run")
        return 0
    printer = Prefixer([p.name for p in procs], stream or sys.stdout)
    sup = Supervisor(procs, printer, kill_wait)
    previous = {sig: signal.signal(sig, sup.on_signal) for sig in HANDLED}
    try:
        sup.start()
        while sup.step():
            pass
    finally:
        sup.sweep()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for name, child in sup.children.items():
        printer.line("run", f"{name} stopped ({describe(child.returncode)})")
    if sup.first_exit is None:
        what = sup.received[0].name if sup.received else "nothing to run"
        out(f"run.all: stopped ({what}); every process has ended")
        return 0
    name, rc = sup.first_exit
    out(f"run.all: {name} exited on its own with {describe(rc)}; the others were stopped")
    return status_for(rc)
