"""Host port checks: is a port free on 127.0.0.1, and if not, who holds it."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound right now (what docker-proxy will need)."""
    from stack.dockerapi import engine_host

    remote = engine_host()
    if remote != "127.0.0.1":  # a TCP engine elsewhere publishes there: taken if it answers
        try:
            socket.create_connection((remote, port), timeout=1).close()
        except OSError:
            return True
        return False
    for family, addr in ((socket.AF_INET, host), (socket.AF_INET, "0.0.0.0")):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((addr, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(inode)
    return inodes


def holder(port: int) -> str | None:
    """Best-effort description of the process listening on ``port`` (``None``: unknown)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in wanted:
                    return _describe(pid)
            except OSError:
                continue
    return "another user's process (not visible to this user)"


def _describe(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cmd = " ".join(p.decode(errors="replace") for p in raw if p)[:120]
    except OSError:
        cmd = "?"
    return f"pid {pid}: {cmd}"


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports that are free on ``host`` right now (held open together)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def dev_port_vars() -> tuple[str, ...]:
    """Every ``EXPOSE_*`` variable a dev service publishes on, from the template's hints.

    Tests and benchmarks give each of them a free port, so a store added to the template
    never binds its default host port in a test run (one definition: the ``x-stack-dev``
    hint's ``expose``).
    """
    from stack.compose.hints import template_hints

    return tuple(dict.fromkeys(h.expose for h in template_hints().values() if h.expose))


def free_dev_ports(*extra: str) -> dict[str, str]:
    """A free host port for every dev ``EXPOSE_*`` variable, plus the ``extra`` names."""
    names = [*dev_port_vars(), *extra]
    return dict(zip(names, map(str, free_ports(len(names))), strict=True))
