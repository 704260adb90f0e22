"""An idle TUI does no work it does not need: no job rows read and no engine loop looking for work while nothing
changes, and no FFmpeg or terminal-graphics library loaded before the first frame."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import pytest

from qwentui.core.requests import GenerationRequest
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from tests.tui.conftest import main_screen, wait_until

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: watches the idle app for seconds


def test_the_launcher_imports_no_video_or_graphics_library() -> None:
    code = "import sys, qwentui.tui.launch; print(sorted(m for m in ('av', 'textual_image') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"loaded at import: {out.strip()}"


async def test_the_idle_main_screen_reads_no_job_rows_while_nothing_changes(app: QwenApp, context: Context) -> None:
    job = await context.engine.add(GenerationRequest.from_dict({"mode": "t2i", "prompt": "a quiet lake"}))
    await context.engine.wait_for([job.id], timeout=30)
    store = context.store
    job_reads: list[str] = []
    read = store._read

    async def counted(sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if "FROM jobs" in sql:
            job_reads.append(sql)
        return await read(sql, params)

    store._read = counted  # type: ignore[method-assign]
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: main_screen(app).table.row_count == 1, what="the job on screen")
        engine = context.engine
        short_look = engine.config.idle_look
        engine.config.idle_look = 120.0  # its safety-net look: none in this test, so any look is a poll
        changed_at = time.time()
        # Several loops share a kind (four submit workers): one of them sleeping long does not mean all do. A
        # loop still in a sleep planned with the short look wakes by `changed_at + short_look` at the latest and
        # plans its next sleep with the long one, so once that moment has passed every loop sleeps long.
        await wait_until(
            pilot,
            lambda: (
                time.time() > changed_at + 2 * short_look + 0.5
                and all(u > time.time() + 60 for u in engine._until.values())
            ),
            what="every engine loop asleep",
        )
        table = main_screen(app).table
        job_reads.clear()
        looks, ticks, feed_looks = engine.looks, table._tick, engine.feed.looks
        # two refreshes of the ages and two looks of the feed for other processes' writes: nothing to read
        await wait_until(
            pilot, lambda: table._tick >= ticks + 2 and engine.feed.looks >= feed_looks + 2, what="two ticks"
        )
        assert job_reads == [], "job rows were read while nothing changed"
        assert engine.looks == looks, "an engine loop looked for work while nothing changed"
