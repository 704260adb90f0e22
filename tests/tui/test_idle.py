"""An idle TUI does no work it does not need: no job rows read and no engine loop looking for work while nothing
changes, and no FFmpeg or terminal-graphics library loaded before the first frame."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from qwentui.core.requests import GenerationRequest
from qwentui.runtime import Context
from qwentui.sim import SimConfig
from qwentui.tui.app import QwenApp
from tests.tui.conftest import main_screen, sim_context, wait_until

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: watches the idle app for seconds


def test_the_launcher_imports_no_video_or_graphics_library() -> None:
    code = "import sys, qwentui.tui.launch; print(sorted(m for m in ('av', 'textual_image') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"loaded at import: {out.strip()}"


@pytest.fixture
async def context(tmp_path: Path, sim_config: SimConfig) -> AsyncIterator[Context]:
    """The engine's safety-net look at 1 s, not 5: the test waits for two of them to pass before it watches."""
    async with sim_context(tmp_path, sim_config, idle_look=1.0) as ctx:
        yield ctx


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
    writes: list[str] = []
    write = store._write

    @contextlib.asynccontextmanager
    async def noted() -> AsyncIterator[Any]:
        writer = sys._getframe(2).f_code.co_name  # the store method that writes, to say which
        async with write() as conn:
            yield conn
        writes.append(writer)  # counted once committed: the moment the feed can see it

    store._write = noted  # type: ignore[method-assign]
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
        # A write (a late bookkeeping write of the finished job) is a change, and reading after it is right, also
        # in the next window when the feed was pausing between two reads as it landed. The claim is about a
        # window after a window in which nothing was written: windows are taken until two quiet ones follow.
        quiet_windows = 0
        for _ in range(8):
            job_reads.clear()
            looks, ticks, feed_looks, writes_before = engine.looks, table._tick, engine.feed.looks, len(writes)
            # two refreshes of the ages and two looks of the feed for other processes' writes: nothing to read
            await wait_until(
                pilot,
                lambda t=ticks, f=feed_looks: table._tick >= t + 2 and engine.feed.looks >= f + 2,  # type: ignore[misc]
                what="two ticks",
            )
            quiet_windows = quiet_windows + 1 if len(writes) == writes_before else 0
            if quiet_windows == 2:
                break
        else:
            pytest.fail(f"the store was never quiet for two windows; its writes: {writes}")
        assert job_reads == [], f"job rows were read while nothing changed (writes before: {writes})"
        assert engine.looks == looks, "an engine loop looked for work while nothing changed"
