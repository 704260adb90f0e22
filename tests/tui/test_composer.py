"""The composer, driven by the keyboard against the real engine and simulator: one job of every mode goes from
the form to the table to a finished result in the preview; bad input shows its message and sends nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DirectoryTree, Static, TextArea
from textual.widgets._footer import FooterKey

from qwentui.core.catalog import DEFAULT_MODEL, Mode
from qwentui.core.states import JobState
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.widgets.composer_fields import FieldRow
from qwentui.tui.widgets.image_view import HalfBlockImage
from qwentui.tui.widgets.key_bar import KeyBar
from tests.tui.conftest import (
    SIZE,
    choose,
    focus,
    keys_for,
    main_screen,
    paste,
    type_text,
    typist,
    validated,
    wait_terminal,
    wait_until,
)

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: every mode and field of the composer, driven key by key

URL = "https://example.com/cat.png"
URL2 = "https://example.com/dog.png"

# mode -> (prompt, images to type in order: a URL, or "png" for a real local 512x512 file; VACE function)
CASES: dict[Mode, tuple[str, list[str], str | None]] = {
    Mode.T2I: ("a red fox in snow", [], None),
    Mode.EDIT: ("make it a watercolour", [URL], None),
    Mode.INTERLEAVE: ("a pancake recipe in three steps", [], None),
    Mode.I2I: ("the same scene at night", ["png"], None),
    Mode.T2V: ("a paper boat on a rainy street", [], None),
    Mode.I2V: ("the cat turns its head", ["png"], None),
    Mode.KF2V: ("from day to night", [URL, URL2], None),
    Mode.R2V: ("the character waves", [URL], None),
    Mode.VACE: ("the figure dances", [URL], "image_reference"),
}


async def open_composer(app: QwenApp, pilot: object) -> ComposerScreen:
    await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")  # type: ignore[arg-type]
    await pilot.press("n")  # type: ignore[attr-defined]
    await wait_until(
        pilot,  # type: ignore[arg-type]
        lambda: isinstance(app.screen, ComposerScreen) and app.screen.is_mounted,  # pushed, then mounted
        what="the composer",
    )
    assert isinstance(app.screen, ComposerScreen)
    return app.screen


@pytest.mark.slow
async def test_every_mode_composes_submits_and_finishes(app: QwenApp, context: Context, png: Path) -> None:
    """One app session: a job of each mode through the composer, then each one's result in the preview."""
    async with app.run_test(size=SIZE) as pilot:
        submitted: dict[Mode, int] = {}
        for mode, (prompt, images, function) in CASES.items():
            composer = await open_composer(app, pilot)
            if mode is not Mode.T2I:
                await choose(pilot, "pick-mode", mode.value)
            assert composer.form.row.model == DEFAULT_MODEL[mode]  # the mode's default model was picked
            if function:
                await choose(pilot, "f-function", function)
            await focus(pilot, "f-prompt")
            await type_text(pilot, prompt[:5])  # typed key by key, the rest pasted
            await paste(pilot, prompt[5:])
            for slot, image in enumerate(images, start=1):
                await focus(pilot, f"f-image_{slot}")
                await paste(pilot, str(png) if image == "png" else image)
            await validated(pilot, composer)
            assert composer.current()[1] == [], composer.current()[1]
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the composer to close")
            [job] = await context.store.list_jobs(limit=1)
            assert (job.mode, job.model, job.prompt) == (mode, DEFAULT_MODEL[mode], prompt)
            submitted[mode] = job.id

        screen = main_screen(app)
        for mode, job_id in submitted.items():
            finished = await wait_terminal(pilot, context.store, job_id)
            assert finished.state is JobState.DONE, (mode, finished.error_message)
            await wait_until(
                pilot,
                lambda: screen.table.jobs[job_id].state is JobState.DONE,  # noqa: B023
                what=f"the {mode.value} row to say done",
            )
        # walk the table with the keyboard: every job's preview shows its result
        await focus(pilot, "jobs")
        await pilot.press("g")
        for mode in reversed(CASES):  # newest first
            job_id = submitted[mode]
            assert screen.table.selected_id == job_id
            await wait_until(
                pilot,
                lambda: (
                    screen.preview.job is not None
                    and screen.preview.job.id == job_id  # noqa: B023
                    and bool(screen.preview.query(HalfBlockImage))
                ),
                what=f"the {mode.value} picture",
            )
            if mode is Mode.INTERLEAVE:
                await wait_until(pilot, lambda: bool(screen.preview.query(".interleave-text")), what="its text parts")
            await pilot.press("j")


async def test_bad_input_shows_the_catalog_message_and_sends_nothing(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await pilot.press("ctrl+s")  # empty prompt: refused
        await validated(pilot, composer)
        assert isinstance(app.screen, ComposerScreen)
        prompt_row = composer.query_one("#row-prompt", FieldRow)
        assert prompt_row.has_class("-invalid")
        assert "is required" in str(prompt_row.problem)

        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: composer.size.width == 80, what="the composer at 80 columns")
        await pilot.pause()
        keys = app.screen.query_one(KeyBar)
        pinned = keys.query_one("#pinned-keys").region
        shown = [key for key in keys.query(FooterKey) if key.region.x < pinned.x]
        assert [key.description for key in shown] == ["Submit", "JSON", "File", "Restore", "Batch"]
        for key in shown:  # each whole, left of the keys pinned at the right edge (^o was cut to its key)
            assert key.region.right <= pinned.x and key.region.width >= len(f"{key.key_display} {key.description}")

        def drawn() -> list[str]:  # the row draws its words
            return [prompt_row.render_line(y).text for y in range(prompt_row.size.height)]

        # under the field, indented past the label, wrapped to the form's width once its resize reaches the row
        # (the JSON view beside it keeps 45 % of the 80 columns)
        await wait_until(pilot, lambda: [line.strip() for line in drawn()[5:7]] == ["is required for", "wan2.6-t2i"])
        assert drawn()[1].strip() == "prompt" and drawn()[5].startswith(" " * 18 + "is required for")
        await pilot.resize_terminal(*SIZE)

        await type_text(pilot, "a cat")
        await focus(pilot, "f-size_custom")
        await type_text(pilot, "100*100")
        await validated(pilot, composer)
        size_row = composer.query_one("#row-size_custom", FieldRow)
        assert size_row.has_class("-invalid")
        assert "total pixels must be between" in str(size_row.problem)
        assert not composer.query_one("#row-prompt", FieldRow).has_class("-invalid")
        await pilot.press("ctrl+s")
        await validated(pilot, composer)
        assert isinstance(app.screen, ComposerScreen)
        assert app.focused is not None and app.focused.id == "f-size_custom"  # focus went to the bad field
        assert await context.store.list_jobs() == []  # nothing was sent, nothing queued

        await pilot.press(*["backspace"] * 7)
        await type_text(pilot, "1300*1300")
        await validated(pilot, composer)
        assert not size_row.has_class("-invalid")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, ComposerScreen), what="the composer to close")
        [job] = await context.store.list_jobs()
        assert job.request["size"] == "1300*1300"


async def test_missing_local_file_and_json_view(app: QwenApp, context: Context, png: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await choose(pilot, "pick-mode", Mode.I2V.value)
        await focus(pilot, "f-image_1")
        await paste(pilot, "/no/such/picture.png")
        await validated(pilot, composer)
        row = composer.query_one("#row-image_1", FieldRow)
        assert "is not a file or a URL" in str(row.problem)
        await pilot.press("ctrl+u")  # clear the input (readline's kill-line)
        await paste(pilot, str(png))
        await validated(pilot, composer)
        assert not row.has_class("-invalid")
        json_text = str(composer.query_one("#composer-json", Static).render())
        assert '"img_url"' in json_text and str(png) in json_text  # build(req).body, with the local path
        assert "uploaded first" in json_text
        assert '"model": "wan2.6-i2v-flash"' in json_text


async def test_recent_prompts_are_recalled(app: QwenApp, context: Context) -> None:
    from qwentui.core.requests import GenerationRequest

    await context.engine.add(GenerationRequest(mode=Mode.T2I, prompt="an old prompt worth keeping"))
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "PromptPicker", what="the prompt list")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
        assert composer.query_one("#f-prompt", TextArea).text == "an old prompt worth keeping"


async def test_the_mode_list_offers_only_what_the_service_generates(app: QwenApp, context: Context) -> None:
    from textual.widgets import Select

    from qwentui.core.catalog import LOCAL_MODES

    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        offered = [v for _, v in composer.query_one("#pick-mode", Select)._options]
        assert offered == [m.value for m in Mode if m not in LOCAL_MODES]  # no assembled film: no model makes one


async def test_changing_model_keeps_what_was_typed(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await type_text(pilot, "kept prompt")
        await choose(pilot, "pick-model", "qwen-image-plus")
        await validated(pilot, composer)
        assert composer.form.row.model == "qwen-image-plus"
        assert composer.query_one("#f-prompt", TextArea).text == "kept prompt"
        assert not composer.query_one("#row-n").display  # qwen-image-plus makes one image: no n field shown


async def test_file_picker_and_path_completion(
    app: QwenApp, context: Context, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwentui.tui.widgets.composer_fields import PathSuggester

    assert await PathSuggester().get_suggestion(str(png.parent / "inp")) == str(png)
    assert await PathSuggester().get_suggestion("https://example.com/a") is None
    monkeypatch.chdir(png.parent)  # the picker opens in the current folder when the field is empty
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await choose(pilot, "pick-mode", Mode.I2V.value)
        await focus(pilot, "f-image_1")
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "FilePicker", what="the file picker")
        tree = app.screen.query_one(DirectoryTree)
        await wait_until(pilot, lambda: bool(tree.root.children), what="the folder listing")
        names = [child.data.path.name for child in tree.root.children if child.data is not None]
        assert "input.png" in names
        await pilot.press(*["down"] * (names.index("input.png") + 1), "enter")
        await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
        assert composer.form.values()["image_1"] == str(png)


async def open_select(pilot: Pilot[None], widget_id: str, value: str) -> list[str]:
    """Focus a Select and open its list; returns the keys that pick `value` in it (arrows, then enter)."""
    from textual.widgets import Select

    await focus(pilot, widget_id)
    select = pilot.app.screen.query_one(f"#{widget_id}", Select)
    values = [v for _, v in select._options]
    current, target = values.index(select.value), values.index(value)
    await pilot.press("enter")
    return ["down" if target > current else "up"] * abs(target - current) + ["enter"]


@pytest.mark.parametrize("deliver", ["press", "typist", "burst"])
@pytest.mark.parametrize(("picker", "value"), [("pick-mode", "i2v"), ("pick-model", "qwen-image-plus")])
async def test_keys_typed_right_after_a_mode_or_model_change_all_land(
    app: QwenApp, context: Context, deliver: str, picker: str, value: str
) -> None:
    """Pick a mode (or model), then at once Tab Tab and type: every key lands, in order, in the prompt."""
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        keys = await open_select(pilot, picker, value)
        # from the mode list, tab tab reaches the prompt; from the model list, one tab does
        tabs = ["tab", "tab"] if picker == "pick-mode" else ["tab"]
        keys += tabs + keys_for("a quick fox")
        if deliver == "press":
            await pilot.press(*keys)
        else:
            await typist(pilot, *keys, gap=20 if deliver == "typist" else 0)  # burst: all in one read
        prompt = composer.query_one("#f-prompt", TextArea)
        await wait_until(
            pilot, lambda: prompt.text == "a quick fox", timeout=5, what=f"the typed prompt, not {prompt.text!r}"
        )
        assert composer.query_one(f"#{picker}").value == value  # type: ignore[attr-defined]
        assert app.focused is composer.query_one("#f-prompt")
        assert composer.form.values().get("negative_prompt", "") == ""


async def test_reopened_composer_has_the_prompt_focused(app: QwenApp, context: Context) -> None:
    """Shown again after the focus was elsewhere (seed), the composer puts it back in the prompt: keys typed
    right after `n` land there, not in the field last used."""
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await focus(pilot, "f-seed")
        await pilot.press("escape")  # nothing typed: closes at once
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is composer, what="the composer again")
        await type_text(pilot, "abc")
        prompt = composer.query_one("#f-prompt", TextArea)
        await wait_until(pilot, lambda: prompt.text == "abc", what=f"the prompt to hold abc, not {prompt.text!r}")
        assert app.focused is prompt


async def test_submit_sends_the_form_as_it_is_when_an_edit_starts_a_newer_validation(
    app: QwenApp, context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+s validates the form before sending. An edit that lands meanwhile starts a newer validation, which
    drops the submit's result: the submit then validates again and sends the form with the edit, not the
    request validated before it (an image set's n picked just before ctrl+s was once sent without its n)."""
    import asyncio
    import threading

    from textual.widgets import Input

    from qwentui.tui.screens import composer as composer_module

    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await type_text(pilot, "a fox")
        await wait_until(
            pilot,
            lambda: "ready to submit" in str(composer.query_one("#composer-summary", Static).render()),
            what="ready",
        )
        gates = [threading.Event(), threading.Event()]
        calls: list[object] = []
        real = composer_module.validate

        def held(request: object) -> object:
            index = len(calls)
            calls.append(request)
            if index < len(gates):
                gates[index].wait(10)  # the submit's validation, then the edit's, held in their threads
            return real(request)  # type: ignore[arg-type]

        monkeypatch.setattr(composer_module, "validate", held)
        submit = asyncio.create_task(composer.action_submit())
        await wait_until(pilot, lambda: len(calls) == 1, what="the submit's validation")
        composer.query_one("#f-seed", Input).value = "42"  # the edit: its validation starts after the debounce
        await wait_until(pilot, lambda: len(calls) == 2, what="the edit's validation")
        gates[0].set()  # the submit's validation ends first, already superseded
        await wait_until(pilot, lambda: len(calls) == 3 or submit.done(), what="the submit to validate again")
        gates[1].set()
        await submit
        [job] = await context.store.list_jobs(limit=1)
        assert job.prompt == "a fox" and job.request.get("seed") == 42
