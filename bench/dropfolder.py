"""The drop folder: file complete to task submitted, for 1 file and for 1,000 at once, and CPU while idle.

    python3 dev.py bench bench/dropfolder.py              # defaults of the app (quiet 1.0 s), ~2.5 min
    python3 dev.py bench bench/dropfolder.py --quiet 0.25 --files 1000 --singles 10

The real DropFolderService runs next to a real Engine (the app's default settings, real time) against the
simulator in another process on loopback. A "file complete" is the moment the writer closed the file in the
rule's folder; "task submitted" is the job's SUBMITTING -> PENDING transition (the POST answered with a task
id). The upload of the file to temporary storage (UPLOADING -> SUBMITTING) is subtracted, as the target says
"upload excluded"; the time spent queued behind other uploads is not. The parts are printed too: detect
(complete -> job created: watcher, quiet period, checks, claim, ledger), queue (created -> upload starts),
upload (excluded), submit (upload done -> PENDING).

Exactly once: every file must give one job and one task, none a duplicate or a failure.

Idle CPU: process_time over 30 s with the engine alone, then 30 s with the drop folder watching too; the
difference is the drop folder's.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_KEY, SimProcess, fmt, kinds, machine, pct, write_result
from PIL import Image

from qwentui.core.api import DashScopeClient
from qwentui.core.config import ApiKey
from qwentui.core.dropfolder import DropFolderService, default_rules
from qwentui.core.dropfolder.claims import original_name
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.limiter import RateLimiter
from qwentui.core.states import JobState
from qwentui.core.store import Store

RULE = "edit"


def png(i: int) -> bytes:
    """A distinct 512x512 PNG per i (the ledger refuses the same bytes twice)."""
    img = Image.new("RGB", (512, 512), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    for k in range(24):
        img.putpixel((k, 0), (255, 255, 255) if (i >> k) & 1 else (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def write(path: Path, data: bytes) -> float:
    with path.open("wb") as fh:
        fh.write(data)
    return time.time()


async def idle_cpu(seconds: float) -> float:
    cpu0 = time.process_time()
    await asyncio.sleep(seconds)
    return time.process_time() - cpu0


async def drop_files(
    store: Store, folder: Path, names: list[str], blobs: list[bytes], timeout: float, expect_total: int
) -> dict[str, float]:
    """Write the files (as fast as possible), wait until each has a PENDING job; name -> time it was complete."""
    complete = {}
    for name, data in zip(names, blobs, strict=True):
        complete[name] = await asyncio.to_thread(write, folder / name, data)
    deadline = time.monotonic() + timeout
    want = set(names)
    before_submit = (JobState.QUEUED, JobState.UPLOADING, JobState.SUBMITTING)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05 if len(names) == 1 else 0.2)
        counts = await store.count_by_state()  # cheap: a summary table; the full look only when it can pass
        if sum(counts.values()) < expect_total or any(counts[s] for s in before_submit):
            continue
        rows = await store.list_jobs(limit=len(names) + 10)
        if want <= {original_name(Path(j.source_path)) for j in rows if j.source_path and j.task_id}:
            break
    return complete


async def latencies(store: Store, complete: dict[str, float]) -> list[dict[str, float]]:
    by_name = {}
    for job in await store.list_jobs(limit=100_000):
        if job.source_path:
            by_name[original_name(Path(job.source_path))] = job
    out = []
    for name, t_complete in complete.items():
        job = by_name.get(name)
        if job is None:
            continue
        at: dict[JobState, float] = {}
        for event in await store.events(job.id):
            at.setdefault(event.to_state, event.at)
        if JobState.PENDING not in at:
            continue
        created = job.created_at
        upload_start = at.get(JobState.UPLOADING, at.get(JobState.SUBMITTING, created))
        upload_end = at.get(JobState.SUBMITTING, upload_start)
        upload = upload_end - upload_start
        total = at[JobState.PENDING] - t_complete
        out.append(
            {
                "total": total - upload,
                "with_upload": total,
                "detect": created - t_complete,
                "queue": upload_start - created,
                "upload": upload,
                "submit": at[JobState.PENDING] - upload_end,
            }
        )
    return out


def describe(rows: list[dict[str, float]]) -> dict[str, Any]:
    def col(k: str) -> list[float]:
        return [r[k] for r in rows]

    return {
        "n": len(rows),
        "p50": pct(col("total"), 50),
        "p95": pct(col("total"), 95),
        "max": max(col("total")) if rows else None,
        "parts_p50": {k: pct(col(k), 50) for k in ("detect", "queue", "upload", "submit", "with_upload")},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    blobs = [png(i) for i in range(args.singles + args.files)]
    with (
        SimProcess("--time-scale", "1", "--qps", "20", "--seed", "7") as sim,
        tempfile.TemporaryDirectory(prefix="qwentui-bench-drop-") as tmpdir,
    ):
        tmp = Path(tmpdir)
        store = await Store.open(tmp / "jobs.db")
        client = DashScopeClient(ApiKey(BENCH_KEY, "bench"), sim.api_url, limiter=RateLimiter(rate=20.0))
        engine = Engine(store, client, EngineConfig(output_dir=tmp / "out"))
        await engine.start()
        rules = default_rules(tmp / "drop")
        folder = next(r.folder for r in rules if r.name == RULE)
        service = DropFolderService(engine, store, rules, quiet=args.quiet)
        try:
            await asyncio.sleep(2.0)
            cpu_engine = await idle_cpu(args.idle)
            await service.start()
            await service.wait_started(30)
            await asyncio.sleep(1.0)
            cpu_both = await idle_cpu(args.idle)

            singles: list[dict[str, float]] = []
            for i in range(args.singles):
                complete = await drop_files(store, folder, [f"single-{i:03d}.png"], [blobs[i]], 60, i + 1)
                singles += await latencies(store, complete)
                await asyncio.sleep(0.5)

            names = [f"batch-{i:04d}.png" for i in range(args.files)]
            started = time.perf_counter()
            complete = await drop_files(store, folder, names, blobs[args.singles :], 600, args.singles + args.files)
            batch_wall = time.perf_counter() - started
            batch = await latencies(store, complete)

            jobs = [j for j in await store.list_jobs(limit=100_000) if j.source == f"drop:{RULE}"]
            task_ids = [j.task_id for j in jobs if j.task_id]
        finally:
            await service.stop()
            await engine.stop()
            await client.aclose()
            await store.close()
        stats = sim.get("stats")
        sim_tasks = sim.get("tasks")
        outcome_files = {
            d: len(list((folder / d).glob("*.png"))) if (folder / d).is_dir() else 0 for d in ("duplicates", "failed")
        }
    dropped = args.singles + args.files
    names_of_jobs = [original_name(Path(j.source_path)) for j in jobs if j.source_path]
    exactly_once = (
        len(jobs) == dropped
        and len(set(names_of_jobs)) == dropped
        and len(set(task_ids)) == dropped
        and len(sim_tasks) == dropped
        and not any(outcome_files.values())
    )
    return {
        "quiet": args.quiet,
        "idle_seconds": args.idle,
        "idle_cpu_engine_s": cpu_engine,
        "idle_cpu_engine_and_drop_s": cpu_both,
        "idle_cpu_drop_s": cpu_both - cpu_engine,
        "idle_cpu_share": cpu_both / args.idle,
        "single": describe(singles),
        "batch": describe(batch),
        "batch_wall_s": batch_wall,
        "files_dropped": dropped,
        "jobs": len(jobs),
        "tasks_in_sim": len(sim_tasks),
        "distinct_task_ids": len(set(task_ids)),
        "outcome_files": outcome_files,
        "exactly_once": exactly_once,
        "requests": kinds(stats["requests"]),
        "throttled_429": stats["throttled"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000, help="files dropped at once")
    ap.add_argument("--singles", type=int, default=10, help="files dropped one at a time (the 1-file figure)")
    ap.add_argument("--quiet", type=float, default=1.0, help="the rule's quiet period (app default 1.0 s)")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle watching measured")
    ap.add_argument("--out", default="dropfolder")
    args = ap.parse_args()
    r = asyncio.run(run(args))
    s, b = r["single"], r["batch"]
    print(f"drop folder (quiet {args.quiet:g} s): file complete -> task submitted, upload excluded")
    print(
        f"  1 file at a time ({s['n']} drops): p50 {fmt(s['p50'])} s, p95 {fmt(s['p95'])} s; parts p50: "
        + ", ".join(f"{k} {fmt(v, 3)}" for k, v in s["parts_p50"].items())
    )
    print(
        f"  {args.files} files at once: p50 {fmt(b['p50'])} s, p95 {fmt(b['p95'])} s, max {fmt(b['max'])} s "
        f"(all submitted in {r['batch_wall_s']:.1f} s); parts p50: "
        + ", ".join(f"{k} {fmt(v, 3)}" for k, v in b["parts_p50"].items())
    )
    print(
        f"  exactly once: {r['exactly_once']} ({r['files_dropped']} files, {r['jobs']} jobs, "
        f"{r['distinct_task_ids']} distinct task ids, {r['tasks_in_sim']} tasks in the simulator, outcome "
        f"folders {r['outcome_files']})"
    )
    print(
        f"  idle CPU over {args.idle:g} s: engine alone {r['idle_cpu_engine_s']:.3f} s, engine + drop folder "
        f"{r['idle_cpu_engine_and_drop_s']:.3f} s ({r['idle_cpu_share'] * 100:.2f} % of a core); drop folder "
        f"{r['idle_cpu_drop_s']:.3f} s"
    )
    path = write_result(args.out, {"benchmark": "dropfolder", "machine": machine(), "command": " ".join(sys.argv), **r})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
