from __future__ import annotations
import time, asyncio, cProfile, pstats
from tests.tui.conftest import SIZE
from tests.tui.test_composer import open_composer

async def test_prof(app, context):
    async with app.run_test(size=SIZE) as pilot:
        composer = await open_composer(app, pilot)
        await asyncio.sleep(1)
        pr = cProfile.Profile(); pr.enable()
        t = time.time()
        for i in range(10):
            await pilot.press("tab")
        print("10 tabs", time.time() - t)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)
