"""Shared fixtures: a real SQLite store in a temp folder, the real simulator in-process, a real engine.

The helpers themselves live in `tests.helpers`; the names below are re-exported only so that older imports
from `tests.conftest` keep working while they move over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import textual.app
import textual.pilot

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
from tests.helpers.settle import settle, settled_screen

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow run first: with work stealing the long ones start at once and the short ones fill
    the gaps at the end, instead of one long test starting last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _pilot_waits_for_the_app_to_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot's key presses and pauses wait until the app has handled what was queued, not for a quiet CPU."""
    monkeypatch.setattr(textual.app, "wait_for_idle", settle)
    monkeypatch.setattr(textual.pilot, "wait_for_idle", settle)
    monkeypatch.setattr(textual.pilot.Pilot, "_wait_for_screen", settled_screen)


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
