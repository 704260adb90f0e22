from __future__ import annotations
import time
from tests.tui.conftest import SIZE, focus, type_text, wait_until, choose
from tests.tui.test_composer import open_composer

async def test_prof(app, context):
    async with app.run_test(size=SIZE) as pilot:
        t = time.time()
        composer = await open_composer(app, pilot)
        print("open", time.time() - t); t = time.time()
        await type_text(pilot, "abcdefghijklmnopqrst")
        print("type20", time.time() - t); t = time.time()
        await focus(pilot, "f-seed")
        print("focus seed", time.time() - t); t = time.time()
        await choose(pilot, "pick-mode", "i2v")
        print("choose", time.time() - t); t = time.time()
