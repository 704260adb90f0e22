"""Keys that arrive in one burst (a fast typist, key repeat, `tmux send-keys`) each do what they would do typed
slowly: the ones after a key that moves the focus or opens a screen land where that key sent the focus. Each
sequence is sent in one read, with no turn of the event loop between keys, at 80x24 and 160x48."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual import events
from textual.widgets import Input, TextArea

from qwentui.runtime import Context
from qwentui.tui.app import QwenApp, StartingScreen
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.screens.composer import ComposerScreen
from tests.helpers.wait import poll_until
from tests.tui.conftest import keys_for, main_screen, quiet, t2i, typist, wait_until

# 80x24 in the fast subset, 160x48 (where the composer lays out more) in the full run
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48", marks=pytest.mark.slow)]


async def ready(app: QwenApp, context: Context, pilot: object) -> None:
    """Two jobs in the table, and the table focused: the letters typed next are job keys unless sent on."""
    for prompt in ("a fox", "a cat"):
        await context.engine.add(t2i(prompt))
    await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")  # type: ignore[arg-type]
    table = main_screen(app).table
    await wait_until(pilot, lambda: table.row_count == 2 and app.focused is table, what="the demo rows")  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES)
async def test_slash_then_text_searches_and_runs_no_job_key(
    app: QwenApp, context: Context, size: tuple[int, int]
) -> None:
    """`/dragon`: every letter goes to the search box; none reaches the job keys (d = duplicate, r = retry, a =
    animate, n = new, o = open)."""
    async with app.run_test(size=size) as pilot:
        await ready(app, context, pilot)
        await typist(pilot, "slash", *keys_for("dragon"), gap=0)
        search = app.screen.query_one("#filter-text", Input)
        await wait_until(pilot, lambda: search.value == "dragon", what=f"dragon searched, not {search.value!r}")
        assert app.screen.__class__.__name__ == "MainScreen"
        assert app.focused is search
        await wait_until(pilot, lambda: main_screen(app).table.job_filter.text == "dragon", what="the search applied")
        counts = await context.store.count_by_state()
        assert sum(counts.values()) == 2  # no job duplicated, retried or animated


@pytest.mark.parametrize("size", SIZES)
async def test_n_then_a_prompt_lands_whole_in_the_composer(
    app: QwenApp, context: Context, size: tuple[int, int]
) -> None:
    async with app.run_test(size=size) as pilot:
        await ready(app, context, pilot)
        await typist(pilot, "n", *keys_for("a red fox"), gap=0)
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        prompt = app.screen.query_one("#f-prompt", TextArea)
        await wait_until(pilot, lambda: prompt.text == "a red fox", what=f"the whole prompt, not {prompt.text!r}")
        assert app.focused is prompt


@pytest.mark.parametrize("size", SIZES)
async def test_escape_leaves_the_search_box_before_the_next_key(
    app: QwenApp, context: Context, size: tuple[int, int]
) -> None:
    """In the search box, `escape n`: escape clears and leaves the box, so the n is the New key, not a letter."""
    async with app.run_test(size=size) as pilot:
        await ready(app, context, pilot)
        await typist(pilot, "slash", *keys_for("fox"), gap=0)
        search = app.screen.query_one("#filter-text", Input)
        await wait_until(pilot, lambda: search.value == "fox", what="fox in the search box")
        await typist(pilot, "escape", "n", gap=0)
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer, opened by n")
        assert search.value == ""


async def test_held_cursor_keys_all_land_in_order_then_the_search_takes_the_rest(
    app: QwenApp, context: Context
) -> None:
    """A held Down (and Up) in one burst: the table runs each key as it arrives (no hop through the queues), every
    one moves the cursor, in order; the `/` after them still sends the letters to the search box, and the search,
    which every row matches, keeps the selected job."""
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, context, pilot)
        for i in range(8):
            await context.engine.add(t2i(f"a fox {i}"))
        table = main_screen(app).table
        await wait_until(pilot, lambda: table.row_count == 10, what="ten rows")
        await typist(pilot, "home", *["down"] * 7, "up", "up", "down", "slash", *keys_for("fox"), gap=0)
        assert table.cursor_row == 6
        chosen = table.selected_id
        search = app.screen.query_one("#filter-text", Input)
        await wait_until(pilot, lambda: table.job_filter.text == "fox", what=f"fox searched, not {search.value!r}")
        assert app.focused is search and table.selected_id == chosen


async def test_keys_typed_while_the_database_opens_land_on_the_main_screen_and_quit_still_quits(
    context: Context,
) -> None:
    """The database takes its time to open (the starting screen shows): `/zebra` typed then searches once the main
    screen is there, rather than going to the starting screen and being lost. ctrl+q quits while it waits."""
    opened = asyncio.Event()

    @asynccontextmanager
    async def slow_opener() -> AsyncIterator[Context]:
        await opened.wait()
        yield context

    app = quiet(QwenApp(opener=slow_opener, backend=HALFBLOCK))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, StartingScreen), what="the starting screen")
        send_keys(app, "slash", *keys_for("zebra"))
        # read by the app while the starting screen shows (not through Pilot, whose pause waits on held keys)
        await poll_until(lambda: len(app._keys_waiting) == 6, timeout=20, what="the keys read")
        assert isinstance(app.screen, StartingScreen)
        opened.set()
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
        search = app.screen.query_one("#filter-text", Input)
        await wait_until(
            pilot, lambda: search.value == "zebra", what=f"zebra typed in the search, not {search.value!r}"
        )
        await wait_until(pilot, lambda: main_screen(app).table.job_filter.text == "zebra", what="zebra searched")
        assert app.focused is search

    never = quiet(QwenApp(opener=slow_opener, backend=HALFBLOCK))
    opened.clear()
    async with never.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(never.screen, StartingScreen), what="the starting screen")
        send_keys(never, "x", "ctrl+q")
        await poll_until(lambda: not never.is_running, timeout=20, what="the app quit")


def send_keys(app: QwenApp, *keys: str) -> None:
    """Keys as the terminal delivers them, all in one read."""
    for key in keys:
        event = events.Key(key, {"slash": "/"}.get(key, key if len(key) == 1 else None))
        event.set_sender(app)
        app._driver.send_message(event)  # type: ignore[union-attr]
