"""Shared fixtures: a real SQLite store in a temp folder, the real simulator in-process, a real engine."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from qwentui.core.api import DashScopeClient
from qwentui.core.config import ApiKey
from qwentui.core.download import make_download_client
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.limiter import RateLimiter
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.store import Store
from qwentui.sim import SimConfig, create_app

SIM_BASE = "http://sim.local/api/v1"


async def poll_until(
    check: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    nap: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Poll `check` (sync or async) until it holds, napping `interval` between looks; fail naming `what` after
    `timeout`. Tests wait for outcomes, never for a fixed time, and never assert a duration."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await nap(interval)


TEST_KEY = "sk-test0000000000000000000000000000"


def fast_sim_config(**knobs: object) -> SimConfig:
    """Tasks that finish in a few tens of milliseconds, no rate limit unless asked."""
    base: dict[str, object] = {
        "pending_seconds": 0.02,
        "running_seconds": 0.05,
        "seed": 1,
        "task_query_qps": None,
        "public_url": "http://sim.local",
    }
    base.update(knobs)
    return SimConfig(**base)  # type: ignore[arg-type]


class SimHarness:
    """The simulator app plus an API client and a download client that reach it in-process."""

    def __init__(self, config: SimConfig) -> None:
        self.app = create_app(config)
        self.sim = self.app.state.sim
        self.transport = httpx.ASGITransport(app=self.app)

    def client(self, key: str = TEST_KEY, rate: float = 1000.0) -> DashScopeClient:
        return DashScopeClient(
            ApiKey(key, "test"), SIM_BASE, transport=self.transport, limiter=RateLimiter(rate=rate, burst=rate)
        )

    def download_client(self) -> httpx.AsyncClient:
        return make_download_client(transport=self.transport)


@pytest.fixture
def sim() -> SimHarness:
    return SimHarness(fast_sim_config())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "jobs.db")
    try:
        yield s
    finally:
        await s.close()


def engine_config(tmp_path: Path, **overrides: object) -> EngineConfig:
    base: dict[str, object] = {
        "output_dir": tmp_path / "out",
        "policy": SchedulePolicy(interval=0.05, max_interval=0.5, time_scale=0.001),
        "tick": 0.02,
        "reconcile_settle": 0.3,
    }
    base.update(overrides)
    return EngineConfig(**base)  # type: ignore[arg-type]


@asynccontextmanager
async def running_engine(
    tmp_path: Path, store: Store, harness: SimHarness, **overrides: object
) -> AsyncIterator[Engine]:
    """A started engine on the simulator (`engine_config` overrides, and `clock=`), stopped and closed after."""
    clock = overrides.pop("clock", None)
    extra = {"clock": clock} if clock is not None else {}
    client, http = harness.client(), harness.download_client()
    eng = Engine(store, client, engine_config(tmp_path, **overrides), download_http=http, **extra)  # type: ignore[arg-type]
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()
        await http.aclose()
        await client.aclose()


@pytest.fixture
async def engine(tmp_path: Path, store: Store, sim: SimHarness) -> AsyncIterator[Engine]:
    async with running_engine(tmp_path, store, sim) as eng:
        yield eng
