"""The composer's Wan 2.7 fields, its cost estimate and its several prompts, driven by the keyboard against the
real engine and simulator: every wan2.7 mode composes, validates, submits and finishes; the estimate follows n,
duration and resolution; three lines times two values of a variable queue six jobs as one batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Static, TextArea

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.widgets.composer_fields import FieldRow
from tests.core.clips import make_mp4, make_wav
from tests.tui.conftest import (
    SIZE,
    choose,
    focus,
    main_screen,
    paste,
    type_text,
    typist,
    validated,
    wait_terminal,
    wait_until,
)
from tests.tui.test_composer import open_composer

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: every Wan 2.7 mode of the composer, driven key by key

URL = "https://example.com/cat.png"
PALETTE = "#C2D1E6 40%, #2B3A55 35%, #F2A541 25%"


@dataclass
class Case:
    mode: Mode
    model: str
    prompt: str
    pastes: dict[str, str] = field(default_factory=dict)  # field id -> text ("png", "wav", "mp4": a real local file)
    choices: dict[str, str] = field(default_factory=dict)  # select id -> value
    ticks: list[str] = field(default_factory=list)  # check boxes to toggle
    sent: dict[str, object] = field(default_factory=dict)  # what the stored request must hold


CASES = [
    Case(
        Mode.T2I,
        "wan2.7-image-pro",
        "a lighthouse poster",
        pastes={"f-color_palette": PALETTE},
        choices={"f-size": "4K"},
        ticks=["f-thinking_mode"],
        sent={"size": "4K", "thinking_mode": False, "color_palette": [{"hex": "#C2D1E6", "ratio": "40.00%"}]},
    ),
    Case(
        Mode.T2I,
        "wan2.7-image",
        "four seasons of one tree",
        ticks=["f-enable_sequential"],
        choices={"f-n": "6"},  # beyond 4: only an image set allows it
        sent={"enable_sequential": True, "n": 6},
    ),
    Case(
        Mode.EDIT,
        "wan2.7-image-pro",
        "put the hat from image 2 on the cat",
        pastes={"f-image_1": "png", "f-image_2": URL, "f-bbox_list": "10,10,200,200 | 0,0,60,60"},
        sent={"bbox_list": [[[10, 10, 200, 200]], [[0, 0, 60, 60]]]},
    ),
    Case(Mode.EDIT, "wan2.7-image", "make it a watercolour", pastes={"f-image_1": URL}),
    Case(
        Mode.T2V,
        "wan2.7-t2v",
        "a paper boat on a rainy street",
        choices={"f-ratio": "9:16", "f-resolution": "720P", "f-duration": "3"},
        sent={"ratio": "9:16", "resolution": "720P", "duration": 3},
    ),
    Case(
        Mode.I2V,
        "wan2.7-i2v",
        "the cat sings",
        pastes={"f-media_first_frame": "png", "f-media_driving_audio": "wav"},
        sent={"media": ["first_frame", "driving_audio"]},
    ),
    Case(
        Mode.I2V,
        "wan2.7-i2v",
        "the clip goes on to a sunset",
        pastes={"f-media_first_clip": "mp4", "f-media_last_frame": URL},
        choices={"f-duration": "4"},
        sent={"media": ["first_clip", "last_frame"], "duration": 4},
    ),
]


def ready(composer: ComposerScreen) -> bool:
    return "ready to submit" in str(composer.query_one("#composer-summary", Static).render())


def cost(composer: ComposerScreen) -> str:
    return str(composer.query_one("#composer-cost", Static).render())


@pytest.mark.slow
async def test_every_wan27_mode_composes_submits_and_finishes(
    app: QwenApp, context: Context, png: Path, tmp_path: Path
) -> None:
    files = {
        "png": str(png),
        "wav": str(make_wav(tmp_path / "song.wav", 4)),
        "mp4": str(make_mp4(tmp_path / "c.mp4", 3)),
    }
    async with app.run_test(size=SIZE) as pilot:
        submitted: dict[int, int] = {}
        for index, case in enumerate(CASES):
            composer = await open_composer(app, pilot)
            if composer.mode is not case.mode:
                await choose(pilot, "pick-mode", case.mode.value)
            await choose(pilot, "pick-model", case.model)
            assert composer.form.row.model == case.model
            await focus(pilot, "f-prompt")
            await type_text(pilot, case.prompt[:3])
            await paste(pilot, case.prompt[3:])
            for box in case.ticks:
                await focus(pilot, box)
                await pilot.press("space")
            for select, value in case.choices.items():
                await choose(pilot, select, value)
            for input_id, text in case.pastes.items():
                await focus(pilot, input_id)
                await paste(pilot, files.get(text, text))
            await wait_until(pilot, lambda: ready(composer), what=f"{case.model} ({case.mode.value}) to validate")  # noqa: B023
            assert cost(composer).startswith("est. ") and "prices as of" in cost(composer)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the composer to close")
            [job] = await context.store.list_jobs(limit=1)
            assert (job.mode, job.model, job.prompt) == (case.mode, case.model, case.prompt)
            for key, expected in case.sent.items():
                if key == "media":
                    assert [item["type"] for item in job.request["media"]] == expected
                elif key == "color_palette":
                    assert job.request[key][:1] == expected
                else:
                    assert job.request.get(key) == expected, (case.model, key, job.request)
            submitted[index] = job.id

        screen = main_screen(app)
        for index, job_id in submitted.items():
            finished = await wait_terminal(pilot, context.store, job_id)
            assert finished.state is JobState.DONE, (CASES[index].model, finished.error_message)
            await wait_until(
                pilot,
                lambda: screen.table.jobs[job_id].state is JobState.DONE,  # noqa: B023
                what=f"the {CASES[index].model} row to say done",
            )


async def test_duplicating_a_wan27_job_keeps_its_media_and_ratio(app: QwenApp, context: Context) -> None:
    clip = GenerationRequest(
        mode=Mode.I2V,
        model="wan2.7-i2v",
        prompt="on and on",
        resolution="720P",
        media=[
            {"type": "first_clip", "url": "https://example.com/clip.mp4"},
            {"type": "last_frame", "url": "https://example.com/end.png"},
        ],
    )
    wide = GenerationRequest(mode=Mode.T2V, model="wan2.7-t2v", prompt="tall rain", ratio="9:16", duration=7)
    story = GenerationRequest(mode=Mode.T2I, model="wan2.7-image", prompt="a story", enable_sequential=True, n=8)
    for request in (clip, wide, story):
        await context.engine.add(request)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
        screen = main_screen(app)
        await wait_until(pilot, lambda: len(screen.table.jobs) == 3, what="the jobs in the table")
        await focus(pilot, "jobs")
        await pilot.press("g")  # the newest first
        await pilot.press("n")  # a composer left with several prompts on: a duplicate is one job again
        await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
        await pilot.press("f5", "escape")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "DraftChoice", what="keep the draft?")
        await pilot.press("d")  # discard: the form keeps its switches until the next job is loaded
        await wait_until(pilot, lambda: app.screen is screen, what="back in the table")
        for request in (story, wide, clip):
            await pilot.press("d")
            await wait_until(pilot, lambda: isinstance(app.screen, ComposerScreen), what="the composer")
            composer = app.screen
            assert isinstance(composer, ComposerScreen)
            await validated(pilot, composer)
            again, problems = composer.current()
            assert problems == []
            assert again.to_dict() == request.to_dict()
            values = composer.form.values()
            assert not composer.form.several_prompts and not composer.query_one("#row-variables").display
            if request is story:
                assert values["n"] == "8" and values["enable_sequential"] is True
            elif request is clip:
                assert values["media_first_clip"] == "https://example.com/clip.mp4"
                assert values["media_last_frame"] == "https://example.com/end.png"
            else:
                assert values["ratio"] == "9:16"
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen, what="back in the table")
            await pilot.press("j")


async def test_the_estimate_follows_n_duration_and_resolution(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await choose(pilot, "pick-model", "wan2.7-image")
        await focus(pilot, "f-prompt")
        await type_text(pilot, "a cat")

        async def shows(expected: str) -> None:
            await wait_until(
                pilot, lambda: cost(composer).startswith(expected), what=f"{expected!r}, not {cost(composer)!r}"
            )

        await shows("est. 0.03 USD · 1 image x 0.03 USD · prices as of")
        await choose(pilot, "f-n", "3")
        await shows("est. 0.09 USD · 3 images x 0.03 USD")
        await choose(pilot, "pick-mode", Mode.T2V.value)
        await choose(pilot, "pick-model", "wan2.7-t2v")
        await shows("est. 0.75 USD · 5 s x 0.15 USD/s (wan2.7-t2v 1080P)")
        await choose(pilot, "f-duration", "10")
        await shows("est. 1.50 USD · 10 s x 0.15 USD/s")
        await choose(pilot, "f-resolution", "720P")
        await shows("est. 1.00 USD · 10 s x 0.10 USD/s (wan2.7-t2v 720P)")


async def test_three_lines_and_a_variable_of_two_values_queue_six_jobs_as_one_batch(
    app: QwenApp, context: Context
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await pilot.press("f5")
        await paste(pilot, "a {subject} in the rain\n\na {subject} asleep\n# a comment, skipped\na {subject} at sea")
        variables = composer.query_one("#row-variables", FieldRow)
        assert variables.display
        await focus(pilot, "f-variables")
        await paste(pilot, "subject=cat, dog")
        await wait_until(
            pilot, lambda: cost(composer).startswith("6 jobs, est. "), what=f"6 jobs, not {cost(composer)!r}"
        )
        assert "prices as of" in cost(composer)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, ComposerScreen), what="the composer to close")
        jobs = await context.store.list_jobs()
        assert sorted(job.prompt for job in jobs) == sorted(
            f"a {s} {what}" for s in ("cat", "dog") for what in ("in the rain", "asleep", "at sea")
        )
        assert len({job.batch_id for job in jobs}) == 1 and jobs[0].batch_id is not None


async def test_a_bad_line_names_its_line_and_sends_nothing(app: QwenApp, context: Context) -> None:
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await pilot.press("f5")
        await paste(pilot, "a {subject}\na {mood} dog")
        await focus(pilot, "f-variables")
        await paste(pilot, "subject=cat,dog")
        prompt_row = composer.query_one("#row-prompt", FieldRow)
        await wait_until(pilot, lambda: prompt_row.has_class("-invalid"), what="the prompt to be marked")
        assert "line 2: {mood} has no values" in str(prompt_row.problem)
        await pilot.press("ctrl+s")  # the submit's validation runs in the key's handler: done when press returns
        assert app.screen is composer
        assert await context.store.list_jobs() == []


@pytest.mark.parametrize("deliver", ["press", "burst"])
async def test_keys_typed_after_toggling_several_prompts_land(app: QwenApp, context: Context, deliver: str) -> None:
    """F5 (and the check box) only show and hide fields: every key typed right after lands in the prompt."""
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        prompt = composer.query_one("#f-prompt", TextArea)
        variables = composer.query_one("#row-variables", FieldRow)
        keys = ["a", "b", "f5", "c", "d", "f5", "e", "f5", "f"]
        if deliver == "press":
            await pilot.press(*keys)
        else:
            await typist(pilot, *keys, gap=0)  # all in one read, as a fast typist or tmux send-keys delivers them
        await wait_until(
            pilot, lambda: prompt.text == "abcdef", timeout=5, what=f"the typed prompt, not {prompt.text!r}"
        )
        assert app.focused is prompt
        assert composer.query_one("#f-batch", Checkbox).value and variables.display  # on, off, on
        # the check box does the same: off with space on it, and back to the prompt
        await pilot.press("tab", "space", "shift+tab", "g")
        await wait_until(pilot, lambda: prompt.text == "abcdefg", what=f"the last key, not {prompt.text!r}")
        assert not composer.query_one("#f-batch", Checkbox).value and not variables.display


async def test_f4_on_a_media_slot_starts_in_the_output_folder(app: QwenApp, context: Context) -> None:
    """A clip to continue is most often a result: the file picker opens where results are saved."""
    from qwentui.tui.screens.pickers import FilePicker

    output = context.paths.output
    output.mkdir(parents=True, exist_ok=True)
    make_mp4(output / "7_1.mp4", 3)
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await choose(pilot, "pick-mode", Mode.I2V.value)
        await choose(pilot, "pick-model", "wan2.7-i2v")
        await focus(pilot, "f-media_first_clip")
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, FilePicker), what="the file picker")
        assert isinstance(app.screen, FilePicker) and app.screen.folder == output
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
        assert composer.form.values()["media_first_clip"] == ""
