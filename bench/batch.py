"""Batch queue time: a file of 1,000 and of 10,000 lines from reading to every job in the store; then the
engine's submit rate against the simulator's submit limit.

    python3 dev.py bench bench/batch.py                 # 1,000 and 10,000 lines, 5 runs each; send 1,000 x 3
    python3 dev.py bench bench/batch.py --lines 1000 --runs 3
    python3 dev.py bench bench/batch.py --lines 0 --send 1000 --submit-limit 20 --send-runs 5   # sending only

What `qwentui batch FILE` does before it exits, timed in its parts on a fresh database each run:
- parse: read the CSV file, expand the template ({subject} x 2 values, half the lines) and validate every job
  (core/batchfile.load, the same call the CLI makes);
- estimate: a price estimate per job (core/pricing);
- queue: Engine.add_batch, i.e. Store.add_jobs: the batch row, every job and its creation event in one
  transaction (the target: 1,000 jobs in the store within 2 s).
The engine is not started for these (nothing is sent): they measure queuing only.

Sending (`--send N`, 0 to skip): N jobs of one model are queued as one batch on a fresh database, then the real
Engine (the app's defaults: its submit workers, its 429 handling) sends them to the simulator in a process of its
own, whose submit limit is `--submit-limit` per second (a token bucket with a burst of one second's worth; over it,
429 Throttling.RateQuota with a Retry-After). Measured: the time from the engine's start to the last job's task id,
the achieved submits per second (jobs / that time), the 429s the simulator answered, and achieved / limit. The
tasks are given 10 minutes of running time, so nothing finishes, is looked at or downloaded meanwhile: the engine
only sends. Figures are medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_KEY, SimProcess, fmt, machine, median, write_result

from qwentui.core.api import DashScopeClient
from qwentui.core.batchfile import load, parse_vars
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.pricing import Pricing, Total, shipped_table
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store

PRICES = Pricing(shipped_table(), "ap-southeast-1")


def write_file(path: Path, jobs: int) -> None:
    """A CSV that expands to exactly `jobs` jobs: half the lines are templates with two values."""
    lines = ["prompt,model,n,size,seed"]
    made = 0
    i = 0
    while made < jobs:
        if jobs - made >= 2 and i % 2 == 0:
            lines.append(f"a {{subject}} in the rain number {i},wan2.6-t2i,1,1280*1280,{i}")
            made += 2
        else:
            lines.append(f"a lighthouse at dusk number {i},qwen-image-plus,1,,{i}")
            made += 1
        i += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def one_run(folder: Path, jobs: int) -> dict[str, float]:
    path = folder / "batch.csv"
    write_file(path, jobs)
    started = time.perf_counter()
    batch = load(path, variables=parse_vars(["subject=cat,dog"]))
    parsed = time.perf_counter()
    estimates = [PRICES.estimate(job.request) for job in batch]
    Total.of(estimates)
    estimated = time.perf_counter()
    store = await Store.open(folder / "jobs.db", backup=False)
    client = DashScopeClient(ApiKey("sk-bench000000000000000000000000000", "bench"), "http://127.0.0.1:9/api/v1")
    try:
        engine = Engine(store, client, EngineConfig(output_dir=folder / "out", prices=PRICES))
        before_queue = time.perf_counter()
        _, ids = await engine.add_batch([job.request for job in batch], name=path.name)
        queued = time.perf_counter()
        assert len(ids) == jobs == len(batch)
    finally:
        await client.aclose()
        await store.close()
    return {
        "parse_s": parsed - started,
        "estimate_s": estimated - parsed,
        "queue_s": queued - before_queue,
        "total_s": (parsed - started) + (estimated - parsed) + (queued - before_queue),
    }


async def send_run(folder: Path, sim: SimProcess, jobs: int) -> dict[str, float]:
    """Queue `jobs` as one batch, start the engine, and wait until every job has its task id."""
    before = sim.get("stats")
    store = await Store.open(folder / "jobs.db", backup=False)
    client = DashScopeClient(ApiKey(BENCH_KEY, "bench"), sim.api_url)
    engine = Engine(store, client, EngineConfig(output_dir=folder / "out", prices=PRICES))
    requests = [
        GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i", prompt=f"a lighthouse at dusk {i}", n=1)
        for i in range(jobs)
    ]
    try:
        await engine.add_batch(requests, name="send")
        started = time.perf_counter()
        await engine.start()
        while True:
            counts = await store.count_by_state()
            if not any(counts.get(state, 0) for state in (JobState.QUEUED, JobState.SUBMITTING)):
                break
            await asyncio.sleep(0.02)
        took = time.perf_counter() - started
        await engine.stop()
        counts = await store.count_by_state()
    finally:
        await client.aclose()
        await store.close()
    after = sim.get("stats")
    return {
        "send_s": took,
        "submits_per_s": jobs / took,
        "throttled": after["throttled"] - before["throttled"],
        "submitted": float(counts.get(JobState.PENDING, 0) + counts.get(JobState.RUNNING, 0)),
    }


def send(jobs: int, limit: float, runs: int) -> dict[str, Any]:
    print(f"\nsending {jobs} jobs of one model, simulator submit limit {limit:g}/s, {runs} runs:")
    print(f"{'JOBS':>7} {'LIMIT/s':>8} {'ACHIEVED/s':>11} {'ACHIEVED/LIMIT':>15} {'429s':>6} {'TIME s':>7}   (median)")
    results = []
    # tasks of 10 minutes: nothing finishes while the engine sends, so it does nothing else
    with SimProcess("--submit-qps", str(limit), "--image-seconds", "600,600") as sim:
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="qwentui-bench-send-") as tmp:
                run = asyncio.run(send_run(Path(tmp), sim, jobs))
            results.append(run)
            print(
                f"  run: {run['submits_per_s']:.1f} submits/s, {run['throttled']:.0f} x 429, {run['send_s']:.1f} s",
                flush=True,
            )
    figures = {key: median([r[key] for r in results]) for key in results[0]}
    ratio = (figures["submits_per_s"] or 0.0) / limit
    print(
        f"{jobs:>7} {limit:>8g} {fmt(figures['submits_per_s'], 1):>11} {ratio:>15.2f} "
        f"{fmt(figures['throttled'], 0):>6} {fmt(figures['send_s'], 1):>7}"
    )
    return {"jobs": jobs, "limit": limit, "median": figures, "ratio": ratio, "runs": results}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="jobs per batch (repeat); default 1000 and 10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--send", type=int, default=1000, help="jobs the engine sends to the simulator (0: none)")
    parser.add_argument("--submit-limit", type=float, default=20.0, help="the simulator's submits per second")
    parser.add_argument("--send-runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [n for n in (args.lines or [1000, 10_000]) if n > 0]
    result: dict[str, Any] = {"machine": machine(), "runs": args.runs, "sizes": {}}
    print(f"{'JOBS':>7} {'PARSE+VALIDATE':>15} {'ESTIMATE':>9} {'STORE (1 tx)':>13} {'TOTAL':>8}   (median s)")
    for jobs in sizes:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="qwentui-bench-batch-") as tmp:
                runs.append(await one_run(Path(tmp), jobs))
        figures = {key: median([r[key] for r in runs]) for key in runs[0]}
        result["sizes"][str(jobs)] = {"median": figures, "runs": runs}
        print(
            f"{jobs:>7} {fmt(figures['parse_s'], 3):>15} {fmt(figures['estimate_s'], 3):>9} "
            f"{fmt(figures['queue_s'], 3):>13} {fmt(figures['total_s'], 3):>8}"
        )
    if args.send > 0:
        result["send"] = await asyncio.to_thread(send, args.send, args.submit_limit, args.send_runs)
    print(f"written: {write_result('batch', result)}")


if __name__ == "__main__":
    asyncio.run(main())
