"""The gallery: a grid of finished results, keyboard navigation, virtualization at 10,000 results, thumbnails
decoded through the disk cache, the table's filters, and the change feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from textual.pilot import Pilot

from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.runtime import Context
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK, ImageBackend
from qwentui.tui.screens.details import DetailsScreen
from qwentui.tui.screens.gallery import GalleryScreen
from qwentui.tui.thumb_cache import ThumbCache, cache_folder
from qwentui.tui.widgets.thumb_grid import CELL_H, CELL_W, thumb_box
from tests.tui.conftest import main_screen, quiet, wait_until

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: ten thousand results in the gallery

T2I = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "x"}


async def finished(store: Store, count: int, prompt: str = "result") -> None:
    rows = [
        {"request": {**T2I, "prompt": f"{prompt} {i}"}, "prompt": f"{prompt} {i}", "state": JobState.DONE}
        for i in range(count)
    ]
    await store.bulk_insert_jobs(rows)


async def open_gallery(pilot: Pilot[None], app: QwenApp) -> GalleryScreen:
    await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
    await pilot.press("v")
    await wait_until(pilot, lambda: isinstance(app.screen, GalleryScreen), what="the gallery")
    gallery = app.screen
    assert isinstance(gallery, GalleryScreen)
    await wait_until(pilot, lambda: bool(gallery.grid.jobs), what="results in the grid")
    return gallery


async def test_ten_thousand_results_build_only_the_cells_on_screen(app: QwenApp, context: Context) -> None:
    await finished(context.store, 10_000)
    async with app.run_test(size=(160, 48)) as pilot:
        gallery = await open_gallery(pilot, app)
        grid = gallery.grid
        await pilot.pause()
        per_screen = grid.columns * (grid.scrollable_content_region.height // CELL_H + 2)
        assert grid.columns == grid.scrollable_content_region.width // CELL_W >= 6
        assert len(grid.jobs) == gallery.page < 10_000  # one page read, not ten thousand jobs
        assert 0 < len(grid.built_ids) <= per_screen
        assert grid.selected is not None and grid.selected.id == 10_000  # newest first

        # right, down, left: the cursor walks the grid
        await pilot.press("l", "l", "j", "h")
        assert grid.cursor == grid.columns + 1
        await pilot.press("right", "down", "up", "k")
        assert grid.cursor == 2

        # ten pages down: each page passed is drawn once, nothing beyond the screen is built
        built_before = len(grid.built_ids)
        for _ in range(10):
            await pilot.press("pagedown")
        await pilot.pause()
        visited_rows = grid.cursor // grid.columns + 1
        assert len(grid.built_ids) - built_before <= (visited_rows + 2 * CELL_H) * grid.columns
        assert grid.selected is not None and grid.selected.id == 10_000 - grid.cursor

        # jumping to the end five times reads five more pages and builds only the screens landed on
        built_before = len(grid.built_ids)
        for pages in range(2, 7):
            await pilot.press("G")
            wanted = pages * gallery.page
            await wait_until(pilot, lambda: len(grid.jobs) >= wanted, what=f"page {pages}")  # noqa: B023
        await pilot.press("G")
        await pilot.pause()
        assert len(grid.built_ids) - built_before <= 6 * per_screen
        assert grid.selected is not None and grid.selected.id == 10_000 - grid.cursor

        # enter opens the details of the result under the cursor; esc comes back
        chosen = grid.selected.id
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailsScreen), what="the details")
        assert isinstance(app.screen, DetailsScreen) and app.screen.job_id == chosen
        assert [type(s) for s in app.screen_stack[-2:]] == [GalleryScreen, DetailsScreen]  # opened once
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, GalleryScreen), what="the gallery again")


def sixel() -> ImageBackend:
    """A real graphics backend (the one a sixel terminal gets); its widget only encodes, never queries."""
    from textual_image.widget import SixelImage

    return ImageBackend("sixel", SixelImage)


@pytest.mark.parametrize("graphics", [False, True], ids=["halfblock", "sixel"])
async def test_thumbnails_are_decoded_cached_and_drawn_with_the_terminals_renderer(
    context: Context, tmp_path: Path, graphics: bool
) -> None:
    backend = sixel() if graphics else HALFBLOCK
    app = quiet(QwenApp(context=context, backend=backend))
    store = context.store
    for i in range(3):
        path = tmp_path / f"r{i}.png"
        Image.new("RGB", (320, 200), (200, 40 * i, 30)).save(path)
        job = await store.add_job(
            {**T2I, "prompt": f"picture {i}"}, mode="t2i", model="wan2.6-t2i", prompt=f"p{i}", state=JobState.DONE
        )
        await store.add_asset(job.id, 1, "image", path=path, size=path.stat().st_size)
    async with app.run_test(size=(120, 40)) as pilot:
        gallery = await open_gallery(pilot, app)
        grid = gallery.grid
        await wait_until(
            pilot, lambda: all(grid.thumbs.get(j.id) and grid.thumbs[j.id].fitted for j in grid.jobs), what="thumbs"
        )
        thumb = grid.thumbs[grid.jobs[0].id]
        assert thumb.fitted is not None and thumb.fitted.picture is not None
        pixel = thumb.fitted.picture.getpixel((5, 5))
        assert isinstance(pixel, tuple) and pixel[0] > 150  # the red of the picture, not a placeholder
        assert gallery.cache.misses == 3 and gallery.cache.hits == 0
        # drawn by the renderer chosen for the terminal: half blocks in the grid's lines, or one textual-image
        # widget laid over each cell (the grid's picture lines left blank under it)
        await pilot.pause()
        lines = "".join(grid.render_line(y).text for y in range(CELL_H))
        pictures = gallery.query(".thumb-picture")
        if graphics:
            await wait_until(pilot, lambda: len(gallery.query(".thumb-picture")) == 3, what="the pictures")
            pictures = gallery.query(".thumb-picture")
            assert "▀" not in lines and all(isinstance(p, backend.graphics_widget or type(None)) for p in pictures)
            assert thumb.fitted.picture.width > CELL_W * 4  # a picture sharp enough for a pixel protocol
            assert gallery.pictures is not None and set(gallery.pictures.shown) == {j.id for j in grid.jobs}
            first = gallery.pictures.shown[grid.jobs[0].id][1]
            assert first.region.x >= grid.region.x + 1 and first.region.y >= grid.region.y  # on its cell
            assert first.region.right <= grid.region.x + CELL_W and first.region.bottom <= grid.region.y + CELL_H
        else:
            assert lines.count("▀") >= 3 * 10 and not pictures
    cached = list(cache_folder(context.paths.db).rglob("*.png"))
    assert len(cached) == 3
    again = ThumbCache(cache_folder(context.paths.db))
    path = tmp_path / "r0.png"
    assert again.thumb(path, None, thumb_box(backend)).fitted is not None and again.hits == 1


async def test_filters_search_and_the_feed(app: QwenApp, context: Context) -> None:
    store = context.store
    await finished(store, 5, "zebra")
    await finished(store, 5, "horse")
    async with app.run_test(size=(120, 40)) as pilot:
        gallery = await open_gallery(pilot, app)
        grid = gallery.grid
        assert len(grid.jobs) == 10
        await pilot.press("slash", *"zebra", "enter")
        await wait_until(pilot, lambda: len(grid.jobs) == 5, what="the search")
        assert all("zebra" in j.prompt for j in grid.jobs)
        assert app.focused is grid
        # culling keys act on the cell under the cursor, stored at once and shown in its caption
        await pilot.press("3", "s")
        rated = grid.jobs[0].id

        async def marked() -> bool:
            job = await store.get_job(rated)
            return job is not None and (job.rating, job.starred) == (3, True)

        await wait_until(pilot, marked, what="the marks stored")
        await wait_until(pilot, lambda: (grid.jobs[0].rating, grid.jobs[0].starred) == (3, True), what="the cell")
        # a result finishing elsewhere appears, through the change feed
        job = await store.add_job(
            {**T2I, "prompt": "zebra new"}, mode="t2i", model="wan2.6-t2i", prompt="zebra new", state=JobState.DONE
        )
        await wait_until(pilot, lambda: grid.jobs[0].id == job.id, what="the new result")
        # esc clears the search first, then closes the gallery
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(grid.jobs) == 11, what="every result again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
        main_screen(app)
