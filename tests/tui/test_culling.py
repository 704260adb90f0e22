"""Culling and building on results from the keyboard: ratings and stars kept in the database (they survive a
restart), the marks filter, lineage in the details, a job's family in the table, extend into the composer
(the new job's lineage is the source), assemble a chain into a film job, export with sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Link, Store
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.screens.details import DetailsScreen
from qwentui.tui.screens.main.result_actions import PathPrompt
from qwentui.tui.screens.pickers import Confirm
from tests.core.test_assemble import make_clip
from tests.tui.conftest import choose, main_screen, wait_terminal, wait_until

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: ratings and export through the whole app

T2I = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "a fox"}
T2V = {"mode": "t2v", "model": "wan2.6-t2v", "prompt": "a clip"}


async def ready(pilot: Pilot[None], app: QwenApp) -> None:
    await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
    await wait_until(pilot, lambda: main_screen(app).table.row_count > 0, what="rows")


async def test_marks_from_keys_survive_a_restart_and_filter_the_table(app: QwenApp, context: Context) -> None:
    store = context.store
    keep = await store.add_job(T2I, state=JobState.DONE)
    other = await store.add_job(T2I, state=JobState.DONE)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        screen = main_screen(app)
        assert screen.table.selected_id == other.id
        await pilot.press("x")  # reject the newest
        await pilot.press("j", "4", "s")  # rate and star the other
        await wait_until(pilot, lambda: screen.table.row_count == 2, what="rows")

        async def marked() -> bool:
            job = await store.get_job(keep.id)
            return job is not None and (job.rating, job.starred) == (4, True)

        await wait_until(pilot, marked, what="the marks stored")
        # the marks filter: rated 4 or better
        await choose(pilot, "filter-marks", "rating:4")
        await wait_until(pilot, lambda: screen.table.row_ids == (keep.id,), what="the rated job alone")
        await choose(pilot, "filter-marks", "rejected")
        await wait_until(pilot, lambda: screen.table.row_ids == (other.id,), what="the rejected job alone")
    # another process (a restart) reads the same marks from the file
    reopened = await Store.open(context.paths.db)
    try:
        kept, rejected = await reopened.get_job(keep.id), await reopened.get_job(other.id)
        assert kept is not None and (kept.rating, kept.starred, kept.rejected) == (4, True, False)
        assert rejected is not None and (rejected.starred, rejected.rejected) == (False, True)
    finally:
        await reopened.close()


async def test_details_show_the_lineage_both_ways_and_f_shows_the_family(app: QwenApp, context: Context) -> None:
    store = context.store
    image = await store.add_job(T2I, state=JobState.DONE)
    clip = await store.add_job(T2V, state=JobState.DONE, lineage=[(image.id, "animate")])
    longer = await store.add_job(T2V, state=JobState.DONE, lineage=[(clip.id, "extend")])
    await store.add_job(T2I, state=JobState.DONE)  # a stranger
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        screen = main_screen(app)
        assert screen.table.select_job(clip.id)
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(app.screen.query("#details-lineage")), what="the lineage")
        assert isinstance(app.screen, DetailsScreen)
        tree = str(app.screen.query_one("#details-lineage").render())
        assert f"animated from job {image.id} (t2i, done)" in tree
        assert f"extended as job {longer.id} (t2v, done)" in tree
        await pilot.press("f")  # back to the table, showing the family alone
        await wait_until(
            pilot,
            lambda: set(main_screen(app).table.row_ids) == {image.id, clip.id, longer.id},
            what="the family in the table",
        )
        assert "family of job" in str(main_screen(app).sub_title)
        await pilot.press("escape")
        await wait_until(pilot, lambda: main_screen(app).table.row_count == 4, what="every job again")


async def test_extend_from_the_tui_queues_a_job_whose_lineage_is_the_source(app: QwenApp, context: Context) -> None:
    engine = context.engine
    source = await engine.add(GenerationRequest(mode=Mode.T2V, prompt="waves at dusk"))
    async with app.run_test(size=(160, 48)) as pilot:
        done = await wait_terminal(pilot, context.store, source.id)
        assert done.state is JobState.DONE
        await ready(pilot, app)
        screen = main_screen(app)
        screen.table.select_job(source.id)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        # the form is filled and checked once it has laid out (ctrl+s before that finds no request yet)
        await wait_until(pilot, lambda: composer._request is not None, what="the request checked")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the main screen again")

        async def extended() -> bool:
            return bool(await context.store.children(source.id))

        await wait_until(pilot, extended, what="the new job")
        (link,) = await context.store.children(source.id)
        assert link.relation == "extend"
        new = await context.store.get_job(link.job_id)
        assert new is not None and new.mode is Mode.I2V and new.prompt == "waves at dusk"
        frames = [*new.request.get("images", []), *(m["url"] for m in new.request.get("media", []))]
        assert any(str(f).endswith(f"{source.id}_last_frame.png") for f in frames)


async def test_assemble_a_chain_and_export_the_starred(app: QwenApp, context: Context, tmp_path: Path) -> None:
    store = context.store
    ids: list[int] = []
    for i in range(3):
        job = await store.add_job(
            T2V, state=JobState.DONE, lineage=[(ids[-1], "extend")] if ids else None, source="extend" if ids else "cli"
        )
        await store.add_asset(job.id, 1, "video", path=make_clip(tmp_path / f"{i}.mp4", 10, fps=10))
        ids.append(job.id)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        screen = main_screen(app)
        assert screen.table.selected_id == ids[-1]
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), what="the question")
        await pilot.press("y")

        async def films() -> list[Link]:
            return [lk for lk in await store.children(ids[0]) if lk.relation == "assemble"]

        async def has_film() -> bool:
            return bool(await films())

        await wait_until(pilot, has_film, what="the film", timeout=60)
        (link,) = await films()
        parents = await store.parents(link.job_id)
        assert [(p.parent_id, p.relation) for p in parents] == [(i, "assemble") for i in ids]
        film_job = await store.get_job(link.job_id)
        assert film_job is not None and film_job.mode is Mode.ASSEMBLE and film_job.state is JobState.DONE
        await wait_until(pilot, lambda: screen.table.selected_id == link.job_id, what="the film selected")

        # star the film, export the starred results into a folder
        await pilot.press("s")
        await wait_until(pilot, lambda: (screen.table.selected or film_job).starred, what="the star")
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, PathPrompt), what="the path question")
        dest = tmp_path / "exported"
        app.screen.query_one(Input).value = str(dest)
        await pilot.press("enter")
        await wait_until(pilot, lambda: dest.is_dir() and any(dest.glob("*.json")), what="the export")
        (sidecar,) = list(dest.glob("*.json"))
        assert json.loads(sidecar.read_text())["starred"] is True
        assert sidecar.name.removesuffix(".json") in {p.name for p in dest.iterdir()}
