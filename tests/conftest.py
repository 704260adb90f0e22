"""Shared fixtures: a real SQLite store in a temp folder, the real simulator in-process, a real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
TEST_KEY = "sk-test0000000000000000000000000000"


def fast_sim_config(**knobs: object) -> SimConfig:
    """Tasks that finish in a few tens of milliseconds, no rate limit unless asked."""
    base: dict[str, object] = {"pending_seconds": 0.02, "running_seconds": 0.05, "seed": 1,
                               "task_query_qps": None, "public_url": "http://sim.local"}
    base.update(knobs)
    return SimConfig(**base)  # type: ignore[arg-type]


class SimHarness:
    """The simulator app plus an API client and a download client that reach it in-process."""

    def __init__(self, config: SimConfig) -> None:
        self.app = create_app(config)
        self.sim = self.app.state.sim
        self.transport = httpx.ASGITransport(app=self.app)

    def client(self, key: str = TEST_KEY, rate: float = 1000.0) -> DashScopeClient:
        return DashScopeClient(ApiKey(key, "test"), SIM_BASE, transport=self.transport,
                               limiter=RateLimiter(rate=rate, burst=rate))

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


@pytest.fixture
async def engine(tmp_path: Path, store: Store, sim: SimHarness) -> AsyncIterator[Engine]:
    client = sim.client()
    http = sim.download_client()
    eng = Engine(store, client, engine_config(tmp_path), download_http=http)
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()
        await http.aclose()
        await client.aclose()
