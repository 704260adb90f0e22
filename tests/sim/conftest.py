"""Fixtures for the simulator tests: a fake clock, a seeded simulator, an in-process HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from qwentui.sim import FakeClock, SimConfig, Simulator, create_app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def simulator(clock: FakeClock) -> Simulator:
    # time_scale only matters for the sync route's real wait; async tasks follow the fake clock.
    return Simulator(SimConfig(clock=clock, seed=7, time_scale=0.001))


@pytest.fixture
async def api(simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(sim=simulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
        yield client
