"""The CLI's global options and their typed form: `qwentui --db ... --demo COMMAND` → `RuntimeOptions`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from qwentui.runtime import RuntimeOptions


def add_common_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("where")
    g.add_argument("--db", type=Path, help="the job database (default: in the user data folder; env QWENTUI_DB)")
    g.add_argument("--output", type=Path, help="folder for downloaded results (env QWENTUI_OUTPUT)")
    g.add_argument("--region", help="ap-southeast-1 (Singapore, default), cn-beijing, us-east-1 (env QWEN_REGION)")
    g.add_argument("--base-url", help="an explicit API root, e.g. http://127.0.0.1:8765 (env QWEN_BASE_URL)")
    g.add_argument("--demo", action="store_true", help="use the built-in simulator: no key, no cost")
    g.add_argument(
        "--reset", action="store_true", help="with --demo: start the demo over (its jobs, files and simulated tasks)"
    )
    g.add_argument("--rate", type=float, default=20.0, help="task queries per second allowed (default 20)")
    g.add_argument(
        "--time-scale",
        type=float,
        default=float(os.environ.get("QWENTUI_TIME_SCALE", "1")),
        help="expected task durations are multiplied by this (set it to a simulator's --time-scale)",
    )


def options(args: argparse.Namespace) -> RuntimeOptions:
    """The runtime's options from parsed arguments (what `add_common_options` added)."""
    return RuntimeOptions(
        db=args.db,
        output=args.output,
        region=args.region,
        base_url=args.base_url,
        demo=args.demo,
        reset=args.reset,
        rate=args.rate,
        time_scale=args.time_scale,
    )
