"""Benchmarks as ratios against a baseline run in the same process (`nox -s bench`).

Never a timed assertion: this prints numbers for closing notes and reviews.

* ``cli``: ``invoke --list`` and ``invoke release.compose --check`` (with an empty
  validation cache, and with the text already validated) against a bare ``invoke --list``
  of a one-task file;
* ``dev``: ``dev.up`` from stopped and a repeated ``dev.up`` against raw
  ``docker compose up -d --wait`` on the very same generated file and services;
* ``vdb``: the whole store matrix in one process against the sum of single-store runs;
* ``run``: ``run.api`` start against gunicorn by hand, ingest -> searchable latency and
  worker throughput against the adapter called directly (:mod:`stack.run.bench`).

Usage: ``python -m stack.bench [cli] [dev] [vdb] [run] [--runs N]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from stack import paths

Result = tuple[str, float, str, float]  # name, seconds, baseline name, baseline seconds


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(runs: int, fn: Callable[[], object]) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


def run(argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        list(argv), cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def bench_cli(runs: int) -> list[Result]:
    invoke = [sys.executable, "-m", "invoke"]
    with tempfile.TemporaryDirectory(prefix="stack-bench-") as tmp:
        Path(tmp, "tasks.py").write_text(
            "from invoke import task\n\n\n@task\ndef hello(c):\n    pass\n"
        )
        bare = median_of(runs, lambda: run([*invoke, "--list"], cwd=Path(tmp)))
    listing = median_of(runs, lambda: run([*invoke, "--list"], cwd=paths.ROOT))
    with tempfile.TemporaryDirectory(prefix="stack-bench-cache-") as cache:
        # The file checked is rendered once into the temp dir: the figures do not depend
        # on whether compose/docker-compose.yaml is up to date in the working tree.
        out = ["--output", str(Path(cache) / "docker-compose.yaml")]
        warm_env = {**os.environ, "STACK_CACHE_DIR": str(Path(cache) / "warm")}
        run([*invoke, "release.compose", *out], cwd=paths.ROOT, env=warm_env)  # + primes
        check_argv = [*invoke, "release.compose", "--check", *out]

        def cold() -> None:  # an empty validation cache: both `docker compose config` runs
            with tempfile.TemporaryDirectory(dir=cache) as empty:
                run(check_argv, cwd=paths.ROOT, env={**os.environ, "STACK_CACHE_DIR": empty})

        check_cold = median_of(runs, cold)
        check_warm = median_of(runs, lambda: run(check_argv, cwd=paths.ROOT, env=warm_env))
    return [
        ("invoke --list (stack)", listing, "bare invoke --list", bare),
        ("release.compose --check (cold cache)", check_cold, "bare invoke --list", bare),
        ("release.compose --check (validated)", check_warm, "bare invoke --list", bare),
    ]


def bench_dev(runs: int) -> list[Result]:
    from stack.compose.cli import find_compose
    from stack.compose.validate import isolated_env
    from stack.dev import lifecycle
    from stack.dev.ports import free_ports
    from stack.dev.prepare import DevOptions
    from stack.engine import labels
    from stack.fsutil import write_private

    session = labels.new_session_id()
    names = [
        "EXPOSE_POSTGRES_PORT",
        "EXPOSE_REDIS_PORT",
        "EXPOSE_SSRF_PROXY_PORT",
        "EXPOSE_PGVECTOR_PORT",
    ]
    environ = {"STACK_OFFLINE": "1", **dict(zip(names, map(str, free_ports(4)), strict=True))}
    with tempfile.TemporaryDirectory(prefix="stack-bench-") as tmp:
        opts = DevOptions(
            project=f"stack-bench-{session}",
            environ=environ,
            dotenv=Path(tmp) / "absent.env",
            labels=labels.session_labels(session, purpose="bench"),
            state_dir=Path(tmp) / "state",
            out=lambda _line: None,
        )
        # dev.down removes the state directory: the baseline runs a copy of the same file.
        same_file = Path(tmp) / "compose.yaml"
        raw = find_compose().argv(
            "-f", str(same_file), "-p", opts.project,
            "--project-directory", str(paths.COMPOSE_DIR),
            "up", "-d", "--wait", "--no-build", "--pull", "never",
        )  # fmt: skip
        env = isolated_env()
        try:
            lifecycle.up(opts)  # creates volumes, first start
            write_private(same_file, opts.compose_file.read_text())  # it holds the passwords
            cold_ours, cold_raw, warm_ours, warm_raw = [], [], [], []
            for _ in range(runs):
                lifecycle.down(opts)
                cold_ours.append(timed(lambda: lifecycle.up(opts)))
                warm_ours.append(timed(lambda: lifecycle.up(opts)))
                lifecycle.down(opts)
                cold_raw.append(timed(lambda: run(raw, env=env)))
                warm_raw.append(timed(lambda: run(raw, env=env)))
        finally:
            lifecycle.reset(opts)
            labels.remove_session(session)
    med = statistics.median
    return [
        ("dev.up from stopped", med(cold_ours), "compose up -d --wait", med(cold_raw)),
        ("dev.up repeated (all up)", med(warm_ours), "compose up -d --wait", med(warm_raw)),
    ]


def bench_vdb(stores: Sequence[str] | None = None) -> list[Result]:
    from stack.stores.catalog import STORES

    chosen = list(stores or STORES)
    base = [sys.executable, "-m", "pytest", "tests/vdb", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "STACK_OFFLINE": "1", "TESTCONTAINERS_RYUK_DISABLED": "true"}
    env.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "localhost")

    def pytest_run(names: Sequence[str]) -> None:
        subprocess.run([*base, "--stores", ",".join(names)], cwd=paths.ROOT, env=env, check=False,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    matrix = timed(lambda: pytest_run(chosen))
    singles = 0.0
    for name in chosen:
        singles += timed(partial(pytest_run, [name]))
    name = f"vdb matrix, one process ({len(chosen)} stores)"
    return [(name, matrix, "sum of single-store runs", singles)]


def report(results: list[Result]) -> str:
    width = max(len(r[0]) for r in results)
    lines = []
    for name, secs, base_name, base in results:
        ratio = secs / base if base else float("nan")
        lines.append(f"{name:<{width}}  {secs:7.3f} s   {ratio:5.2f}x  {base_name} ({base:.3f} s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    runs = 3
    if "--runs" in args:
        idx = args.index("--runs")
        runs = int(args[idx + 1])
        del args[idx : idx + 2]
    which = args or ["cli", "dev"]
    results: list[Result] = []
    for part in which:
        if part == "cli":
            results += bench_cli(max(runs, 5))
        elif part == "dev":
            results += bench_dev(runs)
        elif part == "vdb":
            results += bench_vdb()
        elif part == "run":
            from stack.run.bench import bench_run

            results += bench_run(runs)
        else:
            print(f"unknown benchmark {part!r} (cli, dev, vdb, run)", file=sys.stderr)
            return 2
    print(report(results))
    out = paths.ROOT / ".stack" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = ("name", "s", "baseline", "baseline_s")
    out.write_text(json.dumps([dict(zip(keys, r, strict=True)) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
