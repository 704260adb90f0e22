"""SVG snapshots of the main screen (jobs in many states, at two sizes), the composer and the details screen.

The data is written straight into the store with a stepping clock (no engine runs, nothing moves), the app's
clock is frozen, the renderer is half blocks and local times are UTC, so every run draws the same screen.
Update after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update` and look at the
report. These tests are synchronous: `snap_compare` runs the app in its own event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.screens.details import DetailsScreen
from qwentui.tui.widgets.image_view import HalfBlockImage
from tests.tui.conftest import quiet, validated, wait_until
from tests.tui.snapshot_data import NOW, build, open_snapshot_context

SnapCompare = Callable[..., bool]


@pytest.fixture
def snapshot_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> QwenApp:
    monkeypatch.chdir(tmp_path)  # result paths are relative ("results/9_1.png"): the same text on every machine
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    db = tmp_path / "jobs.db"
    asyncio.run(build(db, Path("results")))
    return quiet(
        QwenApp(opener=lambda: open_snapshot_context(db, tmp_path), backend=HALFBLOCK, clock=lambda: NOW, live=False)
    )


@pytest.fixture(autouse=True)
def _restore_tz() -> Any:
    yield
    time.tzset()


async def until(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    await wait_until(pilot, condition, what="the screen ready for its snapshot")
    await pilot.pause()


async def main_ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen" and bool(app.screen.query(HalfBlockImage)))
    await pilot.app.workers.wait_for_complete()


def test_main_screen_at_160x48(snap_compare: SnapCompare, snapshot_app: QwenApp) -> None:
    assert snap_compare(snapshot_app, terminal_size=(160, 48), run_before=main_ready)


def test_main_screen_at_80x24(snap_compare: SnapCompare, snapshot_app: QwenApp) -> None:
    """The smallest common terminal: quit and help in the footer, the counts in short form, a toast over the
    preview side (never over the rows) and above the status bar."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await main_ready(pilot)
        pilot.app.notify("Job 9 finished — A koi pond seen from above, ukiyo-e style", timeout=60)
        await pilot.pause()

    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=run_before)


def test_composer(snap_compare: SnapCompare, snapshot_app: QwenApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await main_ready(pilot)
        await pilot.press("d")  # duplicate the selected (finished) job into the composer
        await until(pilot, lambda: isinstance(pilot.app.screen, ComposerScreen))
        await pilot.press("end", "space", "x")
        await validated(pilot, pilot.app.screen)

    assert snap_compare(snapshot_app, terminal_size=(130, 40), run_before=run_before)


def test_details(snap_compare: SnapCompare, snapshot_app: QwenApp) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await main_ready(pilot)
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, DetailsScreen) and bool(pilot.app.screen.query("#details-events")),
        )

    assert snap_compare(snapshot_app, terminal_size=(120, 48), run_before=run_before)
