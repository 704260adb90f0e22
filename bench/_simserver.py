"""The qwentui simulator in a process of its own, for benchmarks: `python bench/_simserver.py [options]`.

Running the simulator apart keeps its CPU out of the client's figures (CPU seconds, memory) and gives it the
second core. On top of the plain simulator this adds, for benchmarks only:

* `--image-seconds 5,30 --video-seconds 60,300`: task durations drawn uniformly from these ranges (world
  seconds, then multiplied by `--time-scale`), instead of the catalog's typical times;
* result files rendered once per kind and size and then served again (`--render-each` renders every file as
  the plain simulator does): the real files come from OSS, whose cost is not the API server's, and rendering a
  thousand PNGs and MP4s would otherwise take a core away from the client being measured;
* Retry-After headers multiplied by the time scale (the simulator rounds them up to whole seconds, which in
  compressed time would be a pause 1/time-scale times too long);
* `GET /_bench/stats` (request counters, 429s, the server's CPU seconds) and `GET /_bench/tasks` (every task's
  submit time, PENDING and RUNNING seconds, end time).

The first line on stdout is the port it listens on (loopback).
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

from qwentui.sim import SimConfig, Simulator, create_app
from qwentui.sim.media import MediaSpec
from qwentui.sim.server import quiet_drops
from qwentui.sim.validate import Job


def _range(text: str) -> tuple[float, float]:
    lo, hi = (float(x) for x in text.split(","))
    return lo, hi


class BenchApp:
    def __init__(self, sim: Simulator, time_scale: float) -> None:
        self.sim = sim
        self.inner = create_app(sim=sim)
        self.time_scale = time_scale

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_bench/"):
            await self._bench(scope, send)
            return
        scale = self.time_scale

        async def scaled_send(message: Message) -> None:
            if message["type"] == "http.response.start" and scale != 1.0:
                headers = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"retry-after":
                        value = f"{float(value) * scale:.3f}".encode()
                    headers.append((name, value))
                message = dict(message, headers=headers)
            await send(message)

        await self.inner(scope, receive, scaled_send)

    async def _bench(self, scope: Scope, send: Send) -> None:
        sim = self.sim
        body: Any
        if scope["path"] == "/_bench/stats":
            body = {
                "requests": dict(sim.requests),
                "statuses": {str(k): v for k, v in sim.statuses.items()},
                "throttled": sim.throttled,
                "cpu_seconds": time.process_time(),
                "tasks": len(sim.store),
            }
        elif scope["path"] == "/_bench/tasks":
            body = [
                {
                    "task_id": t.task_id,
                    "submitted": t.submitted,
                    "pending_s": t.pending_s,
                    "running_s": t.running_s,
                    "ends_at": t.ends_at,
                    "failed": t.failure is not None,
                    "video": t.job.is_video,
                    "prompt": t.job.prompt,
                }
                for t in sim.store.all()
                if t.listed
            ]
        else:
            body = {"error": "unknown"}
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--qps", type=float, default=20.0, help="task-query limit in real requests per second (0: none)")
    ap.add_argument("--submit-qps", type=float, default=0.0, help="submit limit in real requests per second (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--failure-rate", type=float, default=0.0)
    ap.add_argument("--image-seconds", type=_range, default=None)
    ap.add_argument("--video-seconds", type=_range, default=None)
    ap.add_argument("--render-each", action="store_true", help="render every result file (slow)")
    args = ap.parse_args()

    config = SimConfig(
        time_scale=args.time_scale,
        task_query_qps=args.qps or None,
        submit_qps=args.submit_qps or None,
        seed=args.seed,
        failure_rate=args.failure_rate,
    )
    sim = Simulator(config)
    if args.image_seconds or args.video_seconds:
        default = sim.durations

        def durations(job: Job) -> tuple[float, float]:
            span = args.video_seconds if job.is_video else args.image_seconds
            if span is None:
                return default(job)
            total = sim.rng.uniform(*span) * args.time_scale
            return total * 0.2, total * 0.8  # the simulator's own PENDING / RUNNING split

        sim.durations = durations  # type: ignore[method-assign]

    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it every
    # keep-alive answer (headers, then body) waits ~40 ms for a delayed ACK
    if not args.render_each:
        rendered: dict[tuple[str, int, int, int, bool], bytes] = {}
        render = sim.files.media.get

        def once(spec: MediaSpec) -> bytes:
            key = (spec.kind, spec.width, spec.height, spec.duration, spec.audio)
            if key not in rendered:
                rendered[key] = render(spec)
            return rendered[key]

        sim.files.media.get = once  # type: ignore[method-assign]

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    quiet_drops()
    server = uvicorn.Server(
        uvicorn.Config(
            BenchApp(sim, args.time_scale),
            log_level="error",
            access_log=False,
            lifespan="off",
            backlog=4096,
            date_header=False,
        )
    )
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
