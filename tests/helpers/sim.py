"""The simulator in-process: a fast configuration and a harness with API and download clients that reach it."""

from __future__ import annotations

import httpx

from qwentui.core.api import DashScopeClient
from qwentui.core.config import ApiKey
from qwentui.core.download import make_download_client
from qwentui.core.limiter import RateLimiter
from qwentui.sim import SimConfig, create_app

SIM_BASE = "http://sim.local/api/v1"
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
