"""Batch queue time: a file of 1,000 and of 10,000 lines from reading to every job in the store.

    python3 dev.py bench bench/batch.py                 # 1,000 and 10,000 lines, 5 runs each
    python3 dev.py bench bench/batch.py --lines 1000 --runs 3

What `qwentui batch FILE` does before it exits, timed in its parts on a fresh database each run:
- parse: read the CSV file, expand the template ({subject} x 2 values, half the lines) and validate every job
  (core/batchfile.load, the same call the CLI makes);
- estimate: a price estimate per job (core/pricing);
- queue: Engine.add_batch, i.e. Store.add_jobs: the batch row, every job and its creation event in one
  transaction (the target: 1,000 jobs in the store within 2 s).
The engine is not started (nothing is sent): this measures queuing only. Figures are medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import fmt, machine, median, write_result

from qwentui.core.api import DashScopeClient
from qwentui.core.batchfile import load, parse_vars
from qwentui.core.config import ApiKey
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.pricing import Pricing, Total, shipped_table
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="jobs per batch (repeat); default 1000 and 10000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = args.lines or [1000, 10_000]
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
    print(f"written: {write_result('batch', result)}")


if __name__ == "__main__":
    asyncio.run(main())
