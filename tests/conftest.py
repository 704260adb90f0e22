"""Shared fixtures: a real SQLite store in a temp folder, the real simulator in-process, a real engine.

The helpers themselves live in `tests.helpers`; the names below are re-exported only so that older imports
from `tests.conftest` keep working while they move over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qwentui.core.engine import Engine
from qwentui.core.store import Store
from tests.helpers import (
    SIM_BASE,
    TEST_KEY,
    SimHarness,
    engine_config,
    fast_sim_config,
    poll_until,
    running_engine,
    wait_for,
)

__all__ = [
    "SIM_BASE",
    "TEST_KEY",
    "SimHarness",
    "engine_config",
    "fast_sim_config",
    "poll_until",
    "running_engine",
    "wait_for",
]


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


@pytest.fixture
async def engine(tmp_path: Path, store: Store, sim: SimHarness) -> AsyncIterator[Engine]:
    async with running_engine(tmp_path, store, sim) as eng:
        yield eng
