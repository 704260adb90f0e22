"""Download throughput on loopback: qwentui's `download()` next to `curl -o`, for one 200 MB result.

    python3 dev.py bench bench/download.py            # 5 runs each, to disk and to tmpfs (~1 min)
    python3 dev.py bench bench/download.py --runs 9 --size-mb 500

A small server in another process sends the file with sendfile(2) (so the server is never the bottleneck),
over keep-alive HTTP/1.1 on 127.0.0.1. The two clients take turns (curl, qwentui, curl, ...) so a noisy moment
hits both. qwentui's download is the real one: streamed to a `.part`, sha256 computed on the way, fsynced and
renamed; curl only writes (no hash, no fsync). Each is timed from start to the file being in place, and the
figures are medians. The run is repeated with the destination on tmpfs (/dev/shm), where fsync costs nothing,
to separate the HTTP path from the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import PY, fmt, machine, median, write_result

from qwentui.core.download import download, make_download_client

MB = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    source: Path

    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        self._headers()
        with self.source.open("rb") as fh:
            self.connection.sendfile(fh)

    def _headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(self.source.stat().st_size))
        self.end_headers()
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(path: Path) -> None:
    """The server process: prints its port, then serves `path` at every URL."""
    _Handler.source = path
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def source_file(size_mb: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"qwentui-bench-{size_mb}mb.bin"
    if not path.exists() or path.stat().st_size != size_mb * MB:
        with path.open("wb") as fh:
            for _ in range(size_mb):
                fh.write(os.urandom(MB))  # incompressible, like a video
    return path


def time_curl(url: str, dest: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "-S", "-f", "-o", str(dest), url], check=True)
    return time.perf_counter() - started


async def _qwentui(url: str, dest: Path) -> tuple[float, float]:
    async with make_download_client() as client:
        cpu0, started = time.process_time(), time.perf_counter()
        await download(client, url, dest)
        return time.perf_counter() - started, time.process_time() - cpu0


def bench_place(url: str, folder: Path, runs: int, size: int) -> dict[str, Any]:
    curl_s: list[float] = []
    q_s: list[float] = []
    q_cpu: list[float] = []
    for i in range(runs):
        for who in ("curl", "qwentui") if i % 2 == 0 else ("qwentui", "curl"):
            dest = folder / f"{who}-{i}.mp4"
            if who == "curl":
                curl_s.append(time_curl(url, dest))
            else:
                wall, cpu = asyncio.run(_qwentui(url, dest))
                q_s.append(wall)
                q_cpu.append(cpu)
            assert dest.stat().st_size == size, f"{who} wrote {dest.stat().st_size} bytes"
            dest.unlink()
    mbps_curl = [size / MB / s for s in curl_s]
    mbps_q = [size / MB / s for s in q_s]
    ratios = [q / c for q, c in zip(mbps_q, mbps_curl, strict=True)]
    return {
        "folder": str(folder),
        "curl_s": curl_s,
        "qwentui_s": q_s,
        "qwentui_cpu_s": q_cpu,
        "curl_mb_s": median(mbps_curl),
        "qwentui_mb_s": median(mbps_q),
        "ratio_of_medians": (median(mbps_q) or 0) / (median(mbps_curl) or 1),
        "median_pairwise_ratio": median(ratios),
        "qwentui_cpu_s_median": median(q_cpu),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="download", help="results/<out>.json")
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if shutil.which("curl") is None:
        print("curl is not installed on this machine: nothing to compare with")
        return 1
    curl_version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    src = source_file(args.size_mb)
    size = src.stat().st_size
    server = subprocess.Popen([PY, __file__, "--serve", str(src)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/result.mp4"
        places: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="qwentui-bench-dl-") as tmp:
            places["disk"] = bench_place(url, Path(tmp), args.runs, size)
        if Path("/dev/shm").is_dir():
            with tempfile.TemporaryDirectory(prefix="qwentui-bench-dl-", dir="/dev/shm") as tmp:
                places["tmpfs"] = bench_place(url, Path(tmp), args.runs, size)
    finally:
        server.terminate()
        server.wait(10)
    print(f"download of {args.size_mb} MB on loopback, {args.runs} runs each ({curl_version})")
    print(f"{'destination':<12} {'curl MB/s':>10} {'qwentui MB/s':>13} {'ratio':>6} {'qwentui CPU s':>14}")
    for name, p in places.items():
        print(
            f"{name:<12} {fmt(p['curl_mb_s'], 0):>10} {fmt(p['qwentui_mb_s'], 0):>13} "
            f"{p['ratio_of_medians'] * 100:>5.0f}% {fmt(p['qwentui_cpu_s_median']):>14}"
        )
    print("medians; ratio = qwentui's median throughput / curl's (target >= 80 %)")
    path = write_result(
        args.out,
        {
            "benchmark": "download",
            "machine": machine(),
            "command": " ".join(sys.argv),
            "size_mb": args.size_mb,
            "runs": args.runs,
            "curl": curl_version,
            "places": places,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
