"""The status bar's money and batch parts: today's and this month's spend (read again when a job's cost arrives),
a running batch's progress, the jobs a spending cap holds (the reason in the job's details), and one notification
when a whole batch is done. A real store, the simulator in-process, a real engine with the shipped prices."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static

from qwentui.core.pricing import Pricing, shipped_table
from qwentui.core.states import JobState
from qwentui.runtime import Context
from qwentui.sim import SimConfig
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.notifier import Notifier, desktop_notify
from qwentui.tui.settings import load_settings
from qwentui.tui.widgets.status_bar import BatchProgress, EngineStatus, Spend, StatusBar
from tests.tui.conftest import (
    main_screen,
    make_paths,
    palette_offers,
    quiet,
    sim_context,
    t2i,
    type_text,
    wait_terminal,
    wait_until,
)

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: budgets and batches through the whole app

PRICES = Pricing(shipped_table(), "ap-southeast-1")


def each_job() -> float:
    estimate = PRICES.estimate(t2i("x")).fields()["cost_estimate"]
    assert isinstance(estimate, float) and estimate > 0
    return estimate


@pytest.fixture
async def priced(tmp_path: Path, sim_config: SimConfig) -> AsyncIterator[Context]:
    """A context whose engine estimates with the shipped prices and reads [budget] from its settings file."""
    settings = make_paths(tmp_path).settings
    settings.write_text(f"[budget]\ndaily = {each_job() * 3 + 0.0001:.4f}\n", encoding="utf-8")
    async with sim_context(tmp_path, sim_config, prices=PRICES, settings=settings) as ctx:
        ctx.engine.budget.recheck = 0.2  # a raised cap is noticed at once, not after 30 s (no job is queued yet)
        yield ctx


def shown(bar: StatusBar, part: str) -> str:
    static = bar.query_one(f"#status-{part}", Static)
    visual = static.visual
    return visual.plain if isinstance(visual, Content) and static.display else ""


_SAID: weakref.WeakKeyDictionary[QwenApp, list[str]] = weakref.WeakKeyDictionary()


def noting(app: QwenApp) -> QwenApp:
    """Record every notification `app` raises: Textual's own list drops each once its 5 s on screen are over, and
    under load a check could come after that (a run timed out waiting for a toast the app had shown)."""
    said = _SAID.setdefault(app, [])
    notify = app.notify

    def recorded(message: str, *args: Any, **kwargs: Any) -> None:
        said.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = recorded  # type: ignore[method-assign]
    return app


def notes(app: QwenApp) -> list[str]:
    return _SAID[app]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_a_daily_cap_stops_a_batch_half_way_and_raising_it_finishes_the_batch(
    priced: Context, size: tuple[int, int]
) -> None:
    app = noting(quiet(QwenApp(context=priced, backend=HALFBLOCK)))
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: main_screen(app).is_mounted, what="the main screen")
        bar = main_screen(app).query_one(StatusBar)
        assert shown(bar, "spend").startswith("today 0.00/")  # a cap is set: shown before anything is spent
        batch_id, ids = await priced.engine.add_batch([t2i(f"capped {i}") for i in range(6)], name="six")

        # three are sent and finish; three stay queued, held by the daily cap
        await wait_until(pilot, lambda: "3 held" in shown(bar, "held"), what="three jobs held")
        await wait_until(pilot, lambda: shown(bar, "batch").endswith(" 3/6"), what="the batch at 3 of 6")
        assert f"{batch_id}" in shown(bar, "batch")
        spent = f"{each_job() * 3:.2f}"
        await wait_until(pilot, lambda: f"today {spent}" in shown(bar, "spend"), what=f"today {spent}")
        if size[0] >= 160:  # room for the long forms: which cap holds them, and the month
            assert "daily budget" in shown(bar, "held"), shown(bar, "held")
            assert "month" in shown(bar, "spend")
        held = await priced.store.get_job(ids[-1])
        assert held is not None and held.state is JobState.QUEUED
        events = await priced.store.events(held.id)  # what the details screen lists as its history
        assert any("held: the daily budget" in (e.detail or "") for e in events)
        assert not any(n.startswith(f"Batch {batch_id} is done") for n in notes(app))

        # raising the cap releases them: the batch ends, once, with a note; the held and batch parts go
        priced.paths.settings.write_text("[budget]\ndaily = 100\n", encoding="utf-8")
        await wait_until(pilot, lambda: not shown(bar, "batch"), what="the batch to end")
        assert not shown(bar, "held")
        await wait_until(pilot, lambda: f"Batch {batch_id} is done: 6 of 6 jobs finished" in notes(app))
        assert sum(n.startswith(f"Batch {batch_id} is done") for n in notes(app)) == 1
        await wait_until(pilot, lambda: f"today {each_job() * 6:.2f}" in shown(bar, "spend"), what="six jobs' spend")


class BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar("ap-southeast-1 (dashscope-intl)", "halfblock", id="status")


@pytest.mark.parametrize("width", [60, 80, 110, 160])
async def test_the_money_parts_give_way_whole_after_the_endpoint_and_drops(width: int) -> None:
    app = BarApp()
    async with app.run_test(size=(width, 4)) as pilot:
        bar = app.query_one(StatusBar)
        bar.show_engine(EngineStatus(leader=True, held=25, held_by="the daily budget is 2.50 USD"))
        bar.show_batches([BatchProgress(3, 12, 50), BatchProgress(2, 1, 4)])
        bar.show_spend(Spend({"USD": 2.4}, {"USD": 7.1}, daily_cap=2.5, currency="USD"))
        await pilot.pause()
        line = [s for s in bar.query(Static) if s.id != "status-counts" and s.display]
        assert sum(s.outer_size.width for s in line) <= width
        for static in line:
            if static.id != "status-endpoint":
                assert isinstance(static.visual, Content)
                assert static.content_size.width >= static.visual.cell_length, f"{static.id} is cut"
        assert "engine" in shown(bar, "engine") and "25 held" in shown(bar, "held")
        assert "12/50" in shown(bar, "batch")
        if width >= 160:
            assert shown(bar, "held") == "⏸ 25 held: the daily budget is 2.50 USD"
            assert shown(bar, "batch") == "batch 3: 12/50 · +1 batch"
            assert shown(bar, "spend") == "today 2.40/2.50 USD · month 7.10 USD"
        if width <= 80:
            assert not shown(bar, "endpoint")  # the least important part gave way first


async def test_no_prices_no_caps_no_spend_part() -> None:
    app = BarApp()
    async with app.run_test(size=(160, 4)) as pilot:
        bar = app.query_one(StatusBar)
        bar.show_spend(Spend({}, {}))
        bar.show_batches([])
        await pilot.pause()
        assert not shown(bar, "spend") and not shown(bar, "batch") and not shown(bar, "held")


async def palette(pilot: Pilot[None], words: str) -> None:
    """Run the palette's command named `words`, once it is the one highlighted (the list follows the typing a
    moment later: a highlight seen earlier may be a match of the first letters, such as another command)."""
    await pilot.press("ctrl+p")
    await type_text(pilot, words)
    await palette_offers(pilot, words)
    await pilot.press("enter")


async def test_the_palette_shows_cancels_and_retries_a_whole_batch(priced: Context) -> None:
    priced.paths.settings.write_text(f"[budget]\ndaily = {each_job() * 2 + 0.0001:.4f}\n", encoding="utf-8")
    app = noting(quiet(QwenApp(context=priced, backend=HALFBLOCK)))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, lambda: main_screen(app).is_mounted, what="the main screen")
        screen = main_screen(app)
        lone = await priced.engine.add(t2i("not in the batch"))
        batch_id, ids = await priced.engine.add_batch([t2i(f"in the batch {i}") for i in range(4)], name="four")
        await wait_until(pilot, lambda: set(ids) | {lone.id} <= set(screen.table.jobs), what="every row")
        await wait_until(pilot, lambda: "3 held" in shown(screen.query_one(StatusBar), "held"), what="three held")
        assert screen.table.select_job(ids[0])

        await palette(pilot, "show only batch")
        await wait_until(pilot, lambda: set(screen.table.jobs) == set(ids), what="only the batch's rows")
        assert f"batch {batch_id}" in (screen.sub_title or "")

        # the batch's first job (within the cap) ends first: a job still running when the batch is canceled cannot
        # be, and says so ("1 could not be"), which is not what this checks
        await wait_terminal(pilot, priced.store, ids[0])
        await palette(pilot, f"cancel batch {batch_id}")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: f"Batch {batch_id}: 3 job(s) canceled" in notes(app), what="3 canceled")
        canceled = await priced.store.batch_jobs(batch_id, JobState.CANCELED)
        assert sorted(j.id for j in canceled) == ids[1:]
        lone_now = await priced.store.get_job(lone.id)
        assert lone_now is not None and lone_now.state is not JobState.CANCELED  # only the batch

        priced.paths.settings.write_text("[budget]\ndaily = 100\n", encoding="utf-8")
        await palette(pilot, f"retry batch {batch_id}")
        await wait_until(pilot, lambda: len(screen.table.jobs) == 7, what="the three retries in the batch's view")
        retries = [j for j in await priced.store.batch_jobs(batch_id) if j.parent_id is not None]
        assert sorted(j.parent_id or 0 for j in retries) == ids[1:]
        await wait_until(pilot, lambda: f"Batch {batch_id} is done: 4 of 7 jobs finished (3 canceled)" in notes(app))

        await pilot.press("escape")  # the filters cleared: every job again
        await wait_until(pilot, lambda: lone.id in screen.table.jobs, what="the lone job back")


async def test_a_finished_batch_goes_to_the_desktop_where_notify_send_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert await desktop_notify("qwentui", "Batch 3 is done") is False  # no notify-send: nothing, no error
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    said = tmp_path / "said.txt"
    script = bin_dir / "notify-send"
    script.write_text(f'#!/bin/sh\nprintf "%s|" "$@" > {said}\n', encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    note = Notifier(since=0).batch_note(3, {JobState.DONE: 48, JobState.FAILED: 2})
    assert note.message == "Batch 3 is done: 48 of 50 jobs finished (2 failed)" and note.severity == "warning"
    assert await desktop_notify("qwentui", note.message) is True
    assert said.read_text(encoding="utf-8") == f"--app-name=qwentui|qwentui|{note.message}|"
    settings = tmp_path / "settings.toml"
    settings.write_text("[tui]\ndesktop_notify = true\n", encoding="utf-8")
    assert load_settings(settings, env={}).desktop_notify is True
