"""The gallery at 10,000 results: how long it takes to open, to scroll a page, and how often thumbnails come
from the disk cache.

    python3 dev.py bench bench/gallery.py              # 3 fresh processes, medians printed
    python3 dev.py bench bench/gallery.py --runs 5

Each run is a fresh process driving the app headless (`App.run_test()` at 160x48) over a store of 10,000
finished results, the newest 300 with a real picture each (300 different PNGs, so the cache cannot share
them). Times run from the key until the screen has been refreshed with the outcome:

* open (cold): `v` on the main screen until the grid shows the first page and every cell on screen has its
  thumbnail, with an empty thumbnail cache (decoded from the PNGs);
* open (warm): the same after `escape`, with the thumbnails on disk (a fresh gallery: its memory is empty);
* page: `pagedown` until the cursor's cell is drawn, 40 times (pages are read as the end nears), and until
  every cell on screen has its picture (the next key waits for that);
* end: `G` (last loaded result) 10 times, reading a page of 300 each time.
The hit rate is that of the warm open (thumbnails on screen found on disk; the cold open is left to fetch the next
screen ahead before `escape`, as a user's would be) and of the whole run.
Medians per run, then the median of the runs; results/gallery.json, with wall and process CPU times.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_KEY, fmt, main_in_processes

RESULTS = 10_000
PICTURES = 300
PAGES = int(__import__("os").environ.get("GALLERY_PAGES", "40"))
ENDS = 10


def now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(t0: tuple[float, float]) -> tuple[float, float]:
    return (time.perf_counter() - t0[0]) * 1000, (time.process_time() - t0[1]) * 1000


async def worker() -> dict[str, Any]:
    from PIL import Image

    from qwentui.core.api import DashScopeClient
    from qwentui.core.config import ApiKey, Paths
    from qwentui.core.engine import Engine, EngineConfig
    from qwentui.core.states import JobState
    from qwentui.core.store import Store
    from qwentui.runtime import Context
    from qwentui.tui.app import QwenApp
    from qwentui.tui.image_backend import HALFBLOCK
    from qwentui.tui.screens.gallery import GalleryScreen

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qwentui-bench-gallery-") as tmpdir:
        tmp = Path(tmpdir)
        store = await Store.open(tmp / "jobs.db")
        request = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "x"}
        await store.bulk_insert_jobs(
            {"request": request, "prompt": f"result {i}", "state": JobState.DONE} for i in range(RESULTS)
        )
        for k in range(PICTURES):
            path = tmp / f"p{k}.png"
            Image.new("RGB", (768, 512), ((k * 7) % 256, (k * 13) % 256, (k * 29) % 256)).save(path)
            await store.add_asset(RESULTS - k, 1, "image", path=path, size=path.stat().st_size)
        client = DashScopeClient(ApiKey(BENCH_KEY, "bench"), "http://127.0.0.1:9/api/v1")
        engine = Engine(store, client, EngineConfig(output_dir=tmp / "out"))
        paths = Paths(db=tmp / "jobs.db", output=tmp / "out", drop=tmp / "drop", settings=tmp / "settings.toml")
        app = QwenApp(context=Context(paths, store, client, engine, demo=False, endpoint="bench"), backend=HALFBLOCK)
        app.animation_level = "none"
        async with app.run_test(size=(160, 48)) as pilot:

            async def until(check: Any) -> None:
                while not check():
                    await asyncio.sleep(0.001)
                await pilot.pause()

            await until(lambda: app.screen.__class__.__name__ == "MainScreen")

            def thumbs_on_screen() -> bool:
                screen = app.screen
                return isinstance(screen, GalleryScreen) and screen.grid.thumbs_shown

            opens = []
            caches = []
            for _ in range(2):
                t0 = now()
                await pilot.press("v")
                await until(thumbs_on_screen)
                opens.append(since(t0))
                gallery = app.screen
                assert isinstance(gallery, GalleryScreen)
                caches.append((gallery.cache.hits, gallery.cache.misses))
                await until(lambda: not gallery.thumbs_loading)  # noqa: B023  (the next screen, fetched ahead)
                await pilot.press("escape")
                await until(lambda: app.screen.__class__.__name__ == "MainScreen")
            await pilot.press("v")
            await until(thumbs_on_screen)
            gallery = app.screen
            assert isinstance(gallery, GalleryScreen)
            grid = gallery.grid
            pages = []
            shown = []
            for _ in range(PAGES):
                before = grid.cursor
                t0 = now()
                await pilot.press("pagedown")
                await until(lambda: grid.cursor != before)  # noqa: B023
                pages.append(since(t0))
                await until(lambda: grid.thumbs_shown)
                shown.append(since(t0))
            ends = []
            for _ in range(ENDS):
                loaded = len(grid.jobs)
                t0 = now()
                await pilot.press("G")
                await until(lambda: len(grid.jobs) > loaded)  # noqa: B023
                ends.append(since(t0))
            result = {
                "open_cold_ms": opens[0][0],
                "open_cold_cpu_ms": opens[0][1],
                "open_warm_ms": opens[1][0],
                "open_warm_cpu_ms": opens[1][1],
                "page_ms": statistics.median(p[0] for p in pages),
                "page_cpu_ms": statistics.median(p[1] for p in pages),
                "page_max_ms": max(p[0] for p in pages),
                "page_shown_ms": statistics.median(p[0] for p in shown),
                "page_shown_cpu_ms": statistics.median(p[1] for p in shown),
                "end_ms": statistics.median(e[0] for e in ends),
                "loaded": len(grid.jobs),
                "cells_built": len(grid.built_ids),
                "warm_hit_rate": caches[1][0] / max(1, sum(caches[1])),
                "cold_misses": caches[0][1],
                "run_hit_rate": gallery.cache.hit_rate,
            }
        await store.close()
        await client.aclose()
    return result


def line(r: dict[str, Any]) -> str:
    return (
        f"open {fmt(r['open_cold_ms'], 0)} ms cold (CPU {fmt(r['open_cold_cpu_ms'], 0)}), "
        f"{fmt(r['open_warm_ms'], 0)} ms warm (CPU {fmt(r['open_warm_cpu_ms'], 0)}); "
        f"page {fmt(r['page_ms'], 1)} ms (CPU {fmt(r['page_cpu_ms'], 1)}, max {fmt(r['page_max_ms'], 0)}), "
        f"its pictures shown {fmt(r['page_shown_ms'], 1)} ms (CPU {fmt(r['page_shown_cpu_ms'], 1)}); "
        f"end+page read {fmt(r['end_ms'], 1)} ms; warm hit rate {fmt(r['warm_hit_rate'], 2)}; "
        f"cells built {fmt(r['cells_built'], 0)} of {fmt(r['loaded'], 0)} loaded"
    )


def main() -> int:
    return main_in_processes(__doc__, Path(__file__), "gallery", worker, line, timeout=600)


if __name__ == "__main__":
    raise SystemExit(main())
