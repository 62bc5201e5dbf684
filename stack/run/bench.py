"""The ``run`` part of ``nox -s bench`` (``python -m stack.bench run``); ratios, never asserts.

Against its own dev middleware (postgres, redis, pgvector on free ports, session labels,
removed at the end), with ``MIGRATION_ENABLED=false``:

* ``run.api`` start to the first 200 from ``/health``, against gunicorn started by hand with
  the same argv, directory and environment (target <= 1.1x);
* ingest -> searchable latency, p50 and p95 over 100 documents through ``run.all`` (POST,
  then search until the document is found), against indexing + searching the same document
  with the adapter called directly in one process;
* worker throughput in chunks/s (documents of ~10 chunks, all posted at once, until every
  one is completed), against the same split/embed/add done directly in one process
  (target >= 0.5x).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack import paths

Result = tuple[str, float, str, float]
DOCS = 100
BULK_DOCS = 20

# Indexing (and searching) with the adapter in one process: the baseline of both figures.
DIRECT = r"""
import json, sys, time, uuid
from stack.app import vectors
from stack.app.embed import embed, split
from stack.stores.contract import Document
job = json.loads(sys.stdin.read())
collection = "Vector_index_" + uuid.uuid4().hex + "_Node"
latencies, chunks = [], 0
with vectors.open_store(collection) as store:
    start = time.perf_counter()
    for text, query in zip(job["texts"], job["queries"] or [None] * len(job["texts"])):
        t0 = time.perf_counter()
        base = uuid.uuid4()
        parts = split(text)
        store.add([Document(str(uuid.uuid5(base, str(n))), c, embed(c), {"document_id": str(base)})
                   for n, c in enumerate(parts)])
        chunks += len(parts)
        if query is not None:
            hits = store.search_by_vector(embed(query), top_k=5)
            assert any(h.metadata.get("document_id") == str(base) for h in hits), query
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    store.drop()
print(json.dumps({"latencies": latencies, "chunks": chunks, "s": elapsed}))
"""


def _http(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def _until(pred: Callable[[], bool], timeout: float, what: str, poll: float = 0.01) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if pred():
            return time.perf_counter() - start
        time.sleep(poll)
    raise RuntimeError(f"bench: timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _start_to_health(argv: list[str], cwd: Path, env: dict[str, str], base: str, sig: int) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        _until(lambda: _http(base, "GET", "/health")[0] == 200, 120, "/health", poll=0.02)
        return time.perf_counter() - start
    finally:
        _stop(proc, sig)


def _texts() -> dict[str, list[str]]:
    import hashlib

    words = ["vector", "index", "embedding", "chunk", "queue", "worker", "beat", "schedule",
             "search", "document"]  # fmt: skip
    # One distinctive word per document (a hash: no shared trigrams), as its query.
    queries = [hashlib.sha256(f"doc{i}".encode()).hexdigest()[:12] for i in range(DOCS)]
    single = [
        f"{q} {q}. " + " ".join(words[(i + k) % len(words)] for k in range(20))
        for i, q in enumerate(queries)
    ]
    para = " ".join(f"sentence {n} on {words[n % len(words)]} and more words." for n in range(150))
    bulk = [f"Bulk {i}. {para}" for i in range(BULK_DOCS)]
    return {"single": single, "queries": queries, "bulk": bulk}


def bench_run(runs: int) -> list[Result]:
    """The three figures (see the module docstring)."""
    from stack.dev.ports import free_dev_ports
    from stack.engine import labels
    from stack.run import runner

    session = labels.new_session_id()
    project = f"stack-bench-run-{session}"
    own = labels.session_labels(session, purpose="bench")
    invoke = [sys.executable, "-m", "invoke"]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="stack-bench-run-") as tmp:
        env = {
            **os.environ,
            "STACK_OFFLINE": "1",
            "STACK_STATE_DIR": tmp,
            "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in own.items()),
            "DIFY_BIND_ADDRESS": "127.0.0.1",
            "MIGRATION_ENABLED": "false",
            "VECTOR_STORE": "pgvector",
            "DB_TYPE": "postgresql",
            **free_dev_ports("DIFY_PORT"),
        }
        base = f"http://127.0.0.1:{env['DIFY_PORT']}"

        def cli(*args: str) -> None:
            subprocess.run([*invoke, *args, "--project", project], cwd=paths.ROOT, env=env,
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip

        try:
            cli("dev.up")
            cli("run.migrate")
            opts = runner.RunOptions(project=project, environ=env)
            plan = runner.prepare(opts, ["api"])
            cmd = plan.commands["api"]
            by_hand = plan.env.child_env(env, "api", opts.state_dir)
            ours, raw = [], []
            for _ in range(runs):
                ours.append(
                    _start_to_health(
                        [*invoke, "run.api", "--project", project],
                        paths.ROOT,
                        env,
                        base,
                        signal.SIGINT,
                    )
                )
                raw.append(_start_to_health(list(cmd.argv), cmd.cwd, by_hand, base, signal.SIGINT))
            results.append(
                (
                    "run.api start -> /health 200",
                    statistics.median(ours),
                    "gunicorn by hand, same env",
                    statistics.median(raw),
                )
            )
            print(f"bench run: {results[-1]}", file=sys.stderr)
            results += _loop(invoke, project, env, base, plan, opts, runs)
        finally:
            subprocess.run([*invoke, "dev.reset", "--yes", "--project", project], cwd=paths.ROOT,
                           env=env, check=False, stdout=subprocess.DEVNULL)  # fmt: skip
            labels.remove_session(session)
    return results


def _direct(plan: Any, opts: Any, env: dict[str, str], texts: list[str],
            queries: list[str] | None) -> dict[str, Any]:  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", DIRECT], capture_output=True, text=True,
        input=json.dumps({"texts": texts, "queries": queries}),
        cwd=plan.commands["api"].cwd, env=plan.env.child_env(env, "bench", opts.state_dir),
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"bench: the direct baseline failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _worker_bulk(base: str, dataset: str, texts: list[str]) -> tuple[int, float, int]:
    """Post every text at once: chunks indexed, seconds until the last one ended, failures."""
    start = time.perf_counter()
    ids = []
    for text in texts:
        code, body = _http(base, "POST", f"/v1/datasets/{dataset}/documents", {"text": text})
        assert code == 202, (code, body)
        ids.append(body["id"])
    chunks = failed = 0
    for doc in ids:

        def done(doc: str = doc) -> bool:
            _, res = _http(base, "GET", f"/v1/datasets/{dataset}/documents/{doc}")
            return bool(res) and res["status"] in ("completed", "error")

        _until(done, 300, "bulk indexing", poll=0.02)
        res = _http(base, "GET", f"/v1/datasets/{dataset}/documents/{doc}")[1]
        if res["status"] == "error":
            failed += 1
            print(f"bench run: {doc} failed: {res['error'][:200]}", file=sys.stderr)
        chunks += res["chunks"] or 0
    return chunks, time.perf_counter() - start, failed


def _loop(
    invoke: list[str], project: str, env: dict[str, str], base: str, plan: Any, opts: Any,
    runs: int,
) -> list[Result]:  # fmt: skip
    texts = _texts()
    single = _direct(plan, opts, env, texts["single"], texts["queries"])
    proc = subprocess.Popen(
        [*invoke, "run.all", "--project", project], cwd=paths.ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _until(lambda: _http(base, "GET", "/health")[0] == 200, 120, "run.all /health")
        latencies = []
        for i, text in enumerate(texts["single"]):
            start = time.perf_counter()
            code, body = _http(base, "POST", "/v1/datasets/bench/documents", {"text": text})
            assert code == 202, (code, body)
            doc, query = body["id"], texts["queries"][i]

            def found(doc: str = doc, query: str = query) -> bool:
                _, res = _http(base, "GET", f"/v1/datasets/bench/search?q={query}&top_k=5")
                return any(r["document_id"] == doc for r in (res or {}).get("results", []))

            _until(found, 60, f"document {i} to be searchable")
            latencies.append(time.perf_counter() - start)
        # Throughput, alternating the baseline and the worker (the machine's load varies).
        ours_rates, direct_rates, chunks, failed = [], [], 0, 0
        for r in range(runs):
            bulk = _direct(plan, opts, env, texts["bulk"], None)
            direct_rates.append(bulk["chunks"] / bulk["s"])
            chunks, secs, errors = _worker_bulk(base, f"bulk{r}", texts["bulk"])
            ours_rates.append(chunks / secs)
            failed += errors
    finally:
        _stop(proc, signal.SIGINT)
    q = statistics.quantiles(latencies, n=20)
    dq = statistics.quantiles(single["latencies"], n=20)
    ours_rate, direct_rate = statistics.median(ours_rates), statistics.median(direct_rates)
    workers = plan.env["CELERY_WORKER_AMOUNT"]
    # A rate: seconds per chunk, so the ratio reads like the others (lower is better).
    return [
        (f"ingest -> searchable p50 ({DOCS} docs)", statistics.median(latencies),
         "adapter directly, p50", statistics.median(single["latencies"])),
        (f"ingest -> searchable p95 ({DOCS} docs)", q[18], "adapter directly, p95", dq[18]),
        (f"worker s/chunk, -c {workers} ({chunks} chunks, {ours_rate:.0f} chunks/s"
         + (f", {failed} docs FAILED" if failed else "") + ")",
         1 / ours_rate, f"adapter directly ({direct_rate:.0f} chunks/s)", 1 / direct_rate),
    ]  # fmt: skip
