"""The gallery: finished results as a grid of thumbnails, with the table's filters, search and culling keys.

The grid (thumb_grid.py) holds the newest matching results, grown by keyset pages as the cursor or the view
nears the end, and builds only the cells on screen. Thumbnails are decoded in a worker, for the cells on
screen only, through the disk cache (thumb_cache.py), and drawn with the preview's renderer: half blocks, or
textual-image widgets laid over the cells where the terminal has a graphics protocol (thumb_pictures.py).
Like the main screen, the gallery follows the core's change feed: a result that finishes appears, a mark given
anywhere shows, a deleted one goes; nothing polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.strip import Strip
from textual.widgets import Input, Static

from qwentui.core.feed import Subscription
from qwentui.core.store import Job, StoreError
from qwentui.runtime import Context
from qwentui.tui import keymap
from qwentui.tui.image_backend import HALFBLOCK, ImageBackend
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.screens.details import DetailsScreen
from qwentui.tui.screens.main.job_actions import JobActions
from qwentui.tui.screens.main.result_actions import ResultActions, finished_only
from qwentui.tui.thumb_cache import Thumb, ThumbCache, cache_folder
from qwentui.tui.widgets.filters import FilterBar
from qwentui.tui.widgets.image_view import _half_blocks
from qwentui.tui.widgets.key_bar import KeyBar
from qwentui.tui.widgets.preview import Shown
from qwentui.tui.widgets.thumb_grid import ThumbGrid, thumb_box
from qwentui.tui.widgets.thumb_pictures import PictureArea, ThumbPictures

PAGE = 300  # results read per page: several screens of cells


class GalleryScreen(JobActions, ResultActions):
    BINDINGS = keymap.bindings("gallery", "results")
    DEFAULT_CSS = """
    GalleryScreen #gallery-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def __init__(
        self,
        context: Context,
        *,
        backend: ImageBackend = HALFBLOCK,
        clock: Callable[[], float] = time.time,
        live: bool = True,
        page: int = PAGE,
    ) -> None:
        super().__init__()
        self.backend = backend  # the preview's renderer: half blocks, or a graphics protocol (textual-image)
        self.context = context
        self.engine = context.engine
        self.store = context.store
        self.clock = clock
        self.live = live
        self.page = page
        self.cache = ThumbCache(cache_folder(context.paths.db))
        self.job_filter = finished_only(JobFilter())
        self._exhausted = False
        self._loading_more = False
        self._loading_thumbs = False
        self._generation = 0
        self._paths: dict[int, Shown] = {}  # job id -> the picture its cell shows
        self._select_when_seen: int | None = None
        self.pictures: ThumbPictures | None = None  # the grid's laid-over pictures, with a graphics protocol

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filters")
        with PictureArea(id="grid-area"):
            yield ThumbGrid(self.backend, id="grid")
        yield Static("", id="gallery-status", markup=False)
        yield KeyBar()

    @property
    def grid(self) -> ThumbGrid:
        return self.query_one(ThumbGrid)

    async def on_mount(self) -> None:
        self.pictures = ThumbPictures(self.backend, self.grid, self.query_one(PictureArea))
        self.grid.focus()
        changes: Subscription | None = self.engine.subscribe() if self.live else None
        try:
            await self.reload()
        except StoreError as exc:
            self.notify(f"The job database: {exc}", severity="warning", markup=False)
        if changes is not None:
            self.run_worker(self._follow_changes(changes), group="gallery-feed", exclusive=True)

    # ---- the window of results --------------------------------------------------------------------------------

    async def _read(self, before_id: int | None) -> list[Job]:
        if self.job_filter is None:
            return []
        return await self.job_filter.query(self.store, limit=self.page, before_id=before_id)

    async def reload(self) -> None:
        self._generation += 1
        generation = self._generation
        jobs = await self._read(None)
        if generation != self._generation:
            return
        self._exhausted = len(jobs) < self.page
        keep = self.grid.selected
        self.grid.set_jobs(jobs, keep=keep.id if keep else None)
        self._status()

    @on(ThumbGrid.NeedMore)
    async def _need_more(self) -> None:
        grid = self.grid
        if self._exhausted or self._loading_more or not grid.jobs:
            return
        self._loading_more = True
        generation = self._generation
        try:
            jobs = await self._read(grid.jobs[-1].id)
        except StoreError:
            return
        finally:
            self._loading_more = False
        if generation != self._generation:
            return
        self._exhausted = len(jobs) < self.page
        grid.extend(jobs)
        self._status()

    def _status(self) -> None:
        grid = self.grid
        count = f"{len(grid.jobs)}{'' if self._exhausted else '+'} results"
        where = f" · {grid.cursor + 1}/{count}" if grid.jobs else " · no results"
        what = self.job_filter.describe() if self.job_filter is not None else "no finished jobs in this state"
        # one line whatever it says: no new layout of the screen for it
        self.query_one("#gallery-status", Static).update(f"Gallery{where} · {what}", layout=False)

    # ---- thumbnails ---------------------------------------------------------------------------------------------

    @property
    def thumbs_loading(self) -> bool:
        """Thumbnails are being decoded (those on screen, or the next screen's ahead of a page down)."""
        return self._loading_thumbs

    @on(ThumbGrid.Wanted)
    def _wanted(self) -> None:
        if not self._loading_thumbs:
            self._loading_thumbs = True
            self.run_worker(self._load_thumbs(), group="thumbs")

    async def _load_thumbs(self) -> None:
        """Decode the thumbnails of the cells on screen, a grid row at a time, until none is missing (the view may
        move meanwhile: cells scrolled away are forgotten, and asked for again when they come back); then those
        of the next screen, so a page down finds its pictures (and their half blocks) made."""
        grid = self.grid
        try:
            while True:
                on_screen = grid.on_screen_ids()
                for job_id in grid.wanted - on_screen:
                    grid.forget_cell(job_id)
                grid.wanted &= on_screen
                grid.wanted.difference_update(grid.thumbs)  # drawn again while their thumbnails were on the way
                batch = sorted(grid.wanted, reverse=True)[: grid.columns]  # newest first, as the grid reads
                if not batch:
                    batch = grid.ids_ahead()[: grid.columns]
                    if not batch:
                        break
                grid.wanted.difference_update(batch)
                grid.set_thumbs(*await self._thumbs(batch))
        except NoMatches:
            pass
        finally:
            self._loading_thumbs = False

    async def _thumbs(self, job_ids: list[int]) -> tuple[dict[int, Thumb], dict[int, list[Strip]]]:
        """The thumbnails of these results, and their half-block lines unless pictures are laid over: their files
        looked up, then decoded (or read from the cache) and drawn in one thread."""
        found: dict[int, Thumb] = {}
        todo: list[tuple[int, Path, str | None]] = []
        for job_id in job_ids:
            try:
                assets = await self.store.assets(job_id)
            except StoreError as exc:
                found[job_id] = Thumb(None, str(exc)[:40])
                continue
            pictures = [a for a in assets if a.kind in ("image", "video") and a.path and a.idx > 0]
            if not pictures:
                found[job_id] = Thumb(None, "no file")
                continue
            asset = pictures[0]
            self._paths[job_id] = Shown(asset.kind, asset.url, asset.path)
            todo.append((job_id, Path(asset.path or ""), asset.sha256))
        box = thumb_box(self.backend)
        draw = not self.grid.laid_over

        def decode() -> tuple[dict[int, Thumb], dict[int, list[Strip]]]:
            thumbs = {i: self.cache.thumb(path, sha, box) for i, path, sha in todo}
            lines = {i: _half_blocks(t.fitted) for i, t in thumbs.items() if draw and t.fitted is not None}
            return thumbs, lines

        decoded, lines = await asyncio.to_thread(decode)
        return {**found, **decoded}, lines

    @on(ThumbGrid.Moved)
    def _moved(self) -> None:
        if self.pictures is not None:
            self.pictures.sync()

    # ---- the change feed -------------------------------------------------------------------------------------

    async def _follow_changes(self, changes: Subscription) -> None:
        try:
            async for batch in changes:
                await self.apply(batch)
        except NoMatches:
            pass
        finally:
            changes.close()

    async def apply(self, changed: list[Job]) -> None:
        """Results that changed anywhere: marks repainted, new ones placed, gone ones removed."""
        f = self.job_filter
        if f is None:
            return
        grid = self.grid
        floor = 0 if self._exhausted or not grid.jobs else grid.jobs[-1].id
        news = await f.window_changes(self.store, changed, {j.id: j for j in grid.jobs}, floor)
        for job in news.updates:
            grid.update_job(job)
        gone, new = set(news.removals), news.arrivals
        if gone or new:
            keep = grid.selected
            jobs = [j for j in grid.jobs if j.id not in gone] + list(new.values())
            jobs.sort(key=lambda j: -j.id)
            grid.set_jobs(jobs, keep=keep.id if keep else None)
            self._status()
        wanted = self._select_when_seen
        if wanted is not None and grid.select_job(wanted):
            self._select_when_seen = None

    # ---- what the actions act on ----------------------------------------------------------------------------

    def _selected(self) -> Job | None:
        job = self.grid.selected
        if job is None:
            self.notify("No result here", severity="warning")
        return job

    def _picture(self, job: Job) -> Shown | None:
        return self._paths.get(job.id)

    def _marked(self, job: Job) -> None:
        self.grid.update_job(job)

    def select_when_seen(self, job_id: int) -> None:
        if not self.grid.select_job(job_id):
            self._select_when_seen = job_id

    @on(ThumbGrid.Highlighted)
    def _highlighted(self) -> None:
        self._status()
        self._wanted()  # the cursor moved: the next screen's thumbnails are fetched ahead, if not yet

    @on(ThumbGrid.Selected)
    def _chosen(self, event: ThumbGrid.Selected) -> None:
        event.stop()
        self.action_show_details()

    def action_show_details(self) -> None:
        job = self._selected()
        if job is not None:
            self.app.push_screen(DetailsScreen(self.store, job.id, clock=self.clock))

    # ---- filters -------------------------------------------------------------------------------------------

    @on(FilterBar.Changed)
    async def _filter_changed(self, event: FilterBar.Changed) -> None:
        event.stop()
        self.job_filter = finished_only(event.job_filter)
        try:
            await self.reload()
        except StoreError as exc:
            self.notify(f"The job database: {exc}", severity="warning", markup=False)

    @on(Input.Submitted, "#filter-text")
    def _search_submitted(self) -> None:
        self.grid.focus()

    def action_focus_search(self) -> None:
        self.query_one(FilterBar).focus_search()

    def action_clear_filters(self) -> None:
        self.query_one(FilterBar).clear()
        self.grid.focus()

    def action_close(self) -> None:
        """Escape: first out of the search box and the filters, then out of the gallery (the table then shows
        the result the gallery was on)."""
        if isinstance(self.focused, Input) or not self.query_one(FilterBar).value.is_empty:
            self.action_clear_filters()
            return
        job = self.grid.selected
        self.dismiss(None)
        if job is not None:
            main = self.app.screen
            select = getattr(main, "select_when_seen", None)
            if select is not None:
                select(job.id)
