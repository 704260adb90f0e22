"""Culling and building on results from the keyboard: ratings and stars kept in the database (they survive a
restart), the marks filter, lineage in the details, a job's family in the table, extend into the composer
(the new job's lineage is the source), assemble a chain into a film job, export with sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
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
from qwentui.tui.screens.result_dialogs import AssembleDialog, ExtendChoice, PathPrompt
from tests.core.clips import make_wav
from tests.core.test_assemble import decode_all, make_clip
from tests.tui.conftest import choose, main_screen, wait_until

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


async def extend_in_the_composer(
    pilot: Pilot[None], app: QwenApp, source_id: int, choice: str, model: str
) -> GenerationRequest:
    """e on the source, the choice (l: last frame, c: continue the clip), then the composer's request (for
    `model`: the composer is kept between uses, and holds the last request until the new one is checked) sent."""
    screen = main_screen(app)
    screen.table.select_job(source_id)
    await pilot.press("e")
    await wait_until(pilot, lambda: isinstance(app.screen, ExtendChoice), what="the extend choice")
    await pilot.press(choice)
    await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
    composer = app.screen
    assert isinstance(composer, ComposerScreen)
    # the form is filled and checked once it has laid out (ctrl+s before that finds no request yet)
    await wait_until(
        pilot,
        lambda: composer._request is not None and composer._request.model == model,
        what=f"the request for {model} checked",
    )
    request = composer._request
    assert request is not None
    await pilot.press("ctrl+s")
    said = composer.query_one("#composer-summary")
    await wait_until(pilot, lambda: app.screen is screen, what=f"the main screen again ({said.render()})")
    return request


async def test_extend_from_the_last_frame_or_by_continuing_the_clip(
    app: QwenApp, context: Context, tmp_path: Path
) -> None:
    store = context.store
    source = await store.add_job({**T2V, "prompt": "waves at dusk"}, state=JobState.DONE)
    clip = str(make_clip(tmp_path / "waves.mp4", 30, (640, 480), fps=10))  # 3 s: wan2.7-i2v continues 2-10 s
    await store.add_asset(source.id, 1, "video", path=Path(clip))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)

        async def children(n: int) -> bool:
            return len(await store.children(source.id)) >= n

        # from the last frame: an i2v job of the source's family, its first frame the saved last frame
        await extend_in_the_composer(pilot, app, source.id, "l", "wan2.6-i2v")
        await wait_until(pilot, lambda: children(1), what="the job from the last frame")
        (link,) = await store.children(source.id)
        assert link.relation == "extend"
        new = await store.get_job(link.job_id)
        assert new is not None and new.mode is Mode.I2V and new.prompt == "waves at dusk"
        frames = [*new.request.get("images", []), *(m["url"] for m in new.request.get("media", []))]
        assert any(str(f).endswith(f"{source.id}_last_frame.png") for f in frames)

        # the native continuation: wan2.7-i2v, the source's clip as its first_clip
        request = await extend_in_the_composer(pilot, app, source.id, "c", "wan2.7-i2v")
        assert request.media == [{"type": "first_clip", "url": clip}]
        await wait_until(pilot, lambda: children(2), what="the job continuing the clip")
        continued = [lk for lk in await store.children(source.id) if lk.relation == "continue"]
        assert len(continued) == 1
        sent = await store.get_job(continued[0].job_id)
        assert sent is not None and sent.model == "wan2.7-i2v" and sent.mode is Mode.I2V
        assert sent.request["media"] == [{"type": "first_clip", "url": clip}] and sent.prompt == "waves at dusk"


async def test_assemble_with_a_sound_track_then_export_what_the_filter_shows(
    app: QwenApp, context: Context, tmp_path: Path
) -> None:
    store = context.store
    ids: list[int] = []
    for i in range(3):
        job = await store.add_job(
            T2V, state=JobState.DONE, lineage=[(ids[-1], "extend")] if ids else None, source="extend" if ids else "cli"
        )
        await store.add_asset(job.id, 1, "video", path=make_clip(tmp_path / f"{i}.mp4", 10, fps=10))
        ids.append(job.id)
    still = await store.add_job(T2I, state=JobState.DONE)  # a finished result the filter leaves out
    picture = tmp_path / "still.png"
    Image.new("RGB", (8, 8), "red").save(picture)
    await store.add_asset(still.id, 1, "image", path=picture)
    music = make_wav(tmp_path / "music.wav", 0.7)  # shorter than the film: looped
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot, app)
        screen = main_screen(app)
        screen.table.select_job(ids[-1])
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, AssembleDialog), what="the assemble dialog")
        dialog = app.screen
        dialog.query_one("#assemble-audio", Input).value = str(tmp_path / "nothing.wav")
        await pilot.press("enter")  # a file that is not there: said in the dialog, which stays
        await wait_until(pilot, lambda: "No audio file" in str(dialog.query_one("#assemble-problem").render()))
        assert app.screen is dialog
        dialog.query_one("#assemble-audio", Input).value = str(music)
        dialog.query_one("#assemble-trim", Input).value = "1"
        await pilot.press("enter")

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
        assert film_job.request["audio"] == str(music) and film_job.request["trim_frames"] == 1
        (film,) = [a.path for a in await store.assets(film_job.id)]
        frames, _, sound, _ = decode_all(Path(film or ""))
        assert frames == 3 * (10 - 2)  # a frame trimmed at each end of each clip
        assert sound is not None and abs(sound - frames / 10) <= 0.05  # the track, looped to the film's length

        # filter to the clips (t2v): E says how many, and exports those, each with its sidecar, nothing else
        await wait_until(pilot, lambda: screen.table.row_count == 5, what="the film in the table")
        await choose(pilot, "filter-mode", "t2v")
        await wait_until(pilot, lambda: set(screen.table.row_ids) == set(ids), what="the clips alone")
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, PathPrompt), what="the path question")
        question = str(app.screen.query_one("#path-question").render())
        assert "the 3 finished result(s) shown" in question and "mode t2v" in question
        dest = tmp_path / "exported"
        app.screen.query_one(Input).value = str(dest)
        await pilot.press("enter")
        expected = {f"{i}.mp4" for i in range(3)}
        expected |= {name + ".json" for name in expected}
        await wait_until(
            pilot, lambda: dest.is_dir() and {p.name for p in dest.iterdir()} == expected, what="the export"
        )
        for i, job_id in enumerate(ids):
            side = json.loads((dest / f"{i}.mp4.json").read_text())
            assert side["job_id"] == job_id and side["file"] == f"{i}.mp4"
            assert (dest / f"{i}.mp4").read_bytes() == (tmp_path / f"{i}.mp4").read_bytes()
