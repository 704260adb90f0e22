"""`qwentui sim`: run the DashScope simulator on loopback for the demo, tests, or any DashScope client.

Every flag mirrors a `SimConfig` field. Point clients at it with `QWEN_BASE_URL=http://127.0.0.1:PORT`
(skill scripts) or `DASHSCOPE_HTTP_BASE_URL=http://127.0.0.1:PORT/api/v1` (official SDK, set before import).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import Any

from qwentui.sim.config import SimConfig


def _window(text: str) -> tuple[float, float]:
    start, sep, end = text.partition(":")
    try:
        window = (float(start), float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use FROM:TO in seconds, e.g. 30:60") from None
    if not sep or window[1] <= window[0]:
        raise argparse.ArgumentTypeError(f"{text!r}: use FROM:TO with FROM < TO")
    return window


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: a probability between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `sim` on the main CLI's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="run the built-in DashScope API simulator",
        description="Serve a local DashScope API (image/video generation, tasks, uploads, result files).",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8765)
    t = p.add_argument_group("time")
    t.add_argument(
        "--time-scale",
        type=_non_negative,
        default=1.0,
        help="multiply each model's typical task time (0.01 = 100x faster, 0 = instant)",
    )
    t.add_argument("--pending-seconds", type=_non_negative, help="fixed PENDING time for every task")
    t.add_argument("--running-seconds", type=_non_negative, help="fixed RUNNING time for every task")
    t.add_argument("--task-ttl", type=_non_negative, default=24 * 3600.0, help="seconds until a task is UNKNOWN")
    t.add_argument(
        "--result-url-ttl", type=_non_negative, default=24 * 3600.0, help="seconds until result URLs expire (403)"
    )
    o = p.add_argument_group("outcomes")
    o.add_argument("--failure-rate", type=_rate, default=0.0, help="probability a task ends FAILED")
    o.add_argument("--failure-code", help="force this failure code (e.g. DataInspectionFailed)")
    o.add_argument(
        "--partial-failure-rate",
        type=_rate,
        default=0.0,
        help="probability each extra image of an n>1 task fails alone",
    )
    lim = p.add_argument_group("limits")
    lim.add_argument(
        "--rate-limit",
        type=_non_negative,
        default=20.0,
        metavar="QPS",
        help="task query limit (GET /tasks, GET /tasks/{id}); 0 = unlimited (default 20)",
    )
    lim.add_argument("--submit-qps", type=_non_negative, default=0.0, help="submit limit; 0 = unlimited")
    f = p.add_argument_group("faults")
    f.add_argument("--storm-rate", type=_rate, default=0.0, help="probability of a 429/500/503 answer")
    f.add_argument(
        "--storm-window",
        type=_window,
        action="append",
        default=[],
        metavar="FROM:TO",
        help="answer every API request with a storm status between these seconds after start",
    )
    f.add_argument("--storm-retry-after", type=int, default=1, help="Retry-After seconds on storm answers")
    f.add_argument("--drop-before-rate", type=_rate, default=0.0, help="drop connections before processing")
    f.add_argument(
        "--drop-after-rate",
        type=_rate,
        default=0.0,
        help="create the task, then drop the connection (the answer is lost)",
    )
    f.add_argument("--error-after-rate", type=_rate, default=0.0, help="create the task, then answer 500")
    f.add_argument("--slow-seconds", type=_non_negative, default=0.0, help="delay every API request")
    f.add_argument("--truncate-rate", type=_rate, default=0.0, help="cut result downloads short")
    a = p.add_argument_group("account")
    a.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this key (repeatable; default: any key not starting with sk-sp-)",
    )
    a.add_argument("--quota-exhausted", action="store_true", help="every submit: 429 AllocationQuota")
    a.add_argument("--arrearage", action="store_true", help="every submit: 400 Arrearage")
    a.add_argument("--revoked", action="store_true", help="every API request: 401 InvalidApiKey")
    m = p.add_argument_group("misc")
    m.add_argument("--seed", type=int, help="seed for every random choice (repeatable runs)")
    m.add_argument("--video-fps", type=int, default=1, help="frame rate of generated videos")
    m.add_argument("--public-url", help="base URL put in result/upload URLs (default: the request's host)")
    m.add_argument(
        "--state", type=Path, metavar="FILE", help="keep the tasks in this SQLite file: they survive a restart"
    )
    m.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        time_scale=args.time_scale,
        pending_seconds=args.pending_seconds,
        running_seconds=args.running_seconds,
        task_ttl=args.task_ttl,
        result_url_ttl=args.result_url_ttl,
        failure_rate=args.failure_rate,
        failure_code=args.failure_code,
        partial_failure_rate=args.partial_failure_rate,
        task_query_qps=args.rate_limit or None,
        submit_qps=args.submit_qps or None,
        storm_rate=args.storm_rate,
        storm_windows=list(args.storm_window),
        storm_retry_after=args.storm_retry_after,
        drop_before_rate=args.drop_before_rate,
        drop_after_rate=args.drop_after_rate,
        error_after_rate=args.error_after_rate,
        slow_seconds=args.slow_seconds,
        truncate_rate=args.truncate_rate,
        api_keys=frozenset(args.api_keys) if args.api_keys else None,
        quota_exhausted=args.quota_exhausted,
        arrearage=args.arrearage,
        revoked=args.revoked,
        seed=args.seed,
        video_fps=max(1, args.video_fps),
        public_url=args.public_url,
        state_file=args.state,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    from qwentui.sim.server import serve  # uvicorn is imported only when the simulator really runs

    config = config_from_args(args)
    base = config.public_url or f"http://{args.host}:{args.port}"
    err = sys.stderr
    print(f"qwentui sim: DashScope simulator on {base}/api/v1", file=err)
    print(f"  skill scripts: QWEN_BASE_URL={base}", file=err)
    print(f"  dashscope SDK: DASHSCOPE_HTTP_BASE_URL={base}/api/v1", file=err)
    if not _is_loopback(args.host):
        print(f"  warning: listening on {args.host}, not loopback; anyone who can reach it can use it", file=err)
    try:
        serve(config, host=args.host, port=args.port, log_level=args.log_level)
    except KeyboardInterrupt:
        return 0
    except SystemExit as exc:  # uvicorn exits when it cannot bind the port
        code = exc.code if isinstance(exc.code, int) else 1
        if code:
            print(f"qwentui sim: could not serve on {args.host}:{args.port}", file=err)
        return code
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m qwentui.cli.sim`) until the main CLI wires `add_parser`."""
    parser = argparse.ArgumentParser(prog="qwentui")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
