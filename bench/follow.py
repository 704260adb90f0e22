"""Following tasks at scale: qwentui's engine next to per-task polling, against the simulator's task-query limit.

    python3 dev.py bench bench/follow.py                      # 100 and 1,000 tasks, three clients (~8 min)
    python3 dev.py bench bench/follow.py --tasks 100 --clients qwentui

N tasks are put in flight at once (half images of 5-30 s, half videos of 60-300 s, 2 % of them failing) against
the simulator in a separate process, whose task queries (GET /tasks and GET /tasks/{id} together) are limited
to 20 per second of world time. Three clients, one after the other, each on a fresh simulator with the same
seed:

* qwentui: the real Engine (batched GET /tasks, shared limiter), with the app's default settings;
* fixed15: the skill scripts' `poll_task` (video.py): first GET right after submit, then sleep 15 s;
* sdk: the official SDK's `wait()`: 1 s, doubled every 3rd poll, capped at 5 s.

Both baselines retry like the scripts' `http_request`: 429/5xx and connection errors after 1.5 s and 3 s (3
attempts), then the poll counts as an error (the real script would exit; here the task goes on being polled).

Time is compressed by the time scale (default 0.25): task durations, the account's rate (20 / time scale real
requests per second), every client interval (poll intervals, retry sleeps, the engine's tick and schedule) and
the simulator's Retry-After are all multiplied by it, so the run is the real-time scenario played faster. Lags
are measured in real seconds and divided by the time scale: every lag printed is in world (real-life) seconds.
Request counts and CPU seconds are what the whole run cost; CPU is the client process's alone (the simulator
runs in another process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import (
    BENCH_KEY,
    SimProcess,
    current_rss_mb,
    fmt,
    kinds,
    machine,
    maxrss_mb,
    median,
    pct,
    run_worker,
    write_result,
)

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.limiter import RateLimiter
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.results import parse_task
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Store

ACCOUNT_QPS = 20.0  # task queries per second per account (world time)
IMAGE_SECONDS = "5,30"
VIDEO_SECONDS = "60,300"
FAILURE_RATE = 0.02
SEED = 42
CLIENTS = ("qwentui", "fixed15", "sdk")
SCRIPT_TIMEOUT = 600.0  # video.py's default --timeout (world seconds)


def requests_for(n: int) -> list[GenerationRequest]:
    """Half images, half videos, interleaved, each with its own prompt."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(
                GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i", prompt=f"bench image {i}", n=1, size="1280*1280")
            )
        else:
            out.append(
                GenerationRequest(
                    mode=Mode.T2V, model="wan2.6-t2v", prompt=f"bench video {i}", duration=5, size="1280*720"
                )
            )
    return out


# ---- qwentui ------------------------------------------------------------------------------------------------


async def run_qwentui(sim: SimProcess, n: int, ts: float, tmp: Path, deadline: float) -> dict[str, Any]:
    defaults = EngineConfig(output_dir=tmp)
    policy = SchedulePolicy()  # the app's defaults, every duration scaled
    policy = SchedulePolicy(
        interval=policy.interval * ts,
        max_interval=policy.max_interval * ts,
        first_fraction=policy.first_fraction,
        time_scale=ts,
    )
    config = EngineConfig(
        output_dir=tmp / "out", policy=policy, tick=defaults.tick * ts, reconcile_settle=defaults.reconcile_settle * ts
    )
    store = await Store.open(tmp / "jobs.db")
    client = DashScopeClient(ApiKey(BENCH_KEY, "bench"), sim.api_url, limiter=RateLimiter(rate=ACCOUNT_QPS / ts))
    engine = Engine(store, client, config)
    await engine.start()
    ids = []
    try:
        for req in requests_for(n):
            ids.append((await engine.add(req, source="bench")).id)
        while time.time() < deadline:
            counts = await store.count_by_state()
            if sum(v for k, v in counts.items() if k not in TERMINAL) == 0:
                break
            await asyncio.sleep(0.25)
    finally:
        await engine.stop()
    known: dict[str, float] = {}
    for job_id in ids:
        job = await store.get_job(job_id)
        assert job is not None
        for event in await store.events(job_id):
            if event.to_state in (JobState.SUCCEEDED, JobState.FAILED) and job.task_id:
                known[job.task_id] = event.at
                break
    states: dict[str, int] = {}
    for job_id in ids:
        job = await store.get_job(job_id)
        assert job is not None
        states[job.state.value] = states.get(job.state.value, 0) + 1
    stats = engine.tracker.stats
    extra = {
        "client_requests": dict(client.requests_by_kind),
        "tracker_rounds": stats.rounds,
        "answered_by_list": stats.answered_by_list,
        "limiter_pauses": client.limiter.pauses,
        "limiter_waited_s": round(client.limiter.waited, 3),
        "final_states": states,
        "engine_errors": engine.errors[-5:],
    }
    await client.aclose()
    await store.close()
    return {"known": known, "errors": 0, "extra": extra}


# ---- baselines ----------------------------------------------------------------------------------------------


class MiniHTTP:
    """Just enough HTTP/1.1 (keep-alive, Content-Length or chunked) for the baselines' pollers: a few tenths
    of a millisecond of CPU per request, so a thousand pollers fit on one core and the baselines are limited
    by their schedule and the server, not by this benchmark's client."""

    def __init__(self, host: str, port: int, max_connections: int = 64, idle_timeout: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout  # uvicorn closes keep-alive connections idle for 5 s
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._head = f"Host: {host}:{port}\r\nAuthorization: Bearer {BENCH_KEY}\r\nUser-Agent: bench\r\n"

    async def request(
        self, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        async with self._slots:
            now = time.monotonic()
            conn = None
            while self._idle:
                reader, writer, at = self._idle.pop()
                if now - at < self.idle_timeout and not reader.at_eof():
                    conn = (reader, writer)
                    break
                writer.close()
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            lines = [f"{method} {target} HTTP/1.1\r\n", self._head]
            for k, v in (headers or {}).items():
                lines.append(f"{k}: {v}\r\n")
            if body is not None:
                lines.append(f"Content-Length: {len(body)}\r\n")
            lines.append("\r\n")
            try:
                writer.write("".join(lines).encode() + (body or b""))
                status, data, keep = await self._response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                writer.close()
                raise ConnectionError(str(exc)) from None
            if keep:
                self._idle.append((reader, writer, time.monotonic()))
            else:
                writer.close()
            return status, data

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        first, *rest = head.decode("latin-1").split("\r\n")
        status = int(first.split(" ", 2)[1])
        fields = {}
        for line in rest:
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        if "content-length" in fields:
            data = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await reader.read()
            return status, data, False
        return status, data, fields.get("connection", "").lower() != "close"

    async def aclose(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()


RETRY_STATUSES = {429, 500, 502, 503, 504}


class ScriptHTTP:
    """The skill scripts' `http_request`: 3 attempts, sleeping 1.5 s then 3 s (scaled) after a 429/5xx or a
    connection error; anything else is returned."""

    def __init__(self, http: MiniHTTP, ts: float) -> None:
        self.http = http
        self.ts = ts
        self.errors = 0  # calls that failed all 3 attempts

    async def call(
        self, method: str, target: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes] | None:
        for attempt in range(3):
            try:
                status, data = await self.http.request(method, target, body, headers)
                if status not in RETRY_STATUSES:
                    return status, data
            except ConnectionError:
                pass
            if attempt < 2:
                await asyncio.sleep(1.5 * 2**attempt * self.ts)
        self.errors += 1
        return None


def fixed_schedule(interval: float) -> Callable[[int], float]:
    return lambda step: interval


def sdk_schedule() -> Callable[[int], float]:
    """dashscope 1.x `wait()`: 1 s, doubled on every 3rd poll, capped at 5 s (1,1,2,2,2,4,4,4,5,...)."""
    state = {"wait": 1.0}

    def next_wait(step: int) -> float:
        if state["wait"] < 5 and step % 3 == 0:
            state["wait"] = min(state["wait"] * 2, 5.0)
        return state["wait"]

    return next_wait


async def run_baseline(kind: str, sim: SimProcess, n: int, ts: float, tmp: Path, deadline: float) -> dict[str, Any]:
    http = MiniHTTP("127.0.0.1", sim.port)
    script = ScriptHTTP(http, ts)
    terminal = {"SUCCEEDED", "FAILED", "CANCELED"} | ({"UNKNOWN"} if kind == "sdk" else set())
    known: dict[str, float] = {}
    late = 0  # tasks the script's default --timeout 600 would have given up on
    out = tmp / "out"
    out.mkdir(parents=True, exist_ok=True)

    async def one(i: int, req: GenerationRequest) -> None:
        nonlocal late
        wire = build(req)
        headers = {"Content-Type": "application/json", "X-DashScope-Async": "enable"}
        answer = await script.call("POST", "/api/v1" + wire.route.value, json.dumps(wire.body).encode(), headers)
        if answer is None or answer[0] != 200:
            return
        task_id = json.loads(answer[1])["output"]["task_id"]
        started = time.monotonic()
        schedule = fixed_schedule(15.0) if kind == "fixed15" else sdk_schedule()
        step = 0
        result = None
        while time.time() < deadline:
            step += 1
            wait = schedule(step)  # the SDK updates its interval before each poll
            got = await script.call("GET", f"/api/v1/tasks/{task_id}")
            if got is not None and got[0] == 200:
                data = json.loads(got[1])
                if data.get("output", {}).get("task_status") in terminal:
                    known[task_id] = time.time()
                    result = parse_task(data)
                    break
            await asyncio.sleep(wait * ts)
        if (time.monotonic() - started) / ts > SCRIPT_TIMEOUT:
            late += 1
        for k, url in enumerate(result.urls if result is not None else []):
            parts = urlsplit(url)
            got = await script.call("GET", parts.path + ("?" + parts.query if parts.query else ""))
            if got is not None and got[0] == 200:
                await asyncio.to_thread((out / f"{i}_{k}").write_bytes, got[1])

    await asyncio.gather(*(one(i, req) for i, req in enumerate(requests_for(n))))
    await http.aclose()
    return {"known": known, "errors": script.errors, "extra": {"over_script_timeout": late}}


# ---- one run (worker) ---------------------------------------------------------------------------------------


async def worker(client: str, n: int, ts: float) -> dict[str, Any]:
    sim_args = [
        "--time-scale",
        str(ts),
        "--qps",
        str(ACCOUNT_QPS / ts),
        "--seed",
        str(SEED),
        "--failure-rate",
        str(FAILURE_RATE),
        "--image-seconds",
        IMAGE_SECONDS,
        "--video-seconds",
        VIDEO_SECONDS,
    ]
    random.seed(SEED)
    # long enough for the longest video plus a generous tail, in real seconds
    budget = (300 * 1.2 + 240) * ts + n * 0.02 + 30
    with SimProcess(*sim_args) as sim, tempfile.TemporaryDirectory(prefix="qwentui-bench-") as tmpdir:
        tmp = Path(tmpdir)
        rss0 = current_rss_mb()
        sim_cpu0 = sim.get("stats")["cpu_seconds"]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        deadline = time.time() + budget
        run: Callable[..., Awaitable[dict[str, Any]]] = (
            run_qwentui if client == "qwentui" else lambda *a: run_baseline(client, *a)
        )
        outcome = await run(sim, n, ts, tmp, deadline)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        peak = maxrss_mb()
        stats = sim.get("stats")
        tasks = sim.get("tasks")
    lags: list[float] = []
    by_kind: dict[str, list[float]] = {"image": [], "video": []}
    submitted = sorted(t["submitted"] for t in tasks)
    # tasks that ended while the client was still sending the others compete with the submissions
    by_phase: dict[str, list[float]] = {"during_submits": [], "after_submits": []}
    for t in tasks:
        at = outcome["known"].get(t["task_id"])
        if at is not None:
            lags.append((at - t["ends_at"]) / ts)
            by_kind["video" if t["video"] else "image"].append(lags[-1])
            by_phase["during_submits" if t["ends_at"] <= submitted[-1] else "after_submits"].append(lags[-1])
    req = kinds(stats["requests"])
    req.pop("other", None)
    total = sum(req.values())
    return {
        "client": client,
        "tasks": n,
        "time_scale": ts,
        "submitted": len(tasks),
        "known": len(lags),
        "lag_s": {
            "p50": pct(lags, 50),
            "p95": pct(lags, 95),
            "max": max(lags) if lags else None,
            "mean": sum(lags) / len(lags) if lags else None,
        },
        "lag_by_kind_s": {k: {"p50": pct(v, 50), "p95": pct(v, 95)} for k, v in by_kind.items()},
        "lag_by_phase_s": {k: {"p50": pct(v, 50), "p95": pct(v, 95), "n": len(v)} for k, v in by_phase.items()},
        "submit_span_s": (submitted[-1] - submitted[0]) / ts if submitted else None,
        "requests": req,
        "requests_total": total,
        "requests_per_task": total / n,
        "queries_per_task": (req["list"] + req["task"]) / n,
        "throttled_429": stats["throttled"],
        "errors": outcome["errors"],
        "client_cpu_s": cpu,
        "wall_s": wall,
        "world_s": wall / ts,
        "client_cpu_share": cpu / wall,
        "sim_cpu_s": stats["cpu_seconds"] - sim_cpu0,
        "rss_start_mb": rss0,
        "rss_peak_mb": peak,
        "rss_growth_mb": peak - rss0,
        "extra": outcome["extra"],
    }


# ---- orchestration ------------------------------------------------------------------------------------------


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median of each figure over the repeats of one (client, tasks)."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["client"], r["tasks"]), []).append(r)
    out = []
    for (client, n), rs in groups.items():
        out.append(
            {
                "client": client,
                "tasks": n,
                "runs": len(rs),
                "time_scale": rs[0]["time_scale"],
                "lag_p50_s": median([r["lag_s"]["p50"] for r in rs]),
                "lag_p95_s": median([r["lag_s"]["p95"] for r in rs]),
                "lag_max_s": median([r["lag_s"]["max"] for r in rs]),
                "requests_per_task": median([r["requests_per_task"] for r in rs]),
                "queries_per_task": median([r["queries_per_task"] for r in rs]),
                "by_kind_per_task": {k: median([r["requests"][k] / n for r in rs]) for k in rs[0]["requests"]},
                "throttled_429": median([r["throttled_429"] for r in rs]),
                "errors": median([r["errors"] for r in rs]),
                "known": median([r["known"] for r in rs]),
                "client_cpu_s": median([r["client_cpu_s"] for r in rs]),
                "client_cpu_share": median([r["client_cpu_share"] for r in rs]),
                "rss_peak_mb": median([r["rss_peak_mb"] for r in rs]),
                "rss_growth_mb": median([r["rss_growth_mb"] for r in rs]),
            }
        )
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'client':<8} {'tasks':>5} {'runs':>4} {'lag p50':>8} {'p95':>7} {'max':>7} {'req/task':>8} "
        f"{'submit':>6} {'list':>5} {'task':>6} {'dl':>4} {'429s':>6} {'errors':>6} {'known':>5} "
        f"{'cpu s':>6} {'cpu%':>5} {'peak MB':>7}"
    )
    print(head)
    for r in rows:
        k = r["by_kind_per_task"]
        print(
            f"{r['client']:<8} {r['tasks']:>5} {r['runs']:>4} {fmt(r['lag_p50_s'], 1):>8} "
            f"{fmt(r['lag_p95_s'], 1):>7} {fmt(r['lag_max_s'], 1):>7} {fmt(r['requests_per_task']):>8} "
            f"{fmt(k['submit']):>6} {fmt(k['list']):>5} {fmt(k['task']):>6} {fmt(k['download']):>4} "
            f"{r['throttled_429']:>6.0f} {r['errors']:>6.0f} {r['known']:>5.0f} {fmt(r['client_cpu_s'], 1):>6} "
            f"{r['client_cpu_share'] * 100:>4.0f}% {fmt(r['rss_peak_mb'], 0):>7}"
        )
    print(
        "lags in world seconds (real seconds / time scale); requests per task over the whole run; "
        "cpu = client process only"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="100,1000", help="comma-separated numbers of tasks in flight")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="qwentui,fixed15,sdk")
    ap.add_argument("--time-scale", type=float, default=0.25)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (client, tasks) in this invocation")
    ap.add_argument("--out", default="follow", help="results/<out>.json")
    ap.add_argument("--worker", nargs=3, metavar=("CLIENT", "TASKS", "SCALE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        client, n, ts = args.worker[0], int(args.worker[1]), float(args.worker[2])
        print(json.dumps(asyncio.run(worker(client, n, ts))))
        return 0

    sizes = [int(x) for x in args.tasks.split(",")]
    clients = [c for c in args.clients.split(",") if c]
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    print(
        f"following tasks: {sizes} in flight, clients {clients}, time scale {args.time_scale} "
        f"(account limit {ACCOUNT_QPS:g} task queries/s of world time = {ACCOUNT_QPS / args.time_scale:g} real)",
        flush=True,
    )
    for _ in range(args.repeat):
        for n in sizes:
            for client in clients:
                r = run_worker(Path(__file__), [client, str(n), str(args.time_scale)])
                runs.append(r)
                lag = r["lag_s"]
                print(
                    f"  {client:<8} {n:>5} tasks: lag p50 {fmt(lag['p50'], 1)} s, p95 {fmt(lag['p95'], 1)} s, "
                    f"max {fmt(lag['max'], 1)} s; {r['requests_per_task']:.2f} requests/task "
                    f"({r['requests']}); 429s {r['throttled_429']}; errors {r['errors']}; known "
                    f"{r['known']}/{r['submitted']}; client CPU {r['client_cpu_s']:.1f} s "
                    f"({r['client_cpu_share'] * 100:.0f} % of {r['wall_s']:.0f} s); peak RSS "
                    f"{r['rss_peak_mb']:.0f} MB; sim CPU {r['sim_cpu_s']:.1f} s",
                    flush=True,
                )
    rows = summarize(runs)
    print()
    print_table(rows)
    path = write_result(
        args.out,
        {
            "benchmark": "follow",
            "machine": machine(),
            "command": " ".join(sys.argv),
            "time_scale": args.time_scale,
            "account_qps_world": ACCOUNT_QPS,
            "summary": rows,
            "runs": runs,
            "elapsed_s": time.perf_counter() - started,
        },
    )
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
