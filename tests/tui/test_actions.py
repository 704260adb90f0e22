"""The composer as the main screen's actions use it, driven by the keyboard against the real engine and simulator:
one composer per app that keeps a draft and reopens in the last mode, esc that asks before throwing typed text
away, a file picker that names and remembers its folder, and animate / duplicate that reuse a result's downloaded
file once its URL is stale (and record which job the new one came from)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DirectoryTree, Label, Static, TextArea

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.runtime import Context
from qwentui.sim import SimConfig
from qwentui.tui.app import QwenApp
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.screens.details import DetailsScreen
from qwentui.tui.screens.main import MainScreen
from qwentui.tui.screens.pickers import DraftChoice, FilePicker
from qwentui.tui.widgets.composer_fields import FieldRow
from tests.tui.conftest import SIZE, choose, focus, main_screen, paste, type_text, wait_terminal, wait_until

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: each job action through the composer to a finished job


async def on_main(app: QwenApp, pilot: object) -> MainScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")  # type: ignore[arg-type]
    return main_screen(app)


async def press_for(app: QwenApp, pilot: object, key: str, screen_type: type, what: str) -> object:
    await pilot.press(key)  # type: ignore[attr-defined]
    # the screen is current as soon as it is pushed; its fields hold what it was given once it is mounted
    await wait_until(
        pilot,  # type: ignore[arg-type]
        lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted,
        what=what,
    )
    return app.screen


def prompt_of(composer: ComposerScreen) -> str:
    return composer.query_one("#f-prompt", TextArea).text


async def test_one_composer_keeps_a_draft_asks_before_discarding_and_reopens_in_the_last_mode(
    app: QwenApp, context: Context
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await on_main(app, pilot)
        composer = await press_for(app, pilot, "n", ComposerScreen, "the composer")
        assert isinstance(composer, ComposerScreen)
        await pilot.press("escape")  # nothing typed: closes at once
        await on_main(app, pilot)

        assert await press_for(app, pilot, "n", ComposerScreen, "the composer again") is composer  # the same one
        await choose(pilot, "pick-mode", Mode.T2V.value)
        await focus(pilot, "f-prompt")
        await type_text(pilot, "a kite")
        await pilot.press("escape")  # typed text: asks
        await wait_until(pilot, lambda: isinstance(app.screen, DraftChoice), what="the draft question")
        await pilot.press("escape")  # keep editing
        await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
        assert prompt_of(composer) == "a kite"
        await type_text(pilot, "s")
        assert prompt_of(composer) == "a kites"  # the focus stayed in the prompt

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DraftChoice), what="the draft question")
        await pilot.press("k")  # keep it for later
        await on_main(app, pilot)
        await press_for(app, pilot, "n", ComposerScreen, "the composer with the kept draft")
        assert prompt_of(composer) == "a kites" and composer.mode is Mode.T2V
        await wait_until(pilot, lambda: app.focused is composer.query_one("#f-prompt"), what="the prompt focused")

        await type_text(pilot, "!")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DraftChoice), what="the draft question")
        await pilot.press("d")  # discard
        await on_main(app, pilot)
        await press_for(app, pilot, "n", ComposerScreen, "an empty composer")
        assert prompt_of(composer) == ""
        assert composer.mode is Mode.T2V  # the last mode used, not t2i
        await type_text(pilot, "a paper kite")
        await pilot.press("ctrl+s")
        await on_main(app, pilot)
        [job] = await context.store.list_jobs(limit=1)
        assert (job.mode, job.prompt, job.source, job.parent_id) == (Mode.T2V, "a paper kite", "tui", None)
        await press_for(app, pilot, "n", ComposerScreen, "the composer after a submit")
        assert prompt_of(composer) == ""  # sent: nothing left over


async def test_file_picker_names_the_folder_it_shows_and_starts_there_next_time(
    app: QwenApp, context: Context, png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pictures = tmp_path / "pictures"
    (pictures / "holiday").mkdir(parents=True)
    png.rename(pictures / "holiday" / "beach.png")
    monkeypatch.chdir(pictures)
    async with app.run_test(size=SIZE) as pilot:
        await on_main(app, pilot)
        composer = await press_for(app, pilot, "n", ComposerScreen, "the composer")
        assert isinstance(composer, ComposerScreen)
        await choose(pilot, "pick-mode", Mode.I2V.value)
        await focus(pilot, "f-image_1")
        picker = await press_for(app, pilot, "f4", FilePicker, "the file picker")
        assert isinstance(picker, FilePicker)
        title = picker.query_one("#picker-title", Label)
        assert str(pictures) in str(title.render())
        tree = picker.query_one(DirectoryTree)
        await wait_until(pilot, lambda: bool(tree.root.children), what="the folder listing")
        await pilot.press("down", "enter")  # into holiday/
        await wait_until(pilot, lambda: "holiday" in str(title.render()), what="the title to follow the folder")
        await pilot.press("escape")  # closed without a pick
        await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
        assert composer.last_folder == pictures / "holiday"

        picker = await press_for(app, pilot, "f4", FilePicker, "the file picker again")
        assert isinstance(picker, FilePicker)
        assert picker.folder == pictures / "holiday"  # where the last one was left
        tree = picker.query_one(DirectoryTree)
        await wait_until(pilot, lambda: bool(tree.root.children), what="the folder listing")
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
        assert composer.form.values()["image_1"] == str(pictures / "holiday" / "beach.png")


async def downloaded(pilot: object, store: Store, job_id: int) -> str:
    found: list[str] = []

    async def check() -> bool:
        found.extend(a.path for a in await store.assets(job_id) if a.path)
        return bool(found)

    await wait_until(pilot, check, what=f"job {job_id}'s file")  # type: ignore[arg-type]
    return found[0]


class TestStaleResultUrls:
    @pytest.fixture
    def sim_config(self) -> SimConfig:
        # result URLs that live 10 s (as `qwentui sim --result-url-ttl 10`): inside the reuse margin at once
        return SimConfig(
            seed=3, pending_seconds=0.2, running_seconds=0.3, public_url="http://sim.local", result_url_ttl=10
        )

    async def test_animate_takes_the_file_of_a_url_about_to_expire_and_says_where_it_came_from(
        self, app: QwenApp, context: Context
    ) -> None:
        async with app.run_test(size=SIZE) as pilot:
            screen = await on_main(app, pilot)
            image = await context.engine.add(GenerationRequest(mode=Mode.T2I, prompt="a small cat"))
            assert (await wait_terminal(pilot, context.store, image.id)).state is JobState.DONE
            path = await downloaded(pilot, context.store, image.id)
            await wait_until(pilot, lambda: screen.table.select_job(image.id), what="the image's row")
            composer = await press_for(app, pilot, "a", ComposerScreen, "the animate composer")
            assert isinstance(composer, ComposerScreen)
            request, problems = composer.current()
            assert request.mode is Mode.I2V and request.images == [path] and problems == []
            await wait_until(
                pilot,
                lambda: "ready to submit" in str(composer.query_one("#composer-summary", Static).render()),
                what="the composer to say ready",
            )
            await paste(pilot, "the cat looks up")
            await pilot.press("ctrl+s")
            await on_main(app, pilot)
            [video] = await context.store.list_jobs(limit=1)
            assert (video.parent_id, video.source) == (image.id, "animate")
            assert (await wait_terminal(pilot, context.store, video.id)).state is JobState.DONE

            await wait_until(pilot, lambda: screen.table.select_job(video.id), what="the video's row")
            details = await press_for(app, pilot, "enter", DetailsScreen, "the details")
            await wait_until(
                pilot,
                lambda: f"animated from job {image.id}" in " ".join(str(s.render()) for s in details.query(Static)),  # type: ignore[attr-defined]
                what="the parent named in the details",
            )

    async def test_a_typed_expired_url_is_not_ready(self, app: QwenApp, context: Context) -> None:
        async with app.run_test(size=SIZE) as pilot:
            await on_main(app, pilot)
            composer = await press_for(app, pilot, "n", ComposerScreen, "the composer")
            assert isinstance(composer, ComposerScreen)
            await choose(pilot, "pick-mode", Mode.I2V.value)
            await focus(pilot, "f-image_1")
            await paste(pilot, "https://sim.local/out/1.png?Expires=1000&OSSAccessKeyId=sim&Signature=x")
            await focus(pilot, "f-prompt")
            await type_text(pilot, "waves")
            await wait_until(
                pilot,
                lambda: "expired at" in str(composer.query_one("#row-image_1", FieldRow).problem),
                what="the expired URL named under its field",
            )
            assert "not ready" in str(composer.query_one("#composer-summary", Static).render())


async def test_duplicate_swaps_a_parents_stale_url_for_its_file(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await on_main(app, pilot)
        image = await context.engine.add(GenerationRequest(mode=Mode.T2I, prompt="a red fox"))
        assert (await wait_terminal(pilot, context.store, image.id)).state is JobState.DONE
        path = await downloaded(pilot, context.store, image.id)
        await wait_until(pilot, lambda: screen.table.select_job(image.id), what="the image's row")
        composer = await press_for(app, pilot, "a", ComposerScreen, "the animate composer")
        assert isinstance(composer, ComposerScreen)
        [url] = composer.current()[0].images
        assert url.startswith("http")  # fresh: the URL itself, no upload needed
        await paste(pilot, ", running")  # after the image's prompt, which animate starts from
        await pilot.press("ctrl+s")
        await on_main(app, pilot)
        [video] = await context.store.list_jobs(limit=1)

        await context.store.update_fields(image.id, results_expire_at=1.0)  # the image's URLs are stale now
        await wait_until(pilot, lambda: screen.table.select_job(video.id), what="the video's row")
        await press_for(app, pilot, "d", ComposerScreen, "the duplicate composer")
        await wait_until(  # the form is filled after the parent's file is looked up for its stale URL
            pilot, lambda: composer.current()[0].prompt == "a red fox, running", what="the duplicate's prompt"
        )
        request, problems = composer.current()
        assert request.images == [path] and problems == []
        await pilot.press("ctrl+s")
        await on_main(app, pilot)
        [dup] = await context.store.list_jobs(limit=1)
        assert (dup.parent_id, dup.source, dup.request["images"]) == (video.id, "duplicate", [path])


async def test_the_composer_shown_again_follows_a_theme_change(app: QwenApp, context: Context) -> None:
    """Showing the composer again skips Textual's restyle of every field unless the theme (or the stylesheet)
    changed while it was hidden: then its colours follow."""
    async with app.run_test(size=SIZE) as pilot:
        await on_main(app, pilot)
        composer = await press_for(app, pilot, "n", ComposerScreen, "the composer")
        assert isinstance(composer, ComposerScreen)
        title = composer.query_one("#composer-title", Static)
        before = title.styles.background
        await pilot.press("escape")
        await on_main(app, pilot)
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await press_for(app, pilot, "n", ComposerScreen, "the composer again")
        await wait_until(pilot, lambda: title.styles.background != before, what="the new theme's colours")
