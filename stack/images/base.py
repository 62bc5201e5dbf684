"""The Debian base of every stand-in: ``debootstrap --variant=minbase`` + ``docker import``.

The mirror comes from the host's apt sources (:mod:`stack.images.apt`).  The tree is slimmed
(apt caches, package lists, docs) before ``tar -C DIR -c . | docker import -
stack-standin/base:<hash12>`` (:func:`stack.images.sdk.import_rootfs`).  The tag's hash covers
the recipe below (suite, variant, extra packages, config files), so it is known before
building.  The names of :mod:`stack.images.apt` and the engine calls of
:mod:`stack.images.sdk` stay importable from here.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stack.errors import ImageError
from stack.images.apt import SUITE, AptSource, apt_sources, host_mirror, mirror
from stack.images.sdk import CHUNK, image_exists, import_rootfs, local_images
from stack.images.sdk import client_of as _sdk
from stack.images.sdk import reap as _reap

# Everything importable from here before the split (importers keep this path).
__all__ = [
    "APT_CONF",
    "BASE_REPO",
    "BASE_SCHEME",
    "CHUNK",
    "DPKG_NODOC",
    "NAMESPACE",
    "SLIM_PATHS",
    "SUITE",
    "VARIANT",
    "AptSource",
    "Progress",
    "_reap",
    "_sdk",
    "apt_sources",
    "base_hash",
    "base_ref",
    "build_base",
    "host_mirror",
    "image_exists",
    "import_rootfs",
    "local_images",
    "mirror",
    "require_linux_host",
]

VARIANT = "minbase"
NAMESPACE = "stack-standin"
BASE_REPO = f"{NAMESPACE}/base"
# Bump when the base recipe changes in a way the constants below do not capture.
BASE_SCHEME = "1"

APT_CONF = """\
APT::Install-Recommends "0";
APT::Install-Suggests "0";
Acquire::Retries "3";
"""
DPKG_NODOC = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
"""
SLIM_PATHS = (
    "var/cache/apt/archives",
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "var/log",
)

Progress = Callable[[str], None]


def base_hash() -> str:
    """12-hex hash of the base recipe (independent of which mirror serves it)."""
    h = hashlib.sha256()
    for part in (BASE_SCHEME, SUITE, VARIANT, APT_CONF, DPKG_NODOC, *SLIM_PATHS):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def base_ref() -> str:
    """``stack-standin/base:<hash12>``."""
    return f"{BASE_REPO}:{base_hash()}"


def require_linux_host(what: str = "building stand-in images") -> None:
    """ImageError unless this is a Linux host (debootstrap makes the base on the host)."""
    system = platform.system()
    if system == "Linux":
        return
    raise ImageError(
        f"{what} needs a Linux host (the Debian base is made with debootstrap); "
        f"this is {system or 'an unknown system'}",
        hint="use the upstream images instead: unset STACK_OFFLINE so they are pulled, or "
        "set STACK_REGISTRY_MIRRORS=docker.io=<mirror>/... to pull them through a mirror",
    )


def _ensure_debootstrap(progress: Progress) -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ImageError(
            "debootstrap is not installed", hint="apt-get install -y debootstrap (as root)"
        )
    progress("installing debootstrap (apt-get install -y debootstrap)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in range(2):
        proc = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if proc.returncode == 0:
            break
        if attempt == 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
    else:
        raise ImageError("apt-get install debootstrap failed:\n" + proc.stderr[-1500:])
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


def _umount_below(root: Path) -> None:
    """Unmount anything debootstrap left mounted inside ``root`` (after a failure)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root.resolve()) + "/"
    targets = [m.split()[1] for m in mounts if len(m.split()) > 1]
    for target in sorted((t for t in targets if t.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _slim(root: Path, mirror_uri: str) -> None:
    for rel in SLIM_PATHS:
        p = root / rel
        if p.is_dir():
            for child in p.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/apt.conf.d/90stack").write_text(APT_CONF)
    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/90stack-nodoc").write_text(DPKG_NODOC)
    (root / "etc/apt/sources.list").write_text(
        f"deb {mirror_uri} {SUITE} main\ndeb {mirror_uri} {SUITE}-updates main\n"
    )
    # No daemons may start during package installs inside docker build.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)


def build_base(*, force: bool = False, progress: Progress = print) -> tuple[str, bool, float]:
    """Build the base if missing; returns ``(ref, cached, seconds)``."""
    ref = base_ref()
    t0 = time.monotonic()
    if not force and image_exists(ref):
        return ref, True, time.monotonic() - t0
    require_linux_host()
    if os.geteuid() != 0:
        raise ImageError(
            "building the stand-in base needs root (debootstrap)",
            hint="run invoke images.build as root, or import an existing base: "
            f"docker tag <debian bookworm image> {ref}",
        )
    debootstrap = _ensure_debootstrap(progress)
    uri = mirror()
    tmp_parent = Path(os.environ.get("STACK_BUILD_TMP", "/var/tmp"))
    work = Path(tempfile.mkdtemp(prefix="stack-base-", dir=tmp_parent))
    rootfs = work / "rootfs"
    log = work / "debootstrap.log"
    try:
        progress(f"base: debootstrap --variant={VARIANT} {SUITE} from {uri}")
        with log.open("wb") as fh:
            proc = subprocess.run(
                [debootstrap, f"--variant={VARIANT}", SUITE, str(rootfs), uri],
                stdout=fh,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise ImageError(
                f"debootstrap failed (exit {proc.returncode}) from {uri}:\n{tail}",
                hint="check the host's apt mirror, or set STACK_DEBIAN_MIRROR=<url>",
            )
        _slim(rootfs, uri)
        progress(f"base: docker import -> {ref}")
        changes = [
            'CMD ["/bin/bash"]',
            "ENV LANG=C.UTF-8",
            f"LABEL org.stack.recipe=base org.stack.recipe-hash={base_hash()} "
            f"org.stack.version=debian-{SUITE}",
        ]
        import_rootfs(rootfs, ref, changes)
    finally:
        _umount_below(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    return ref, False, time.monotonic() - t0
