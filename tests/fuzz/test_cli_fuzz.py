"""CLI fuzz tier: every task x every valued flag, through the real ``invoke`` CLI.

Tasks and flags are enumerated from the invoke Collections themselves (``tasks.ns``), so a
new task or flag is covered without anyone editing this file.  Each flag is classified by
its name, default and help text (number, path or name) and given values that are invalid
for that class: fixed corner cases (empty, negative, huge, non-UTF-8, a directory where a
file is expected, an unwritable path, a missing path, an invalid name) plus a batch drawn
by hypothesis.  Every case must exit non-zero, print no traceback, name the flag, and
create nothing in the engine or the checkout.

The values of one flag run in parallel processes (``STACK_FUZZ_JOBS``, default: CPUs);
``STACK_FUZZ_EXAMPLES`` sets how many values hypothesis adds per flag (default 4).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack import paths

pytestmark = pytest.mark.e2e

ROOT = paths.ROOT
EXAMPLES = int(os.environ.get("STACK_FUZZ_EXAMPLES", "4"))
JOBS = int(os.environ.get("STACK_FUZZ_JOBS", str(os.cpu_count() or 2)))
TIMEOUT = 120

NUMBER_WORDS = re.compile(
    r"\b(seconds?|number|count|parallel|jobs|runs|port|replicas|timeout|interval|bound)\b", re.I
)
PATH_WORDS = re.compile(r"\b(path|file|dir|directory|folder|python|template)\b", re.I)
PATH_NAMES = {"output", "template", "env_file", "path", "example", "base", "app_dir", "python"}


def _load_root_collection():
    spec = importlib.util.spec_from_file_location("stack_fuzz_tasks", ROOT / "tasks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns


@dataclass(frozen=True)
class Flag:
    task: str
    name: str  # python name
    kind: str  # number | path | name
    help: str

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def __str__(self) -> str:
        return f"{self.task} {self.option}"


def classify(name: str, default: object, help_text: str, cast: type) -> str:
    if cast in (int, float) or (isinstance(default, int | float) and not isinstance(default, bool)):
        return "number"
    if name in PATH_NAMES or name.endswith(("_file", "_dir", "_path")):
        return "path"
    if NUMBER_WORDS.search(name.replace("_", " ")) or NUMBER_WORDS.search(help_text[:60]):
        return "number"
    if PATH_WORDS.search(help_text[:80]):
        return "path"
    return "name"


def enumerate_flags() -> Iterator[Flag]:
    ns = _load_root_collection()
    for task_name in sorted(ns.task_names):
        task = ns[task_name]
        for arg in task.get_arguments():
            if arg.kind is bool:
                continue  # a switch has no value to get wrong
            help_text = arg.help or ""
            cast = arg.kind if arg.kind in (int, float) else str
            yield Flag(
                task_name, arg.name, classify(arg.name, arg.default, help_text, cast), help_text
            )


FLAGS = list(enumerate_flags())

NON_UTF8 = b"\xff\xfe-stack-fuzz"
MISSING_DIR = "/no-such-dir-stack-fuzz"


def fixed_values(kind: str, tmp_dir: Path) -> list[str | bytes]:
    """Corner cases invalid for every flag of ``kind``."""
    common: list[str | bytes] = ["", NON_UTF8]
    if kind == "number":
        return [*common, "-5", "0", "abc", "1e400", "9" * 40]
    if kind == "path":
        return [
            *common,
            str(tmp_dir),  # a directory where a file is expected
            "/proc/stack-fuzz/x.out",  # unwritable (and missing)
            f"{MISSING_DIR}/x.env",  # a missing path (a typo must not create it)
            b"/tmp/\xff\xfe-stack-fuzz-missing/x",
        ]
    return [*common, "Bad Name!", "-5", "x" * 300, "../../etc"]


def drawn_values(kind: str) -> st.SearchStrategy[str]:
    """Hypothesis strategies of values invalid for ``kind``."""
    junk = st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    )
    if kind == "number":
        return st.one_of(
            st.integers(max_value=0).map(str),
            st.integers(min_value=10**9).map(str),
            junk.filter(lambda s: not re.fullmatch(r"\s*[0-9.eE+-]+\s*", s)),
        )
    if kind == "path":
        return junk.map(lambda s: f"{MISSING_DIR}/{s.replace('/', '_')}")
    # names: anything with a character no task name, project name or known value has
    return junk.filter(lambda s: not re.fullmatch(r"[a-z0-9][a-z0-9_.:-]*", s)).map(
        lambda s: s + " !"
    )


def engine_snapshot() -> set[str] | None:
    try:
        import docker

        from stack.engine.client import client

        c = client()
    except Exception:
        return None  # no engine: nothing can be created there either
    ids: set[str] = set()
    try:
        ids.update("c:" + x["Id"] for x in c.api.containers(all=True))
        ids.update("n:" + x["Id"] for x in c.api.networks())
        ids.update("v:" + x["Name"] for x in (c.api.volumes().get("Volumes") or []))
    except docker.errors.APIError:
        return None
    return ids


def checkout_snapshot() -> set[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    extra = set()
    for base in (Path(MISSING_DIR), Path("/proc/stack-fuzz")):
        if base.exists():
            extra.add(str(base))
    return set(out.splitlines()) | extra


def run_case(flag: Flag, value: str | bytes) -> tuple[str | bytes, int, str]:
    argv: list[str | bytes] = [sys.executable, "-m", "invoke", flag.task, flag.option, value]
    env = {**os.environ, "STACK_OFFLINE": "1", "PYTHONIOENCODING": "utf-8:strict"}
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return value, -999, f"still running after {TIMEOUT} s (the value was accepted)"
    output = (proc.stdout + proc.stderr).decode("utf-8", errors="replace")
    return value, proc.returncode, output


def verdict(flag: Flag, value: str | bytes, rc: int, output: str) -> str | None:
    """Why this case is a defect, or None."""
    if "Traceback (most recent call last)" in output:
        return "traceback:\n" + output[-1500:]
    if rc == 0:
        return f"exit 0 (the invalid value was accepted):\n{output[-600:]}"
    if rc == -999:
        return output
    names = {flag.option, flag.name, flag.name.replace("_", "-")}
    if not any(n in output for n in names):
        return f"exit {rc} but the message does not name {flag.option}:\n{output[-600:]}"
    return None


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-dir")


def test_every_task_and_flag_is_enumerated() -> None:
    """The collections are the source: known tasks appear, switches are left out."""
    names = {str(f) for f in FLAGS}
    assert "release.compose --output" in names
    assert "dev.up --project" in names
    assert not any(f.name in ("check", "json", "force", "yes") for f in FLAGS)
    kinds = {f.kind for f in FLAGS}
    assert {"number", "path", "name"} <= kinds, kinds


@pytest.mark.parametrize("flag", FLAGS, ids=str)
@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_invalid_value_is_rejected_cleanly(flag: Flag, scratch: Path, data: st.DataObject) -> None:
    drawn = data.draw(
        st.lists(drawn_values(flag.kind), min_size=EXAMPLES, max_size=EXAMPLES, unique=True),
        label="drawn values",
    )
    values = [*fixed_values(flag.kind, scratch), *drawn]
    engine_before = engine_snapshot()
    tree_before = checkout_snapshot()
    with ThreadPoolExecutor(max_workers=max(1, JOBS)) as pool:
        results = list(pool.map(lambda v: run_case(flag, v), values))
    defects = []
    for value, rc, output in results:
        why = verdict(flag, value, rc, output)
        if why:
            defects.append(f"{flag} {value!r}: {why}")
    engine_after = engine_snapshot()
    if engine_before is not None and engine_after is not None:
        created = sorted(engine_after - engine_before)
        if created:
            defects.append(f"{flag}: created engine resources {created[:5]}")
    created_files = sorted(checkout_snapshot() - tree_before)
    if created_files:
        defects.append(f"{flag}: created files {created_files[:5]}")
    assert not defects, f"{len(defects)} defect(s):\n\n" + "\n\n".join(defects)
