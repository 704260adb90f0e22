from __future__ import annotations
import time
from tests.tui.conftest import SIZE, focus, type_text, wait_until, choose, paste, wait_terminal, main_screen
from tests.tui.test_composer import open_composer
from qwentui.tui.widgets.image_view import HalfBlockImage

async def test_prof(app, context):
    async with app.run_test(size=SIZE) as pilot:
        t = time.time()
        def lap(what):
            nonlocal t
            print(what, round(time.time() - t, 2)); t = time.time()
        composer = await open_composer(app, pilot); lap("open")
        await choose(pilot, "pick-mode", "vace"); lap("choose mode")
        await pilot.pause(0.2); lap("pause")
        await choose(pilot, "f-function", "image_reference"); lap("choose fn")
        await focus(pilot, "f-prompt"); lap("focus prompt")
        await paste(pilot, "the figure dances"); lap("paste")
        await focus(pilot, "f-image_1"); lap("focus image")
        await paste(pilot, "https://example.com/a.png"); lap("paste")
        await pilot.pause(0.3)
        await pilot.press("ctrl+s"); lap("submit")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen"); lap("main")
        [job] = await context.store.list_jobs()
        screen = main_screen(app)
        await wait_until(pilot, lambda: job.id in screen.table.jobs); lap("row")
        await wait_terminal(pilot, context.store, job.id); lap("terminal")
        await wait_until(pilot, lambda: bool(screen.preview.query(HalfBlockImage))); lap("preview")
