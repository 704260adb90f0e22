"""The TUI at scale: databases of 10,000, 100,000 and 1,000,000 jobs.

    python3 dev.py bench bench/tui.py                        # 10k, 100k, 1M (first run builds the databases)
    python3 dev.py bench bench/tui.py --sizes 10000 --runs 1

Databases are filled with `Store.bulk_insert_jobs` (prompts of 6-14 words from a 300-word vocabulary, 14
models, mostly finished states, the newest 1,000 jobs RUNNING) and cached in the temp folder
(`qwentui-bench-tui/`), so only the first run pays for building them. Each measurement runs in a fresh process:

* start-up: from the process being spawned (interpreter, imports) and from `Store.open` (in-process) until the
  app, driven headless by `App.run_test()`, shows a job table with rows on the screen (a frame written);
* filter / search in the store: `Store.list_jobs(states=..., text=..., limit=200)` (the table's page) for a
  set of filters, 5 times each, median per filter; and through the UI: `MainScreen.apply_filter()` until the
  next frame is written;
* key press to screen: 100 down-arrow key events sent to the app, 100 ms apart, while a background task moves
  the newest 1,000 jobs from RUNNING to SUCCEEDED (100 per second, through the store as the engine does); the
  latency is from sending the key until the headless driver is handed a frame that shows the cursor on the new
  row;
* the same key presses (30) with nothing changing, as a control;
* memory: peak RSS of the process (and RSS once the first screen is up).

The engine is constructed but not started (no lease, no HTTP): the figures are the TUI's and the store's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_KEY, current_rss_mb, fmt, machine, maxrss_mb, median, pct, run_worker, write_result

SIZES = (10_000, 100_000, 1_000_000)
CHANGING = 1000
CACHE = Path(tempfile.gettempdir()) / "qwentui-bench-tui"
DB_VERSION = "v1"  # bump when the generated content changes

_VOCABULARY = (
    "cat dog fox owl bear wolf deer horse tiger lion eagle whale shark koala panda otter rabbit mouse frog "
    "dragon robot knight wizard pirate astronaut samurai ninja queen king child woman man girl boy chef "
    "forest mountain river ocean desert city street village castle temple garden beach island lake canyon "
    "sunset sunrise night morning storm rain snow fog thunder rainbow moon stars galaxy nebula aurora "
    "red blue green golden silver purple orange black white pink crimson teal amber ivory emerald "
    "cinematic photorealistic watercolor oil painting sketch anime pixel neon cyberpunk steampunk vintage "
    "minimalist surreal baroque gothic futuristic retro noir pastel vibrant moody dramatic soft warm cold "
    "portrait landscape closeup aerial macro wide panorama tracking shot slow motion timelapse dolly zoom "
    "flying running dancing sleeping reading walking swimming fighting singing laughing crying jumping "
    "old young tiny giant ancient modern broken glowing floating burning frozen hidden lost happy sad "
    "lantern sword book mirror clock flower tree leaf feather crystal crown mask umbrella bicycle train "
    "car ship boat airplane balloon kite bridge tower window door staircase library market cafe kitchen "
    "bedroom rooftop subway harbor lighthouse waterfall volcano glacier meadow jungle swamp cave cliff "
    "reflection shadow light smoke fire water ice sand stone glass metal wood paper silk velvet marble "
    "festival wedding battle journey dream memory secret promise victory escape adventure mystery legend "
    "quiet loud gentle fierce elegant rustic cozy lonely crowded empty bright dark misty dusty shiny "
    "studio lighting bokeh depth field golden hour blue hour rim backlit volumetric rays lens flare grain "
    "highly detailed sharp focus octane render unreal engine trending artstation masterpiece best quality "
    "ukiyoe impressionist cubist pop art comic manga illustration concept matte poster"
)
WORDS = sorted(set(_VOCABULARY.split()))
MODELS = (
    ("t2i", "wan2.6-t2i"),
    ("t2i", "wan2.2-t2i-flash"),
    ("t2i", "qwen-image-plus"),
    ("t2i", "qwen-image-max"),
    ("edit", "wan2.6-image"),
    ("edit", "qwen-image-edit-plus"),
    ("i2i", "wan2.5-i2i-preview"),
    ("t2v", "wan2.6-t2v"),
    ("t2v", "wan2.2-t2v-plus"),
    ("i2v", "wan2.6-i2v-flash"),
    ("i2v", "wan2.6-i2v"),
    ("kf2v", "wan2.2-kf2v-flash"),
    ("r2v", "wan2.6-r2v-flash"),
    ("interleave", "wan2.6-image"),
)
STATES = (("done", 0.88), ("failed", 0.06), ("canceled", 0.03), ("expired", 0.02), ("rejected", 0.01))

# Filters measured (name, states, text). Words are from WORDS; "rare" appears in about 0.3 % of prompts.
FILTERS: tuple[tuple[str, tuple[str, ...] | None, str], ...] = (
    ("state failed", ("failed",), ""),
    ("state expired", ("expired",), ""),
    ("state running", ("running",), ""),
    ("states active", ("queued", "uploading", "submitting", "pending", "running", "succeeded", "downloading"), ""),
    ("text common", None, "cat"),
    ("text two words", None, "golden forest"),
    ("text prefix", None, "drag"),
    ("text rare", None, "zeppelin"),
    ("text no match", None, "qqqqzz"),
    ("text + state", ("failed",), "dragon"),
    ("rare text + state", ("expired",), "zeppelin"),
)


def db_path(n: int) -> Path:
    return CACHE / f"jobs-{n}-{DB_VERSION}.db"


async def build_db(n: int) -> Path:
    """Create (once) a database of n jobs; the newest CHANGING are RUNNING."""
    from qwentui.core.store import Store

    path = db_path(n)
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for p in CACHE.glob(tmp.name + "*"):
        p.unlink()
    rng = random.Random(n)
    now = time.time()
    store = await Store.open(tmp)
    states = [s for s, _ in STATES]
    weights = [w for _, w in STATES]
    try:
        batch = 50_000
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(n, start + batch)):
                mode, model = MODELS[rng.randrange(len(MODELS))]
                words = rng.sample(WORDS, rng.randint(6, 14))
                if rng.random() < 0.003:
                    words.insert(rng.randrange(len(words)), "zeppelin")
                prompt = " ".join(words)
                state = "running" if i >= n - CHANGING else rng.choices(states, weights)[0]
                created = now - (n - i) * (365 * 86400 / n)
                rows.append(
                    {
                        "request": {"mode": mode, "model": model, "prompt": prompt},
                        "mode": mode,
                        "model": model,
                        "prompt": prompt,
                        "state": state,
                        "created_at": created,
                        "updated_at": created + 60,
                        "source": "bench",
                    }
                )
            await store.bulk_insert_jobs(rows)
    finally:
        await store.close()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)
    return path


def reset_changing(path: Path) -> None:
    """Put the newest CHANGING jobs back to RUNNING and drop the events a previous run added."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        top = conn.execute("SELECT max(id) FROM jobs").fetchone()[0]
        conn.execute(
            "UPDATE jobs SET state = 'running', finished_at = NULL, next_check_at = NULL "
            "WHERE id > ? AND state != 'running'",
            (top - CHANGING,),
        )
        conn.execute("DELETE FROM job_events WHERE job_id > ?", (top - CHANGING,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


# ---- the worker: one fresh process per database ---------------------------------------------------------------


class Frames:
    """Wraps the app's `_display()`, which a real terminal run uses to turn each compositor update into the
    bytes it writes. Headless, Textual composes every frame but skips that step; the wrapper does it (so its
    cost is counted) and notes the time of every frame and what the table showed in it."""

    def __init__(self) -> None:
        self.log: list[tuple[float, int, int]] = []  # (time, cursor row, row count)
        self.table: Any = None
        self.bytes = 0

    def install(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            if isinstance(renderable, CompositorUpdate):
                self.bytes += len(renderable.render_segments(app.console))
            t = self.table
            self.log.append(
                (time.perf_counter(), t.cursor_row if t is not None else -1, t.row_count if t is not None else 0)
            )

        app._display = display

    async def first_after(self, t0: float, test: Any, timeout: float = 5.0) -> float | None:
        deadline = time.perf_counter() + timeout
        seen = 0
        while time.perf_counter() < deadline:
            for at, row, count in self.log[seen:]:
                if at >= t0 and test(row, count):
                    return at - t0
            seen = len(self.log)
            await asyncio.sleep(0.0005)
        return None


async def worker(n: int, spawned: float) -> dict[str, Any]:
    import_started = time.perf_counter()
    from textual import events

    from qwentui.core.api import DashScopeClient
    from qwentui.core.config import ApiKey, Paths
    from qwentui.core.engine import Engine, EngineConfig
    from qwentui.core.states import JobState
    from qwentui.core.store import Store
    from qwentui.runtime import Context
    from qwentui.tui.app import QwenApp
    from qwentui.tui.image_backend import HALFBLOCK
    from qwentui.tui.job_filter import JobFilter
    from qwentui.tui.screens.main import MainScreen
    from qwentui.tui.widgets.job_table import JobTable

    imports_s = time.perf_counter() - import_started
    path = db_path(n)
    result: dict[str, Any] = {"jobs": n, "imports_s": imports_s}
    frames = Frames()
    with tempfile.TemporaryDirectory(prefix="qwentui-bench-tui-") as tmpdir:
        tmp = Path(tmpdir)
        t0 = time.perf_counter()
        store = await Store.open(path, backup=False)
        client = DashScopeClient(ApiKey(BENCH_KEY, "bench"), "http://127.0.0.1:9/api/v1")
        engine = Engine(store, client, EngineConfig(output_dir=tmp / "out"))
        paths = Paths(db=path, output=tmp / "out", drop=tmp / "drop", settings=tmp / "settings.toml")
        context = Context(paths, store, client, engine, demo=False, endpoint="benchmark (no engine)")
        app = QwenApp(context=context, backend=HALFBLOCK)
        frames.install(app)  # before the first frame
        try:
            async with app.run_test(size=(160, 48)) as pilot:
                while True:
                    screen = app.screen
                    if isinstance(screen, MainScreen):
                        table = screen.query_one(JobTable)
                        frames.table = table
                        if table.row_count > 0 and frames.log and frames.log[-1][2] > 0:
                            break
                    await asyncio.sleep(0.001)
                startup = time.perf_counter() - t0
                result["startup_in_process_s"] = startup
                result["startup_from_spawn_s"] = time.time() - spawned
                result["rss_after_start_mb"] = current_rss_mb()
                screen = app.screen
                assert isinstance(screen, MainScreen)

                # -- store-level filters and searches
                store_ms: dict[str, float | None] = {}
                hits: dict[str, int] = {}
                for name, states, text in FILTERS:
                    times = []
                    for _ in range(5):
                        q0 = time.perf_counter()
                        rows = await store.list_jobs(states=states, text=text or None, limit=200)
                        times.append((time.perf_counter() - q0) * 1000)
                    store_ms[name] = median(times)
                    hits[name] = len(rows)
                result["store_query_ms"] = store_ms
                result["store_query_rows"] = hits

                # -- the same through the UI: apply the filter, wait for the frame
                ui_ms: dict[str, float | None] = {}
                for name, states, text in FILTERS:
                    times = []
                    for _ in range(3):
                        await screen.apply_filter(JobFilter())
                        await pilot.pause()
                        job_filter = JobFilter(
                            states=frozenset(JobState(s) for s in states) if states else None, text=text
                        )
                        q0 = time.perf_counter()
                        await screen.apply_filter(job_filter)
                        frame = await frames.first_after(q0, lambda row, count: True)
                        times.append(frame * 1000 if frame is not None else float("nan"))
                    ui_ms[name] = median(times)
                result["ui_filter_ms"] = ui_ms
                await screen.apply_filter(JobFilter())
                await pilot.pause()

                # -- key press to screen while the newest 1,000 jobs change state
                table = screen.query_one(JobTable)
                table.focus()
                await pilot.pause()

                async def press_down() -> float:
                    target = table.cursor_row + 1
                    k0 = time.perf_counter()
                    event = events.Key("down", None)
                    event.set_sender(app)
                    app._driver.send_message(event)  # type: ignore[union-attr]
                    lat = await frames.first_after(k0, lambda row, count, t=target: row >= t)
                    await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - k0)))
                    return lat * 1000 if lat is not None else float("nan")

                # control: the same key presses while nothing changes
                idle = [await press_down() for _ in range(30)]
                result["key_idle_ms"] = {"p50": pct(idle, 50), "p95": pct(idle, 95), "max": max(idle)}
                table.move_cursor(row=0)
                await pilot.pause()

                newest = sorted(await store.jobs_in_states({JobState.RUNNING}), key=lambda j: -j.id)[:CHANGING]
                changed = 0

                async def churn() -> None:
                    nonlocal changed
                    per_tick = 10
                    for k in range(0, len(newest), per_tick):
                        for job in newest[k : k + per_tick]:
                            await store.transition(
                                job.id, JobState.SUCCEEDED, expect=JobState.RUNNING, detail="benchmark"
                            )
                            changed += 1
                        await asyncio.sleep(0.1)

                churner = asyncio.create_task(churn())
                await asyncio.sleep(0.3)
                latencies = []
                for _ in range(100):
                    latencies.append(await press_down())
                during = changed
                await churner
                result["key_ms"] = {
                    "p50": pct(latencies, 50),
                    "p95": pct(latencies, 95),
                    "max": max(latencies),
                    "presses": len(latencies),
                    "jobs_changed_during": during,
                }
                result["frames"] = len(frames.log)
                result["frame_bytes"] = frames.bytes
        finally:
            await client.aclose()
            await store.close()
    result["rss_peak_mb"] = maxrss_mb()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    ap.add_argument("--runs", type=int, default=2, help="fresh-process runs per database (medians are printed)")
    ap.add_argument("--out", default="tui", help="results/<out>.json")
    ap.add_argument("--worker", nargs=2, metavar=("JOBS", "SPAWNED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(int(args.worker[0]), float(args.worker[1])))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in sizes:
        if not db_path(n).exists():
            t = time.perf_counter()
            print(f"building a database of {n:,} jobs in {CACHE} ...", flush=True)
            asyncio.run(build_db(n))
            print(f"  built in {time.perf_counter() - t:.0f} s ({db_path(n).stat().st_size / 1e6:.0f} MB)", flush=True)
    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        for n in sizes:
            reset_changing(db_path(n))
            r = run_worker(Path(__file__), [str(n), repr(time.time())], timeout=600)
            reset_changing(db_path(n))
            runs.append(r)
            worst_store = max(v for v in r["store_query_ms"].values() if v is not None)
            worst_ui = max(v for v in r["ui_filter_ms"].values() if v is not None)
            print(
                f"  {n:>9,} jobs: start-up {r['startup_in_process_s'] * 1000:.0f} ms in process, "
                f"{r['startup_from_spawn_s'] * 1000:.0f} ms from spawn (imports {r['imports_s'] * 1000:.0f} ms); "
                f"worst store query {worst_store:.1f} ms, worst UI filter {worst_ui:.1f} ms; key p50 "
                f"{fmt(r['key_ms']['p50'], 1)} ms, p95 {fmt(r['key_ms']['p95'], 1)} ms "
                f"({r['key_ms']['jobs_changed_during']} jobs changed meanwhile); peak RSS {r['rss_peak_mb']:.0f} MB",
                flush=True,
            )
    summary = []
    for n in sizes:
        rs = [r for r in runs if r["jobs"] == n]
        summary.append(
            {
                "jobs": n,
                "runs": len(rs),
                "startup_in_process_ms": median([r["startup_in_process_s"] * 1000 for r in rs]),
                "startup_from_spawn_ms": median([r["startup_from_spawn_s"] * 1000 for r in rs]),
                "imports_ms": median([r["imports_s"] * 1000 for r in rs]),
                "store_query_ms": {k: median([r["store_query_ms"][k] for r in rs]) for k in rs[0]["store_query_ms"]},
                "ui_filter_ms": {k: median([r["ui_filter_ms"][k] for r in rs]) for k in rs[0]["ui_filter_ms"]},
                "key_p50_ms": median([r["key_ms"]["p50"] for r in rs]),
                "key_p95_ms": median([r["key_ms"]["p95"] for r in rs]),
                "key_max_ms": median([r["key_ms"]["max"] for r in rs]),
                "rss_after_start_mb": median([r["rss_after_start_mb"] for r in rs]),
                "rss_peak_mb": median([r["rss_peak_mb"] for r in rs]),
            }
        )
    print()
    print(
        f"{'jobs':>9} {'start ms':>8} {'spawn ms':>8} {'worst query ms':>14} {'worst UI ms':>11} "
        f"{'key p50':>7} {'key p95':>7} {'RSS MB':>6}"
    )
    for s in summary:
        print(
            f"{s['jobs']:>9,} {fmt(s['startup_in_process_ms'], 0):>8} {fmt(s['startup_from_spawn_ms'], 0):>8} "
            f"{max(s['store_query_ms'].values()):>14.1f} {max(s['ui_filter_ms'].values()):>11.1f} "
            f"{fmt(s['key_p50_ms'], 1):>7} {fmt(s['key_p95_ms'], 1):>7} {fmt(s['rss_peak_mb'], 0):>6}"
        )
    print("per-filter medians (ms), store / UI:")
    for name, _, _ in FILTERS:
        print(
            f"  {name:<18} "
            + "  ".join(
                f"{s['jobs']:>9,}: {fmt(s['store_query_ms'][name], 1):>6} / {fmt(s['ui_filter_ms'][name], 1):>6}"
                for s in summary
            )
        )
    path = write_result(
        args.out,
        {
            "benchmark": "tui",
            "machine": machine(),
            "command": " ".join(sys.argv),
            "summary": summary,
            "runs": runs,
            "filters": [list(f[:1]) for f in FILTERS],
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
