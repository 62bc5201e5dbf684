"""File writing that never loses what a user wrote, and never leaks a secret.

* :func:`write_atomic` writes through a temp file in the target's directory and
  ``os.replace``: a reader sees the old file or the new one, never half of it.  A symlink
  is written *through* (the link stays, its target gets the new content, keeping the
  target's owner and mode).  New files follow the umask unless a mode is given.  The file
  and its directory are fsynced.  Any ``OSError`` becomes a :class:`WriteError` naming the
  path, the cause and the fix; no temp file is left behind.
* :func:`write_private` is the one way to write a file that holds a secret value: mode
  0600 in a directory of mode 0700.
* :func:`output_problem` / :func:`input_problem` check a user-given path *before* any
  work starts (an output needs an existing, writable parent directory: a typo never
  creates directories, and writability is tested by creating a probe file, because
  ``os.access`` says yes to root everywhere and /proc takes no new files; an input must
  be a readable file, not a directory or a FIFO).
* :func:`backup` never overwrites an earlier backup and never leaves half of one.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from pathlib import Path

from stack.errors import Problem, WriteError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _fix_for(exc: OSError, path: Path) -> str:
    import errno

    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"make {path.parent} writable for this user, or choose another path"
    if exc.errno == errno.ENOENT:
        return f"create {path.parent} first, or choose another path"
    if exc.errno == errno.EROFS:
        return "the file system is read-only: choose a path on a writable one"
    if exc.errno == errno.ENOSPC:
        return f"free some space on the file system of {path.parent}, then run it again"
    if exc.errno == errno.EISDIR:
        return f"{path} is a directory: give a file path"
    return "choose another path, or fix the cause above"


def _write_error(exc: OSError, path: Path) -> WriteError:
    cause = exc.strerror or str(exc)
    return WriteError(f"cannot write {path}: {cause}", hint=_fix_for(exc, path))


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    mode: int | None = None,
    parents: bool = False,
) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring).

    ``mode`` sets the permission bits of the new content (e.g. ``0o600``); without it an
    existing file keeps its mode and a new one gets ``0o666 & ~umask``.  ``parents``
    creates missing parent directories (only for the toolkit's own state directories; a
    user-given output path never gets directories made for it).
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        payload = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError as exc:  # e.g. a lone surrogate from a non-UTF-8 argument
        raise WriteError(
            f"cannot write {path}: the text holds a character that is not valid UTF-8 "
            f"({exc.object[exc.start : exc.end]!r})",
            hint="remove the non-UTF-8 bytes from the value that produced it",
        ) from None
    try:
        if parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        elif not target.parent.is_dir():
            raise WriteError(
                f"cannot write {path}: directory {target.parent} does not exist",
                hint=f"create {target.parent} first (`mkdir -p {target.parent}`), "
                "or choose another path",
            )
        try:
            existing: os.stat_result | None = target.stat()
        except FileNotFoundError:
            existing = None
        if existing is not None and not target.is_file():
            raise WriteError(
                f"cannot write {path}: it is not a regular file", hint="give a file path"
            )
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _write_error(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        # Owner first: a chown clears set-id bits, so the mode is applied after it.
        if existing is not None and hasattr(os, "chown"):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.chown(tmp, existing.st_uid, existing.st_gid)
        if mode is not None:
            os.chmod(tmp, mode)
        elif existing is not None:
            os.chmod(tmp, existing.st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(directory: Path) -> None:
    """fsync a directory so a rename in it survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(directory: Path) -> Path:
    """Create ``directory`` (and parents) and make it mode 0700; returns it."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        if directory.stat().st_mode & 0o777 != PRIVATE_DIR:
            os.chmod(directory, PRIVATE_DIR)
    except OSError as exc:
        raise _write_error(exc, directory / ".") from None
    return directory


def write_private(path: Path, data: str | bytes) -> None:
    """Write a file holding a secret value: mode 0600 inside a 0700 directory."""
    private_dir(Path(path).parent)
    write_atomic(path, data, mode=PRIVATE_FILE)


def backup(path: Path) -> Path:
    """Copy ``path`` to a new ``<name>.bak[.N]`` beside it and return the copy's path."""
    candidate = path.with_name(path.name + ".bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak.{n}")
        n += 1
    try:
        data = path.read_bytes()
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, path.stat().st_mode & 0o7777)
    except OSError as exc:
        raise _write_error(exc, candidate) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        candidate.unlink(missing_ok=True)  # never leave half a backup behind
        if isinstance(exc, OSError):
            raise _write_error(exc, candidate) from None
        raise
    return candidate


def _probe(directory: Path) -> OSError | None:
    """Create and remove a temp file in ``directory``: the only honest writability test.

    ``os.access`` says yes to root everywhere, and to anyone on file systems such as
    /proc that accept no new files at all.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".stack-probe.", suffix=".tmp", dir=directory)
    except OSError as exc:
        return exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def output_problem(path: Path, flag: str, *, writing: bool = True) -> Problem | None:
    """Why ``path`` cannot be written as an output of ``flag`` (None when it can).

    With ``writing=False`` (a ``--check`` that only reads the output) the path may be
    absent, but it must not be a directory, and an existing file must be readable.
    Problems are reported at ``"<flag> <path>"``.
    """
    path = Path(path)
    where = f"{flag} {path}"
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    parent = target.parent
    if target.is_dir():
        return Problem(where, "is a directory, not a file", f"give {flag} a file path")
    if target.exists() and not target.is_file():
        return Problem(where, "is not a regular file", f"give {flag} a file path")
    if not writing:
        return _open_problem(target, where, flag) if target.exists() else None
    if not parent.is_dir():
        return Problem(
            where,
            f"directory {parent} does not exist (nothing is created for a typo)",
            f"create it first (`mkdir -p {parent}`) or give {flag} a path in an existing directory",
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        cause = "is not writable"
    elif (exc := _probe(parent)) is not None:
        cause = f"accepts no new files ({exc.strerror or exc})"
    else:
        cause = ""
    if cause:
        return Problem(
            where, f"directory {parent} {cause}", f"give {flag} a path in a writable directory"
        )
    if target.exists() and not os.access(target, os.W_OK):
        return Problem(where, "is not writable", f"give {flag} a writable path")
    return None


def _open_problem(target: Path, where: str, flag: str) -> Problem | None:
    try:
        with open(target, "rb"):
            pass
    except OSError as exc:
        return Problem(
            where, f"cannot be read: {exc.strerror or exc}", f"give {flag} a readable file"
        )
    return None


def input_problem(path: Path, flag: str) -> Problem | None:
    """Why ``path`` cannot be read as an input file of ``flag`` (None when it can).

    Problems are reported at ``"<flag> <path>"``.
    """
    import stat

    path = Path(path)
    where = f"{flag} {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        return Problem(where, "does not exist", f"give {flag} the path of an existing file")
    except OSError as exc:
        return Problem(
            where, f"cannot be read: {exc.strerror or exc}", f"give {flag} a readable file"
        )
    if stat.S_ISDIR(info.st_mode):
        return Problem(where, "is a directory, not a file", f"give {flag} a file path")
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):  # opening could block
        return Problem(where, "is not a regular file", f"give {flag} a file path")
    return _open_problem(path, where, flag)


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two texts ('' when equal), marking a missing final newline."""
    out = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=old_name,
        tofile=new_name,
    ):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
