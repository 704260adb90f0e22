"""The main screen at every terminal size from 60x20 to 250x70, through every way a job can arrive and every
change of layout: the app stays up and the new job is in the table, on screen.

One app per size (starting the app and the engine is the slow part), the events in turn inside it: a job added
by the engine (as the composer, the drop folder and the CLI's own engine do), by the composer's keys, by another
store connection (another process, as `qwentui submit` while the TUI runs), by a retry; with a filter, with a
search, with the F1 key panel open, after shrinking the terminal and after growing it back, and with the composer
opened and closed. The order of the table never depends on which columns the width leaves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from qwentui.core.dropfolder.status import DropStatus, RuleStatus
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.screens.main import MainScreen
from qwentui.tui.widgets.job_table import JobTable
from qwentui.tui.widgets.status_bar import EngineStatus, StatusBar
from tests.tui.conftest import choose, focus, main_screen, paste, t2i, type_text, wait_until

SIZES = [(60, 20), (80, 24), (110, 30), (130, 40), (160, 48), (250, 70)]
SMALLEST = SIZES[0]


def on_screen(table: JobTable) -> str:
    """What the table draws now, line by line (the same lines the compositor asks it for)."""
    return "\n".join(table.render_line(y).text for y in range(table.scrollable_content_region.height))


@pytest.mark.parametrize(
    "size",
    # the smallest and 80x24 are in the fast subset; the others are the same walk at more room
    [pytest.param(s, marks=() if s == (80, 24) else pytest.mark.slow, id=f"{s[0]}x{s[1]}") for s in SIZES],
)
@pytest.mark.paint  # every frame of every event at every size is drawn: what a terminal of that size would get
async def test_every_size_survives_every_event(app: QwenApp, context: Context, size: tuple[int, int]) -> None:
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        screen = main_screen(app)
        table = screen.table

        def alive() -> bool:
            return app.is_running and app.return_code is None and app._exception is None

        async def shows(prompt: str, what: str) -> int:
            """The job with this prompt is a row of the table, and its row is drawn with its prompt."""

            async def in_table() -> bool:
                assert alive(), f"the app died on: {what}"
                jobs = await context.store.list_jobs(text=prompt, limit=1)
                return bool(jobs) and jobs[0].id in table.jobs

            await wait_until(pilot, in_table, what=f"the row of {what}")
            [job] = await context.store.list_jobs(text=prompt, limit=1)
            assert table.select_job(job.id)
            await pilot.pause()
            if table.size.width >= 40:  # narrower (the key panel open at 60 columns): the prompt is cut off
                assert prompt in on_screen(table), f"{what}: {on_screen(table)}"
            assert alive(), f"the app died on: {what}"
            return job.id

        await context.engine.add(t2i("sz1 engine"))
        first = await shows("sz1 engine", "a job the engine added")

        await pilot.press("n")  # the composer's keys: open, type, submit
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        await focus(pilot, "f-prompt")
        await paste(pilot, "sz2 composer")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the composer to close")
        await shows("sz2 composer", "a job the composer submitted")

        other = await Store.open(context.paths.db)  # another process's connection, as the CLI's
        try:
            await other.add_job({"mode": "t2i", "model": "wan2.6-t2i", "prompt": "sz3 another process"})
        finally:
            await other.close()
        await shows("sz3 another process", "a job another process added")

        assert table.select_job(first)
        table.focus()
        await pilot.press("r")  # retry: a new job, the same request
        await wait_until(pilot, lambda: len(table.jobs) == 4, what="the retry's row")
        retry = max(table.jobs)
        assert table.jobs[retry].parent_id == first

        await choose(pilot, "filter-mode", "t2i")
        await context.engine.add(t2i("sz4 filtered"))
        await shows("sz4 filtered", "a job matching the filter")
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.job_filter.is_empty, what="the filter cleared")

        await pilot.press("slash")  # a person sees the cursor in the box before typing (bursts: test_composer)
        await wait_until(pilot, lambda: getattr(app.focused, "id", None) == "filter-text", what="the search box")
        await type_text(pilot, "sz5")
        await wait_until(pilot, lambda: table.job_filter.text == "sz5", what="the search")
        await context.engine.add(t2i("sz5 searched"))
        await shows("sz5 searched", "a job matching the search")
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.job_filter.is_empty, what="the search cleared")

        await pilot.press("f1")
        await wait_until(pilot, lambda: bool(app.screen.query("HelpPanel")), what="the key panel")
        await context.engine.add(t2i("sz6 key panel"))
        await shows("sz6 key panel", "a job while the key panel is open")
        await pilot.press("f1")
        await wait_until(pilot, lambda: not app.screen.query("HelpPanel"), what="the key panel closed")

        await pilot.resize_terminal(*SMALLEST)
        await context.engine.add(t2i("sz7 shrunk"))
        await shows("sz7 shrunk", "a job after shrinking the terminal")
        await pilot.resize_terminal(*size)
        await context.engine.add(t2i("sz8 grown"))
        await shows("sz8 grown", "a job after growing the terminal back")

        await pilot.press("n")  # the composer open while a job arrives, then closed
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        await context.engine.add(t2i("sz9 behind the composer"))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="the composer to close")
        await shows("sz9 behind the composer", "a job added while the composer was open")

        assert list(table.row_ids) == sorted(table.jobs, reverse=True)  # newest first, whatever the width
        assert alive()


class BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar("ap-southeast-1 (dashscope-intl)", "halfblock", id="status")


def drops() -> DropStatus:
    rules = [
        RuleStatus("animate", Path("drop/animate"), "i2v", "wan2.6-i2v", in_flight=3, done=12, duplicates=1),
        RuleStatus("edit", Path("drop/edit"), "edit", "wan2.6-image", state="paused", failed=2),
    ]
    return DropStatus(running=True, rules=rules)


@pytest.mark.parametrize("width", [60, 80, 110, 160])
async def test_the_status_bar_shortens_whole_parts_never_cuts_one(width: int) -> None:
    """At any width each part of the status bar shows one of its forms whole (the least important give way
    first), never a form cut in the middle ("1 dupli")."""
    app = BarApp()
    async with app.run_test(size=(width, 4)) as pilot:
        bar = app.query_one(StatusBar)
        bar.show_counts({JobState.NEEDS_USER: 1, JobState.RUNNING: 3, JobState.DONE: 1234, JobState.FAILED: 5})
        bar.show_engine(EngineStatus(leader=True, rate_pauses=2, errors=1))
        bar.show_drops(drops())
        await pilot.pause()
        line = [s for s in bar.query(Static) if s.id != "status-counts" and s.display]
        assert sum(s.outer_size.width for s in line) <= width
        for static in bar.query(Static):
            if static.display and static.id != "status-endpoint":  # the endpoint takes the room that is left
                shown = static.visual
                assert isinstance(shown, Content)
                assert static.content_size.width >= shown.cell_length, f"{static.id} is cut: {shown.plain!r}"
        engine = bar.query_one("#status-engine", Static)
        assert "engine" in str(engine.visual)  # the engine's state is never what gives way


async def test_80x24_shows_quit_and_help(app: QwenApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await pilot.pause()
        keys = {key.action: key for key in app.screen.query(FooterKey)}
        for action in ("quit", "toggle_help"):
            region = keys[action].region
            assert region.width > 0 and region.right <= 80, f"{action} is off screen: {region}"
