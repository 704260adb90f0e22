"""Shared helpers of the benchmarks: the machine, percentiles, results files, a simulator in its own process."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable
BENCH_KEY = "sk-bench000000000000000000000000000"


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def pct(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (nearest rank on the sorted values), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (`VmHWM`, `VmRSS`; Linux reports KiB) in MB, None where absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def maxrss_mb() -> float:
    """Peak resident memory of this process so far: VmHWM, which starts afresh at exec (ru_maxrss does not:
    a child spawned by a big parent would report the parent's peak)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    rss = _status_mb("VmRSS")
    return rss if rss is not None else float("nan")


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def run_worker(script: Path, args: list[str], timeout: float = 900.0, flag: str = "--worker") -> dict[str, Any]:
    """Run `script --worker args...` (or another `flag`) in a fresh interpreter (clean CPU and memory figures);
    its last stdout line is a JSON object."""
    proc = subprocess.run([PY, str(script), flag, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"worker {script.name} {flag} {' '.join(args)} failed with exit code {proc.returncode}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class SimProcess:
    """`bench/_simserver.py` in a child process on a free loopback port."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v1"

    def start(self) -> SimProcess:
        self.proc = subprocess.Popen(
            [PY, str(BENCH / "_simserver.py"), *self.args], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.base_url + "/", timeout=2).raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the simulator process did not start") from None
                time.sleep(0.05)

    def get(self, what: str) -> Any:
        return httpx.get(f"{self.base_url}/_bench/{what}", timeout=60).json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def kinds(requests: dict[str, int]) -> dict[str, int]:
    """Simulator request counters (`"GET /api/v1/tasks/{id}"`, ...) folded into submit / list / task /
    download / other."""
    out = {"submit": 0, "list": 0, "task": 0, "download": 0, "other": 0}
    for key, n in requests.items():
        method, _, path = key.partition(" ")
        if method == "POST" and path.startswith("/api/v1/services/"):
            out["submit"] += n
        elif method == "GET" and path == "/api/v1/tasks":
            out["list"] += n
        elif method == "GET" and path.startswith("/api/v1/tasks/"):
            out["task"] += n
        elif method == "GET" and path.startswith("/files/"):
            out["download"] += n
        else:
            out["other"] += n
    return out


def main_in_processes(
    doc: str | None,
    script: Path,
    name: str,
    worker: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
    line: Callable[[dict[str, Any]], str],
    *,
    timeout: float = 600.0,
    goal: str = "",
) -> int:
    """The usual `main()`: `--runs` fresh processes (each runs `worker` once, `--worker`), one line per run, the
    medians, `results/<name>.json`."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="fresh processes (medians of the runs are printed)")
    ap.add_argument("--out", default=name, help="results/<out>.json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker())))
        return 0
    runs = []
    for i in range(args.runs):
        r = run_worker(script, [], timeout=timeout)
        runs.append(r)
        print(f"  run {i + 1}: {line(r)}", flush=True)
    summary = {key: median([r[key] for r in runs]) for key in runs[0]}
    print(f"median of {len(runs)} runs: {line(summary)}{f' ({goal})' if goal else ''}")
    path = write_result(args.out, {"machine": machine(), "runs": runs, "summary": summary})
    print(f"results: {path}")
    return 0
