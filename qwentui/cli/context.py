"""What every command needs: the store, a client for the right endpoint, and the engine.

`--demo` runs the built-in simulator in-process (no key, no network, no cost) on a database of its own,
so trying qwentui never mixes fake jobs into real ones.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from qwentui.core.api import DashScopeClient
from qwentui.core.config import ApiKey, Paths, base_url_from_env, coding_plan_warning, find_api_key, resolve_base_url
from qwentui.core.download import make_download_client
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.limiter import RateLimiter
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.store import Store

DEMO_KEY = "demo-key-not-secret"
DEMO_TIME_SCALE = 0.05  # demo tasks take 5 % of real time: images in about a second, videos in a few


def add_common_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("where")
    g.add_argument("--db", type=Path, help="the job database (default: in the user data folder; env QWENTUI_DB)")
    g.add_argument("--output", type=Path, help="folder for downloaded results (env QWENTUI_OUTPUT)")
    g.add_argument("--region", help="ap-southeast-1 (Singapore, default), cn-beijing, us-east-1 (env QWEN_REGION)")
    g.add_argument("--base-url", help="an explicit API root, e.g. http://127.0.0.1:8765 (env QWEN_BASE_URL)")
    g.add_argument("--demo", action="store_true", help="use the built-in simulator: no key, no cost")
    g.add_argument("--rate", type=float, default=20.0, help="task queries per second allowed (default 20)")
    g.add_argument(
        "--time-scale",
        type=float,
        default=float(os.environ.get("QWENTUI_TIME_SCALE", "1")),
        help="expected task durations are multiplied by this (set it to a simulator's --time-scale)",
    )


@dataclass
class Context:
    paths: Paths
    store: Store
    client: DashScopeClient
    engine: Engine
    demo: bool
    endpoint: str
    drops: Any = None  # the DropFolderService watching next to the engine, when one runs (TUI, `run`)


def paths_for(args: argparse.Namespace) -> Paths:
    paths = Paths.from_env(db=args.db, output=args.output)
    if args.demo:
        home = paths.db.parent / "demo"
        paths = Paths(
            db=args.db or home / "demo.db",
            output=args.output or home / "output",
            drop=home / "drop",
            settings=paths.settings,
        )
    return paths


def _client(args: argparse.Namespace, limiter: RateLimiter) -> tuple[DashScopeClient, str, object | None]:
    if args.demo:
        from qwentui.sim import SimConfig, create_app

        app = create_app(SimConfig(time_scale=DEMO_TIME_SCALE, seed=7, public_url="http://sim.local"))
        transport = httpx.ASGITransport(app=app)
        client = DashScopeClient(
            ApiKey(DEMO_KEY, "demo"), "http://sim.local/api/v1", transport=transport, limiter=limiter
        )
        return client, "built-in simulator", transport
    key = find_api_key()
    if warning := coding_plan_warning(key):
        print(warning, file=sys.stderr)
    base = resolve_base_url(args.region, args.base_url) if (args.region or args.base_url) else base_url_from_env()
    return DashScopeClient(key, base, limiter=limiter), base, None


@asynccontextmanager
async def open_store(args: argparse.Namespace) -> AsyncIterator[Store]:
    """Only the database: for commands that read jobs and need no key and no network."""
    store = await Store.open(paths_for(args).db)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_context(args: argparse.Namespace, *, start_engine: bool = True) -> AsyncIterator[Context]:
    paths = paths_for(args)
    limiter = RateLimiter(rate=args.rate)
    client, endpoint, transport = _client(args, limiter)
    store = await Store.open(paths.db)
    try:
        if args.demo:
            policy = SchedulePolicy(time_scale=DEMO_TIME_SCALE, interval=0.5)
        elif args.time_scale != 1:
            policy = SchedulePolicy(time_scale=args.time_scale, interval=max(0.05, min(2.0, 2.0 * args.time_scale)))
        else:
            policy = SchedulePolicy()
        http = make_download_client(transport=transport) if transport is not None else None  # type: ignore[arg-type]
        engine = Engine(store, client, EngineConfig(output_dir=paths.output, policy=policy), download_http=http)
        ctx = Context(paths, store, client, engine, args.demo, endpoint)
        if start_engine:
            await engine.start()
        try:
            yield ctx
        finally:
            await engine.stop()
    finally:
        await client.aclose()
        await store.close()
