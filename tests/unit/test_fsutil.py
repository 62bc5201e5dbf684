"""fsutil and argcheck on a real file system: modes, symlinks, failures, path checks.

The permission tests need a user that permissions apply to: as root (which ignores
them) the write runs in a child process as ``nobody``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stack import argcheck as a
from stack import fsutil
from stack.errors import ProblemsError, WriteError

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------- modes


def test_new_file_follows_the_umask(tmp_path, umask):
    target = tmp_path / "out.yaml"
    fsutil.write_atomic(target, "a: 1\n")
    assert target.read_text() == "a: 1\n"
    assert mode_of(target) == 0o640
    assert fsutil.current_umask() == 0o027


def test_explicit_mode_wins(tmp_path, umask):
    target = tmp_path / "out.env"
    target.write_text("old\n")
    target.chmod(0o644)
    fsutil.write_atomic(target, "new\n", mode=0o600)
    assert mode_of(target) == 0o600
    assert target.read_text() == "new\n"


def test_existing_mode_is_kept(tmp_path, umask):
    target = tmp_path / "script.sh"
    target.write_text("old\n")
    target.chmod(0o751)
    fsutil.write_atomic(target, "new\n")
    assert mode_of(target) == 0o751
    assert target.read_text() == "new\n"


def test_symlink_is_written_through(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / ".env"
    real.write_text("A=1\n")
    real.chmod(0o600)
    link = tmp_path / ".env"
    link.symlink_to(real)
    fsutil.write_atomic(link, "A=2\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == "A=2\n"
    assert mode_of(real) == 0o600
    assert leftovers(tmp_path) == [] and leftovers(real_dir) == []


def test_write_private_is_0600_in_a_0700_dir(tmp_path):
    target = tmp_path / "state" / "deep" / "secret.yaml"
    fsutil.write_private(target, "password: x\n")
    assert mode_of(target) == 0o600
    assert mode_of(target.parent) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    fsutil.write_private(loose / "s", "x")
    assert mode_of(loose) == 0o700


# ----------------------------------------------------------------------------- failures


def test_missing_parent_is_a_write_error_and_creates_nothing(tmp_path):
    target = tmp_path / "no-such-dir" / "x.env"
    with pytest.raises(WriteError) as info:
        fsutil.write_atomic(target, "A=1\n")
    assert str(target) in str(info.value) and "does not exist" in str(info.value)
    assert "mkdir -p" in str(info.value)
    assert not (tmp_path / "no-such-dir").exists()


def test_directory_target_is_a_write_error(tmp_path):
    with pytest.raises(WriteError, match="not a regular file"):
        fsutil.write_atomic(tmp_path, "x")
    assert leftovers(tmp_path) == []


def test_proc_is_a_write_error_not_a_traceback():
    with pytest.raises(WriteError) as info:
        fsutil.write_atomic(Path("/proc/stack-test.yaml"), "x")
    assert "/proc/stack-test.yaml" in str(info.value) and "fix:" in str(info.value)


def test_failure_after_the_temp_file_leaves_nothing_behind(tmp_path):
    """A real write failure mid-way (file size limit: EFBIG) keeps the old file intact,
    leaves no temp file and no half backup."""
    target = tmp_path / "out.yaml"
    target.write_text("keep\n")
    big = tmp_path / "big.env"
    big.write_text("A=" + "x" * 100_000 + "\n")
    code = f"""
import resource, signal
from pathlib import Path
from stack.fsutil import backup, write_atomic
from stack.errors import WriteError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_atomic(Path({str(target)!r}), "x" * 100_000)
except WriteError as exc:
    print("WriteError:", exc)
try:
    backup(Path({str(big)!r}))
except WriteError as exc:
    print("WriteError:", exc)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert f"WriteError: cannot write {target}: File too large" in proc.stdout
    assert f"WriteError: cannot write {big}.bak: File too large" in proc.stdout
    assert target.read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.env", "out.yaml"]


@pytest.fixture
def locked_dir() -> Iterator[Path]:
    """A directory ``nobody`` can enter but not write (outside root's 0700 tmp dirs)."""
    base = Path(tempfile.mkdtemp(prefix="stack-fsutil-"))
    base.chmod(0o755)
    locked = base / "locked"
    locked.mkdir()
    (locked / "existing.yaml").write_text("old\n")
    (locked / "existing.yaml").chmod(0o666)
    locked.chmod(0o555)
    try:
        yield locked
    finally:
        locked.chmod(0o755)
        for p in sorted(base.rglob("*"), reverse=True):
            p.unlink() if not p.is_dir() else p.rmdir()
        base.rmdir()


def unprivileged(fn: Callable[[], str]) -> str:
    """Run ``fn`` where permissions apply (a forked child as ``nobody`` when we are root).

    A fork, not a new interpreter: ``nobody`` may not be able to reach the interpreter.
    """
    if os.geteuid() != 0:
        return fn()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = fn()
        except BaseException as exc:  # report everything to the parent
            out, status = f"child failed: {exc!r}", 1
        with os.fdopen(write_end, "w") as fh:
            fh.write(out)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        out = fh.read()
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0, out
    return out


def test_unwritable_dir_is_a_write_error_with_the_path(locked_dir):
    def attempt() -> str:
        lines = []
        for name in ("new.yaml", "existing.yaml"):
            try:
                fsutil.write_atomic(locked_dir / name, "x")
            except WriteError as exc:
                lines.append(f"WriteError: {exc}")
            else:
                lines.append(f"written {name}")
        lines.append(str(a.output_path("--output", locked_dir / "new.yaml")))
        return "\n".join(lines)

    out = unprivileged(attempt)
    assert f"WriteError: cannot write {locked_dir}/new.yaml: Permission denied" in out
    assert f"WriteError: cannot write {locked_dir}/existing.yaml: Permission denied" in out
    assert "fix: make" in out and "writable" in out
    assert f"--output {locked_dir}/new.yaml: error: directory {locked_dir} is not writable" in out
    assert (locked_dir / "existing.yaml").read_text() == "old\n"
    assert sorted(p.name for p in locked_dir.iterdir()) == ["existing.yaml"]


def test_backup_copies_with_mode_and_never_overwrites(tmp_path):
    env = tmp_path / ".env"
    env.write_text("A=1\n")
    env.chmod(0o600)
    first = fsutil.backup(env)
    second = fsutil.backup(env)
    assert (first.name, second.name) == (".env.bak", ".env.bak.1")
    assert first.read_text() == "A=1\n" and mode_of(first) == 0o600


# ----------------------------------------------------------------------------- argcheck


def test_output_path_rules(tmp_path):
    assert a.output_path("--output", None) is None
    assert a.output_path("--output", tmp_path / "new.yaml") is None
    problem = a.output_path("--output", tmp_path / "nope" / "x.yaml")
    assert problem is not None and "does not exist (nothing is created" in problem.what
    assert problem.where == f"--output {tmp_path}/nope/x.yaml"
    assert not (tmp_path / "nope").exists()
    problem = a.output_path("--output", tmp_path)
    assert problem is not None and problem.what == "is a directory, not a file"
    # /proc accepts no new files even for root, whatever os.access says.
    problem = a.output_path("--output", "/proc/x.yaml")
    assert problem is not None and "directory /proc accepts no new files" in problem.what
    # A --check only reads: an absent file in a missing directory is fine (it is stale).
    assert a.output_path("--output", tmp_path / "nope" / "x", writing=False) is None
    assert a.output_path("--output", tmp_path, writing=False) is not None
    assert a.output_path("--output", "  ") is not None
    assert leftovers(tmp_path) == []


def test_input_file_rules(tmp_path):
    good = tmp_path / "t.yaml"
    good.write_text("x")
    assert a.input_file("--template", good) is None
    assert a.input_file("--template", "/dev/null") is None
    missing = a.input_file("--template", tmp_path / "nope")
    assert missing is not None and missing.what == "does not exist"
    folder = a.input_file("--template", tmp_path)
    assert folder is not None and folder.what == "is a directory, not a file"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert a.input_file("--template", fifo) is not None  # opening it would hang


def test_raise_all_reports_every_flag_at_once(tmp_path):
    with pytest.raises(ProblemsError) as info:
        a.raise_all(
            a.input_file("--template", tmp_path),
            a.output_path("--output", "/proc/x.yaml"),
            a.input_file("--env-file", None),
        )
    text = str(info.value)
    assert f"--template {tmp_path}: error: is a directory" in text
    assert "--output /proc/x.yaml: error:" in text


def test_unified_diff_marks_a_missing_final_newline():
    diff = fsutil.unified_diff("a\nb", "a\nc\n", "old", "new")
    assert "-b\n\\ No newline at end of file\n+c\n" in diff


# ----------------------------------------------------------------------------- the CLI


def invoke(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "where", "what"),
    [
        (("release.compose", "--output", "/proc/x.yaml"), "--output /proc/x.yaml", "/proc"),
        (("env.init", "--output", "/proc/x.env"), "--output /proc/x.env", "/proc"),
        (("env.doc", "--output", "/proc/x.md"), "--output /proc/x.md", "/proc"),
        (("release.compose", "--template", "compose"), "--template compose", "a directory"),
        (("env.doc", "--check", "--output", "docs"), "--output docs", "a directory"),
        (
            ("env.init", "--output", "/no-such-stack-dir/x.env"),
            "--output /no-such-stack-dir/x.env",
            "does not exist",
        ),
    ],
)
def test_bad_paths_give_a_clean_error(args, where, what):
    proc = invoke(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "error: invalid arguments (nothing was done)" in proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith(where + ": error:"))
    assert what in line
    assert "fix:" in proc.stderr
    assert not Path("/no-such-stack-dir").exists()
