"""The composer's way back from a file (ctrl+o): a qwentui output fills the whole form from the request that made it,
ready to edit and send; a file qwentui did not make says so in the composer and changes nothing."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual.widgets import DirectoryTree, Select, TextArea

from qwentui.core import provenance
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.screens.composer import ComposerScreen
from qwentui.tui.screens.main import MainScreen
from qwentui.tui.screens.pickers import FilePicker
from tests.core.test_provenance import record as provenance_record
from tests.tui.conftest import focus, type_text, wait_until

# every kind of field a request has: mode and model other than the composer's first, text, numbers, switches, images
ORIGINAL = GenerationRequest(
    mode=Mode.EDIT,
    model="wan2.6-image",
    prompt="make it a watercolour, keep the fox",
    images=["https://example.com/cat.png", "https://example.com/dog.png"],
    negative_prompt="blurry, text",
    size="1280*1280",
    n=2,
    seed=1234,
    prompt_extend=False,
    watermark=True,
)


def tagged_png(path: Path) -> Path:
    """A PNG as qwentui's downloader leaves it: a real image, its request written by `provenance.write`."""
    Image.new("RGB", (64, 64), (200, 80, 40)).save(path)
    record = replace(provenance_record(ORIGINAL), job_id=7, task_id="task-7")  # the record test_provenance writes
    provenance.write(path, record)
    return path


async def pick(app: QwenApp, pilot: Pilot[None], key: str, name: str) -> ComposerScreen:
    """Press `key` in the composer, pick `name` in the picker it opens, and come back to the composer."""
    composer = app.screen
    assert isinstance(composer, ComposerScreen)
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, FilePicker) and app.screen.is_mounted, what="the picker")
    tree = app.screen.query_one(DirectoryTree)
    await wait_until(pilot, lambda: bool(tree.root.children), what="the folder listing")
    names = [child.data.path.name for child in tree.root.children if child.data is not None]
    assert name in names, names
    await pilot.press(*["down"] * (names.index(name) + 1), "enter")
    await wait_until(pilot, lambda: app.screen is composer, what="back in the composer")
    return composer


def said(app: QwenApp, *parts: str) -> bool:
    return any(all(part in n.message for part in parts) for n in app._notifications)


@pytest.mark.slow
async def test_ctrl_o_restores_a_request_from_a_png_and_sends_it_and_refuses_a_foreign_file(
    app: QwenApp, context: Context, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = context.engine.config.output_dir
    output.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(png.parent)  # F4 for an image slot starts in the current folder, ctrl+o in the output folder
    shutil.copy(png, output / "a_foreign.png")  # made by Pillow alone: no record
    tagged_png(output / "b_made.png")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the main screen")
        await pilot.press("n")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ComposerScreen) and app.screen.is_mounted, what="composer"
        )
        composer = app.screen
        assert isinstance(composer, ComposerScreen)
        shown = {(k, b.binding.action) for k, b in composer.active_bindings.items() if b.binding.show}
        assert ("ctrl+o", "restore_request") in shown, " ".join(map(str, sorted(shown)))
        await type_text(pilot, "draft")

        # a foreign file: a clear message in the composer, the form as it was
        await pick(app, pilot, "ctrl+o", "a_foreign.png")
        await wait_until(pilot, lambda: said(app, "Nothing restored", "a_foreign.png", "no qwentui record"), what="why")
        assert composer.mode is Mode.T2I
        assert composer.query_one("#f-prompt", TextArea).text == "draft"

        # a qwentui output: mode, model, prompt and every option, ready to send
        await pick(app, pilot, "ctrl+o", "b_made.png")
        await wait_until(pilot, lambda: composer.mode is Mode.EDIT, what="the restored mode")
        assert composer.query_one("#pick-mode", Select).value == "edit"
        assert composer.query_one("#pick-model", Select).value == "wan2.6-image"
        assert composer.query_one("#f-prompt", TextArea).text == ORIGINAL.prompt
        assert composer.form.values()["image_2"] == ORIGINAL.images[1]
        assert composer.current() == (ORIGINAL, [])
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="the composer to close after sending")
        [job] = await context.store.list_jobs(limit=1)
        assert GenerationRequest.from_dict(job.request) == ORIGINAL

        # the same output picked for an image slot (F4): the composer offers the way back
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is composer, what="the composer again")
        shutil.copy(output / "b_made.png", png.parent / "made.png")
        await focus(pilot, "f-image_1")
        await pick(app, pilot, "f4", "made.png")
        assert composer.form.values()["image_1"] == str(png.parent / "made.png")
        await wait_until(pilot, lambda: said(app, "made.png carries the request", "job 7", "^o"), what="the offer")
