"""The main screen against the real engine and simulator: live rows, the preview, the job actions by key and by
palette, filters and search, notifications, keymap remapping, untrusted text."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import DataTable, Input

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.runtime import Context
from qwentui.sim import SimConfig
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.screens.details import DetailsScreen
from qwentui.tui.settings import load_settings
from qwentui.tui.widgets.filters import FilterBar
from qwentui.tui.widgets.image_view import HalfBlockImage
from qwentui.tui.widgets.text_box import TextBox
from tests.tui.conftest import (
    SIZE,
    choose,
    keys_for,
    main_screen,
    palette_offers,
    paste,
    quiet,
    t2i,
    type_text,
    typist,
    wait_for_state,
    wait_terminal,
    wait_until,
)


async def started(app: QwenApp, pilot: object) -> None:
    await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")  # type: ignore[arg-type]


def notes(app: QwenApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_a_job_appears_progresses_finishes_and_is_previewed(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        job = await context.engine.add(t2i("a lighthouse [bold]in a storm[/bold]", n=2))
        await wait_until(pilot, lambda: job.id in screen.table.jobs, what="the new row")
        assert screen.table.selected_id == job.id  # newest first: the new job is the top row
        done = await wait_terminal(pilot, context.store, job.id)
        assert done.state is JobState.DONE
        await wait_until(pilot, lambda: screen.table.jobs[job.id].state is JobState.DONE, what="the row to finish")
        # the prompt is shown as typed: markup in untrusted text is not interpreted
        row = screen.table.get_row(str(job.id))
        assert any(getattr(cell, "plain", None) == "a lighthouse [bold]in a storm[/bold]" for cell in row)
        await wait_until(pilot, lambda: bool(screen.preview.query(HalfBlockImage)), what="the picture")
        assert "image 1/2" in str(screen.preview.query_one("#preview-caption").render())
        await pilot.press("right_square_bracket")  # page to the second image
        await wait_until(
            pilot,
            lambda: "image 2/2" in str(screen.preview.query_one("#preview-caption").render()),
            what="the second image",
        )
        assert any("finished" in n for n in notes(app))  # a notification for the finished job


async def test_failed_job_shows_its_error(
    tmp_path: Path, context: Context, sim_config: SimConfig, app: QwenApp
) -> None:
    sim_config.failure_rate = 1.0
    sim_config.failure_code = "DataInspectionFailed"
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        job = await context.engine.add(t2i("anything"))
        failed = await wait_terminal(pilot, context.store, job.id)
        assert failed.state is JobState.FAILED
        await wait_until(pilot, lambda: screen.table.jobs[job.id].state is JobState.FAILED, what="the failed row")
        error = screen.preview.query_one("#preview-prompt")  # the error comes first, above the prompt
        await wait_until(pilot, lambda: "DataInspectionFailed" in str(error.render()), what="the error text")
        assert any("failed" in n for n in notes(app))


@pytest.fixture
def slow_sim(sim_config: SimConfig) -> SimConfig:
    sim_config.pending_seconds = 60.0  # long enough to cancel it while it waits
    return sim_config


async def test_cancel_a_pending_job(slow_sim: SimConfig, context: Context, app: QwenApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        job = await context.engine.add(t2i("wait for me"))
        await wait_for_state(pilot, context.store, job.id, {JobState.PENDING})
        await wait_until(pilot, lambda: screen.table.selected_id == job.id, what="the row")
        await pilot.press("c")
        canceled = await wait_for_state(pilot, context.store, job.id, {JobState.CANCELED})
        assert canceled.state is JobState.CANCELED
        await wait_until(pilot, lambda: screen.table.jobs[job.id].state is JobState.CANCELED, what="the row")
        await pilot.press("c")  # again: the engine refuses, the user is told why
        await wait_until(pilot, lambda: any("already canceled" in n for n in notes(app)), what="the refusal told")


async def test_retry_duplicate_and_animate(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        first = await context.engine.add(t2i("a red fox", seed=7))
        await wait_terminal(pilot, context.store, first.id)
        await wait_until(
            pilot,
            lambda: screen.table.jobs.get(first.id) is not None and screen.table.jobs[first.id].state is JobState.DONE,
            what="the first job done",
        )

        await pilot.press("r")  # retry: a new job with the same request
        await wait_until(pilot, lambda: len(screen.table.jobs) == 2, what="the retry's row")
        retry = max(screen.table.jobs.values(), key=lambda j: j.id)
        assert retry.parent_id == first.id and retry.request == first.request
        await wait_terminal(pilot, context.store, retry.id)

        screen.table.select_job(first.id)
        await pilot.press("d")  # duplicate into the composer, edit, submit
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        assert composer.form.values()["prompt"] == "a red fox"
        assert composer.form.values()["seed"] == "7"
        await type_text(pilot, " at dawn")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the main screen")
        [dup] = await context.store.list_jobs(limit=1)
        assert dup.prompt == "a red fox at dawn" and dup.request["seed"] == 7

        await wait_until(pilot, lambda: screen.table.selected_id == dup.id, what="the duplicate selected")
        screen.table.select_job(first.id)
        await wait_until(
            pilot,
            lambda: (
                screen.preview.job is not None and screen.preview.job.id == first.id and bool(screen.preview.pictures)
            ),
            what="the first job's preview",
        )
        await pilot.press("a")  # animate: its image becomes the first frame of an i2v request
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the animate composer")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        request, problems = composer.current()
        assert request.mode is Mode.I2V and problems == []
        assert request.images == [screen.preview.pictures[0].url]  # the result URL, still valid
        assert request.prompt == "a red fox"  # the image's prompt, to edit (as `qwentui animate` keeps it)
        await paste(pilot, ", looking up")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the main screen")
        [animated] = await context.store.list_jobs(limit=1)
        assert animated.mode is Mode.I2V and animated.prompt == "a red fox, looking up"
        assert (await wait_terminal(pilot, context.store, animated.id)).state is JobState.DONE


async def test_animate_uses_the_local_file_once_the_url_expired(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        job = await context.engine.add(t2i("a small cat"))
        await wait_terminal(pilot, context.store, job.id)
        await context.store.update_fields(job.id, results_expire_at=1.0)  # long expired
        await wait_until(pilot, lambda: screen.table.jobs[job.id].results_expire_at == 1.0, what="the change")
        await wait_until(
            pilot,
            lambda: bool(screen.preview.pictures) and screen.preview.pictures[0].path is not None,
            what="the downloaded file",
        )
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        request, _ = composer.current()
        assert request.images == [screen.preview.pictures[0].path]


async def test_filters_and_search(app: QwenApp, context: Context) -> None:
    fox = await context.engine.add(t2i("a quick brown fox"))
    cat = await context.engine.add(t2i("a sleepy cat"))
    boat = await context.engine.add(GenerationRequest(mode=Mode.T2V, prompt="a paper boat, like a fox"))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        await wait_until(pilot, lambda: len(screen.table.jobs) == 3, what="three rows")
        await pilot.press("slash")
        assert isinstance(app.focused, Input) and app.focused.id == "filter-text"
        await type_text(pilot, "fox")
        await wait_until(pilot, lambda: set(screen.table.jobs) == {fox.id, boat.id}, what="the search")
        await choose(pilot, "filter-mode", "t2v")
        await wait_until(pilot, lambda: set(screen.table.jobs) == {boat.id}, what="search + mode")
        await pilot.press("escape")  # clear every filter
        await wait_until(pilot, lambda: set(screen.table.jobs) == {fox.id, cat.id, boat.id}, what="all rows")
        for job in (fox, cat, boat):
            await wait_terminal(pilot, context.store, job.id)
        await choose(pilot, "filter-state", "group:finished")
        await wait_until(pilot, lambda: set(screen.table.jobs) == {fox.id, cat.id, boat.id}, what="finished")
        await choose(pilot, "filter-state", "group:failed")
        await wait_until(pilot, lambda: not screen.table.jobs, what="no failed job")
        # a job that starts matching while the filter is on is added by the refresh, not by a reload
        await choose(pilot, "filter-state", "group:active")
        new = await context.engine.add(t2i("one more fox"))
        await wait_until(pilot, lambda: new.id in screen.table.jobs, what="the new active job")


async def test_search_with_a_filter_adds_only_matching_new_jobs(app: QwenApp, context: Context) -> None:
    """`/zebra` typed at once, while the screen starts (its filter Selects come after the first paint), searches."""
    async with app.run_test(size=SIZE) as pilot:
        await typist(pilot, "slash", *keys_for("zebra"), gap=0)
        await started(app, pilot)
        screen = main_screen(app)
        await wait_until(pilot, lambda: screen.table.job_filter.text == "zebra", what="the search")
        bar = screen.query_one(FilterBar)
        assert isinstance(app.focused, Input) and app.focused.id == "filter-text"
        await wait_until(pilot, lambda: bar.selects_ready, what="the filter Selects")
        ids = [w.id for w in bar.children]
        assert ids == ["filter-state", "filter-mode", "filter-model", "filter-marks", "filter-text"]
        assert bar.value.text == "zebra" and app.focused.id == "filter-text"  # their arrival kept the search
        other = await context.engine.add(t2i("a horse"))
        zebra = await context.engine.add(t2i("a zebra crossing"))
        await wait_until(pilot, lambda: zebra.id in screen.table.jobs, what="the matching job")
        assert other.id not in screen.table.jobs


async def test_delete_details_and_palette(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        keep = await context.engine.add(t2i("keep me"))
        gone = await context.engine.add(t2i("delete me"))
        for job in (keep, gone):
            await wait_terminal(pilot, context.store, job.id)
        await wait_until(pilot, lambda: {keep.id, gone.id} <= set(screen.table.jobs), what="both rows")
        assert screen.table.row_ids[:2] == (gone.id, keep.id)  # newest first
        await pilot.press("home")  # the cursor stays on its job as rows arrive; the newest is at the top
        await wait_until(pilot, lambda: screen.table.selected_id == gone.id, what="the newest row")

        await pilot.press("enter")  # details: request, response, history
        await wait_until(pilot, lambda: isinstance(app.screen, DetailsScreen), what="the details")
        await wait_until(  # the history is read after the screen shows: queued ... done
            pilot, lambda: app.screen.query_one("#details-events", DataTable).row_count >= 5, what="the history"
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back")

        await pilot.press("delete")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: gone.id not in screen.table.jobs, what="the row to go")
        deleted = await context.store.get_job(gone.id)
        assert deleted is not None and deleted.deleted

        # the palette runs the same actions: retry the selected job by name
        await wait_until(pilot, lambda: screen.table.selected_id == keep.id, what="the remaining row")
        await pilot.press("ctrl+p")
        await type_text(pilot, "retry job")
        await palette_offers(pilot, "retry job")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(screen.table.jobs) == 2, what="the retried job")
        [retried] = await context.store.list_jobs(limit=1)
        assert retried.parent_id == keep.id


async def test_open_and_copy(app: QwenApp, context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    import qwentui.tui.opener as opener

    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    monkeypatch.setattr(opener, "opener_command", lambda: None)  # a system without xdg-open
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        job = await context.engine.add(t2i("copy me"))
        await wait_terminal(pilot, context.store, job.id)
        await wait_until(
            pilot,
            lambda: bool(screen.preview.pictures) and screen.preview.pictures[0].path is not None,
            what="the downloaded file",
        )
        await pilot.press("o")
        await wait_until(pilot, lambda: any("no system viewer found" in n for n in notes(app)), what="the notice")
        await pilot.press("y", "Y")
        assert copied[0].startswith("http://sim.local/files/")
        assert copied[1] == screen.preview.pictures[0].path and Path(copied[1]).is_file()


async def test_keys_are_remapped_from_the_settings_file(tmp_path: Path, context: Context, slow_sim: SimConfig) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('[keys]\ncancel-job = "x"\nno-such-binding = "z"\n', encoding="utf-8")
    settings = load_settings(settings_file)
    app = quiet(QwenApp(context=context, backend=HALFBLOCK, settings=settings))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        assert any("no-such-binding" in n for n in notes(app))  # a typo is reported, not fatal
        job = await context.engine.add(t2i("remapped"))
        await wait_for_state(pilot, context.store, job.id, {JobState.PENDING})
        await wait_until(pilot, lambda: main_screen(app).table.selected_id == job.id, what="the row")
        bound = {key: active.binding.action for key, active in app.screen.active_bindings.items()}
        assert bound.get("x") == "cancel_job" and bound.get("c") != "cancel_job"  # c no longer cancels
        await pilot.press("c")
        assert (await context.store.get_job(job.id)).state is JobState.PENDING  # type: ignore[union-attr]
        await pilot.press("x")
        canceled = await wait_for_state(pilot, context.store, job.id, {JobState.CANCELED})
        assert not any("already canceled" in n for n in notes(app))  # had c canceled too, x would be refused
        assert canceled.state is JobState.CANCELED


async def test_the_preview_follows_the_cursor_once_it_rests(app: QwenApp, context: Context) -> None:
    """Keys move the cursor at once; the preview catches up with the job the cursor stops on (not one it passed)."""
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        jobs = [
            await context.store.add_job({"mode": "t2i", "model": "wan2.6-t2i", "prompt": f"row {i}"}) for i in range(6)
        ]
        await wait_until(pilot, lambda: len(screen.table.jobs) == 6, what="six rows")
        screen.table.focus()
        await pilot.press("home", "down", "down", "down", "up")
        assert screen.table.selected_id == jobs[-3].id  # the cursor moved with every key, nothing waited
        await wait_until(
            pilot,
            lambda: screen.preview.job is not None and screen.preview.job.id == jobs[-3].id,
            what="the preview of the row the cursor rests on",
        )
        await pilot.press("end")
        await wait_until(
            pilot,
            lambda: screen.preview.job is not None and screen.preview.job.id == jobs[0].id,
            what="the preview of the last row",
        )


async def test_moving_through_jobs_of_any_text_length_never_lays_the_screen_out(app: QwenApp, context: Context) -> None:
    """The preview's parts have fixed heights: a prompt of one line or twenty, an error or none, only repaints
    the pane (a new layout of the whole screen on each cursor move cost more than the key itself). Long text is
    clipped with an ellipsis and scrolls inside its box."""
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        screen = main_screen(app)
        words = ["a", "fox", "in", "the", "snow", "at", "golden", "hour"]
        jobs = []
        for i, length in enumerate((60, 1, 3, 200, 8)):  # the oldest (the last row) is a failed job, 60 words
            text = " ".join(words[k % len(words)] for k in range(length))
            request = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": text, "size": "x" * 40 * i}
            if i % 3 == 0:  # settled, so nothing moves while the keys do: failed (with an error) or canceled
                job = await context.store.add_job(
                    request, state=JobState.FAILED, error_code="DataInspectionFailed", error_message="no " * (i + 1)
                )
            else:
                job = await context.store.add_job(request, state=JobState.CANCELED)
            jobs.append(job)
        await wait_until(pilot, lambda: len(screen.table.jobs) == len(jobs), what="the rows")
        screen.table.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: screen.preview.job is not None and screen.preview.job.id == jobs[-1].id)
        layouts: list[str] = []
        laid_out = screen._refresh_layout

        def counted(*args: object, **kwargs: object) -> None:
            layouts.append(str(screen.preview.job.id if screen.preview.job else None))
            laid_out(*args, **kwargs)  # type: ignore[arg-type]

        screen._refresh_layout = counted  # type: ignore[method-assign]
        for row, job in enumerate(reversed(jobs[:-1]), start=1):
            await pilot.press("down")
            await wait_until(
                pilot,
                lambda job=job: screen.preview.job is not None and screen.preview.job.id == job.id,  # type: ignore[misc]
                what=f"the preview of row {row}",
            )
            await pilot.pause()
        assert layouts == [], f"the screen was laid out again while the preview showed jobs {layouts}"
        box = screen.preview.query_one("#preview-prompt", TextBox)
        assert box.text.plain.startswith("DataInspectionFailed")  # a failed job's error comes first, then its prompt
        assert box.line_count > box.size.height  # 60 words do not fit: clipped, with an ellipsis
        assert box.render_line(box.size.height - 1).text.rstrip().endswith("…")
        first_line = box.render_line(0).text
        box.post_message(events.MouseScrollDown(box, 1, 1, 0, 1, 0, False, False, False))
        await wait_until(pilot, lambda: box.top == 1, what="the prompt scrolled by the wheel")
        assert box.render_line(0).text != first_line  # the wheel scrolls inside the box
        assert layouts == [], "scrolling the prompt laid the screen out"

        # A filter changes the table's rows, not its size: neither a layout nor a repaint of the whole screen.
        repaints: list[object] = []
        repaint = screen.refresh

        def whole_screen(*regions: object, **kwargs: object) -> object:
            if not regions:
                repaints.append(kwargs)
            return repaint(*regions, **kwargs)  # type: ignore[arg-type]

        screen.refresh = whole_screen  # type: ignore[method-assign,assignment]
        await screen.apply_filter(JobFilter(states=frozenset({JobState.FAILED})))
        await wait_until(pilot, lambda: len(screen.table.jobs) == 2, what="the failed jobs")
        await screen.apply_filter(JobFilter())
        await wait_until(pilot, lambda: len(screen.table.jobs) == len(jobs), what="every job again")
        await pilot.pause()
        assert layouts == [], "a filter laid the screen out"
        assert repaints == [], "a filter repainted the whole screen"
