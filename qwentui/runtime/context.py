"""What every front end needs: the store, a client for the right endpoint, and the engine.

`--demo` runs the built-in simulator in-process (no key, no network, no cost) on a database of its own,
so trying qwentui never mixes fake jobs into real ones.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from qwentui.core.api import DashScopeClient
from qwentui.core.config import (
    ApiKey,
    Paths,
    base_url_from_env,
    coding_plan_warning,
    data_dir,
    find_api_key,
    resolve_base_url,
)
from qwentui.core.download import make_download_client
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.limiter import RateLimiter
from qwentui.core.pricing import pricing_for
from qwentui.core.provenance import sidecar_setting
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.store import Store

if TYPE_CHECKING:  # the drop-folder service is imported by what starts it (`runtime.drops`), not by every command
    from qwentui.core.dropfolder import DropFolderService

DEMO_KEY = "demo-key-not-secret"
DEMO_TIME_SCALE = 0.05  # demo tasks take 5 % of real time: images in about a second, videos in a few


@dataclass(frozen=True)
class RuntimeOptions:
    """Where the jobs live and which service runs them (the CLI's global options, typed)."""

    db: Path | None = None  # None: the user data folder (or QWENTUI_DB)
    output: Path | None = None  # None: the user data folder (or QWENTUI_OUTPUT)
    region: str | None = None
    base_url: str | None = None
    demo: bool = False  # the built-in simulator, in-process, on a database of its own
    reset: bool = False  # with demo: start the demo over (its jobs, files and simulated tasks)
    rate: float = 20.0  # task queries per second
    time_scale: float = 1.0  # expected task durations are multiplied by this (a simulator's --time-scale)


@dataclass
class Context:
    paths: Paths
    store: Store
    client: DashScopeClient
    engine: Engine
    demo: bool
    endpoint: str
    drops: DropFolderService | None = None  # the drop-folder service watching next to the engine, when one runs


def demo_home() -> Path:
    """The demo's own folder inside the data folder (QWENTUI_HOME): every file the demo makes lives here."""
    return data_dir() / "demo"


def demo_service_file() -> Path:
    """Where the demo's simulated service keeps its tasks, so they outlive the process."""
    return demo_home() / "simulator.db"


def paths_for(options: RuntimeOptions) -> Paths:
    paths = Paths.from_env(db=options.db, output=options.output)
    if options.demo:
        home = demo_home()
        paths = Paths(
            db=options.db or home / "demo.db",
            output=options.output or home / "output",
            drop=home / "drop",
            settings=paths.settings,
        )
    return paths


def _client(options: RuntimeOptions, limiter: RateLimiter) -> tuple[DashScopeClient, str, httpx.ASGITransport | None]:
    if options.demo:
        from qwentui.sim import SimConfig, create_app  # only the demo loads the simulator

        config = SimConfig(time_scale=DEMO_TIME_SCALE, public_url="http://sim.local", state_file=demo_service_file())
        app = create_app(config)
        transport = httpx.ASGITransport(app=app)
        client = DashScopeClient(
            ApiKey(DEMO_KEY, "demo"), "http://sim.local/api/v1", transport=transport, limiter=limiter
        )
        return client, "built-in simulator", transport
    key = find_api_key()
    if warning := coding_plan_warning(key):
        print(warning, file=sys.stderr)
    if options.region or options.base_url:
        base = resolve_base_url(options.region, options.base_url)
    else:
        base = base_url_from_env()
    return DashScopeClient(key, base, limiter=limiter), base, None


def _policy(options: RuntimeOptions) -> SchedulePolicy:
    if options.demo:
        return SchedulePolicy(time_scale=DEMO_TIME_SCALE, interval=0.5)
    if options.time_scale != 1:
        return SchedulePolicy(time_scale=options.time_scale, interval=max(0.05, min(2.0, 2.0 * options.time_scale)))
    return SchedulePolicy()


@asynccontextmanager
async def open_store(options: RuntimeOptions) -> AsyncIterator[Store]:
    """Only the database: for commands that read jobs and need no key and no network."""
    store = await Store.open(paths_for(options).db)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_context(options: RuntimeOptions, *, start_engine: bool = True) -> AsyncIterator[Context]:
    paths = paths_for(options)
    client, endpoint, transport = _client(options, RateLimiter(rate=options.rate))
    store = await Store.open(paths.db)
    try:
        http = make_download_client(transport=transport) if transport is not None else None
        prices = pricing_for(paths.settings, options.region, None if options.demo else endpoint)
        config = EngineConfig(output_dir=paths.output, policy=_policy(options), prices=prices, settings=paths.settings)
        engine = Engine(store, client, config, download_http=http)
        engine.fetcher.sidecars = sidecar_setting(paths.settings)
        ctx = Context(paths, store, client, engine, options.demo, endpoint)
        if start_engine:
            await engine.start()
        try:
            yield ctx
        finally:
            await engine.stop()
    finally:
        await client.aclose()
        await store.close()
