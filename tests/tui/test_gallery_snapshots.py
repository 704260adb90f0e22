"""SVG snapshots of the gallery at 80x24 and 160x48 (the snapshot history of test_snapshots.py: a frozen clock,
half blocks, UTC). Update after an intended change with `--snapshot-update` and look at the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from qwentui.tui.app import QwenApp
from qwentui.tui.screens.gallery import GalleryScreen
from tests.tui.test_snapshots import main_ready, snapshot_app, until

__all__ = ["snapshot_app"]  # the fixture, shared with the main screen's snapshots

SnapCompare = Callable[..., bool]


async def gallery_ready(pilot: Pilot[Any]) -> None:
    await main_ready(pilot)
    await pilot.press("v")
    app = pilot.app

    def thumbs_done() -> bool:
        screen = app.screen
        return isinstance(screen, GalleryScreen) and screen.grid.thumbs_shown

    await until(pilot, thumbs_done)
    await pilot.press("l")  # the cursor on the second result
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_gallery_at_160x48(snap_compare: SnapCompare, snapshot_app: QwenApp) -> None:
    assert snap_compare(snapshot_app, terminal_size=(160, 48), run_before=gallery_ready)


def test_gallery_at_80x24(snap_compare: SnapCompare, snapshot_app: QwenApp) -> None:
    assert snap_compare(snapshot_app, terminal_size=(80, 24), run_before=gallery_ready)
