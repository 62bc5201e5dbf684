"""The Debian base of every stand-in: ``debootstrap --variant=minbase`` + ``docker import``.

The mirror is taken from the host's apt sources (one-line ``sources.list`` files and deb822
``*.sources`` files): the first ``deb`` entry for the suite (bookworm) with component ``main``.
No host name is hard-coded.  The tree is slimmed (apt caches, package lists, docs) before
``tar -C DIR -c . | docker import - stack-standin/base:<hash12>``.  The tag's hash covers the
recipe below (suite, variant, extra packages, config files), so it is known before building.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.errors import ImageError

SUITE = "bookworm"
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


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source entry."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    origin: str  # file:line


def _one_line_sources(path: Path) -> Iterable[AptSource]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) < 2:
            continue
        yield AptSource(words[0], (words[1],), tuple(words[2:]), f"{path}:{no}")


def _deb822_sources(path: Path) -> Iterable[AptSource]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    stanza: dict[str, str] = {}
    start = 1
    key = ""

    def flush(at: int) -> Iterable[AptSource]:
        if not stanza:
            return
        if stanza.get("enabled", "yes").lower() == "no":
            return
        if "deb" not in stanza.get("types", "").split():
            return
        for uri in stanza.get("uris", "").split():
            yield AptSource(
                uri,
                tuple(stanza.get("suites", "").split()),
                tuple(stanza.get("components", "").split()),
                f"{path}:{at}",
            )

    for no, raw in enumerate([*text.splitlines(), ""], 1):
        if raw.startswith("#"):
            continue
        if not raw.strip():
            yield from flush(start)
            stanza, key = {}, ""
            start = no + 1
            continue
        if raw[0] in " \t" and key:
            stanza[key] += " " + raw.strip()
            continue
        k, sep, v = raw.partition(":")
        if sep:
            key = k.strip().lower()
            stanza[key] = v.strip()


def apt_sources(root: Path = Path("/etc/apt")) -> list[AptSource]:
    """All ``deb`` entries of the host, in apt's reading order."""
    found: list[AptSource] = []
    found.extend(_one_line_sources(root / "sources.list"))
    parts = root / "sources.list.d"
    if parts.is_dir():
        for f in sorted(parts.iterdir()):
            if f.suffix == ".list":
                found.extend(_one_line_sources(f))
            elif f.suffix == ".sources":
                found.extend(_deb822_sources(f))
    return found


def host_mirror(suite: str = SUITE, root: Path = Path("/etc/apt")) -> str:
    """URI of the main archive for ``suite`` from the host's apt sources."""
    sources = apt_sources(root)
    for s in sources:
        if suite in s.suites and "main" in s.components and "security" not in s.uri:
            return s.uri.rstrip("/")
    listed = "; ".join(f"{s.origin} {s.uri} {' '.join(s.suites)}" for s in sources) or "none"
    raise ImageError(
        f"no '{suite}' main archive in the host's apt sources ({root}/sources.list, "
        f"{root}/sources.list.d/*.list|*.sources); found: {listed}",
        hint=f"add a 'deb <mirror> {suite} main' source, or set STACK_DEBIAN_MIRROR=<url>",
    )


def mirror() -> str:
    """Mirror to debootstrap from: STACK_DEBIAN_MIRROR if set, else the host's apt sources."""
    return os.environ.get("STACK_DEBIAN_MIRROR", "").rstrip("/") or host_mirror()


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


def local_images(client: Any = None) -> set[str]:
    """Every ``repo:tag`` in the local engine, in one API call (docker SDK).

    ``images.list()`` would inspect each image and race with concurrent removals.
    """
    if client is None:
        import docker

        try:
            client = docker.from_env()
        except docker.errors.DockerException as exc:
            raise ImageError(
                f"cannot list local images: {exc}", hint="invoke engine.ensure"
            ) from None
    refs: set[str] = set()
    for img in client.api.images():
        refs.update(t for t in img.get("RepoTags") or [] if "<none>" not in t)
    return refs | {r.removeprefix("docker.io/") for r in refs}


def image_exists(ref: str) -> bool:
    """True if ``ref`` is present in the local engine (docker CLI, no pull)."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


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
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
            stdout=subprocess.PIPE,
        )
        imp = subprocess.run(
            [
                "docker",
                "import",
                "--change",
                'CMD ["/bin/bash"]',
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                f"LABEL org.stack.recipe=base org.stack.recipe-hash={base_hash()} "
                f"org.stack.version=debian-{SUITE}",
                "-",
                ref,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        if tar.stdout:
            tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"docker import of the base failed: {imp.stderr.strip()}")
    finally:
        _umount_below(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    return ref, False, time.monotonic() - t0
