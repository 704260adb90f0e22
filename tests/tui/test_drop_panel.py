"""The drop folder inside the TUI: a dropped image becomes a job, the status bar says what each rule is doing,
the preview says which file a job came from, and one key pauses and resumes the rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from PIL import Image
from textual.widgets import Static

from qwentui.core.dropfolder import DropFolderService
from qwentui.core.dropfolder.rules import default_rules
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.widgets.status_bar import StatusBar
from tests.tui.conftest import SIZE, main_screen, palette_offers, wait_terminal, wait_until
from tests.tui.test_main_screen import started

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: the drop folder service under the app


@asynccontextmanager
async def watching(context: Context, tmp_path: Path) -> AsyncIterator[DropFolderService]:
    """The default rules (animate, edit) under tmp_path, running beside the app's engine."""
    service = DropFolderService(context.engine, context.store, default_rules(tmp_path / "drop"), quiet=0.2, rescan=1.0)
    context.drops = service
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def test_drop_folder_runs_inside_the_tui(app: QwenApp, context: Context, tmp_path: Path) -> None:
    async with watching(context, tmp_path), app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        bar = screen.query_one(StatusBar)
        await wait_until(pilot, lambda: "animate: watching" in bar.drop_state, what="the drop status")
        photo = tmp_path / "drop" / "animate" / "[bold]beach.png"  # markup in a file name stays text
        Image.new("RGB", (640, 480), (20, 120, 200)).save(photo)
        await wait_until(pilot, lambda: bool(screen.table.jobs), what="a job from the drop", timeout=30)
        (job_id,) = screen.table.jobs
        job = await wait_terminal(pilot, context.store, job_id)
        assert job.source_path and job.source_path.endswith("[bold]beach.png")
        await wait_until(pilot, lambda: "1 done" in bar.drop_state, what="the done count", timeout=30)
        header = "".join(str(w.render()) for w in screen.preview.query(Static))
        assert "[bold]beach.png" in header
        await pilot.press("p")
        await wait_until(pilot, lambda: "animate: paused" in bar.drop_state, what="paused")
        await pilot.press("p")
        await wait_until(pilot, lambda: "animate: watching" in bar.drop_state, what="watching again")
        assert app.is_running


async def test_one_rule_is_paused_and_resumed_from_the_command_palette(
    app: QwenApp, context: Context, tmp_path: Path
) -> None:
    async with watching(context, tmp_path) as service, app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        bar = main_screen(app).query_one(StatusBar)
        await wait_until(pilot, lambda: "edit: watching" in bar.drop_state, what="the drop status")
        for verb in ("pause", "resume"):
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*f"{verb} drop folder edit")
            await palette_offers(pilot, f"{verb} drop folder edit")
            await pilot.press("enter")
            expected = "edit: paused" if verb == "pause" else "edit: watching"
            await wait_until(pilot, lambda e=expected: e in bar.drop_state, what=f"{verb}d")  # type: ignore[misc]
            assert "animate: watching" in bar.drop_state  # the other rule is left alone
        photo = tmp_path / "drop" / "edit" / "cat.png"
        service.pause("animate")
        Image.new("RGB", (640, 480), (200, 120, 20)).save(photo)
        await wait_until(
            pilot,
            lambda: "edit: watching" in bar.drop_state and "1 done" in bar.drop_state,
            what="the resumed rule takes files",
            timeout=30,
        )
