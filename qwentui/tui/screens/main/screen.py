"""The main screen: filters, the live job table beside the preview, the status bar and the keys.

It owns the refresh loop: it follows the core's change feed (`engine.subscribe()`), which hands it every job
changed since the last batch, whoever changed it (this engine, the user, other processes writing the database),
and passes them to the table, the preview, the notifier and the status bar; nothing is read while nothing
changes. Once a second it refreshes what only time changes (ages, elapsed, engine pause countdowns). Nothing
here blocks: the store is async.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.reactive import Reactive
from textual.timer import Timer
from textual.widgets import Input

from qwentui.core.feed import Subscription
from qwentui.core.store import Job, StoreError
from qwentui.runtime import Context
from qwentui.tui import keymap
from qwentui.tui.image_backend import ImageBackend
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.notifier import Notifier, desktop_notify
from qwentui.tui.screens.main.job_actions import JobActions
from qwentui.tui.screens.main.result_actions import ResultActions
from qwentui.tui.settings import TuiSettings
from qwentui.tui.status_sources import FinishedBatch, StatusSources
from qwentui.tui.widgets.filters import FilterBar
from qwentui.tui.widgets.job_table import JobTable
from qwentui.tui.widgets.key_bar import KeyBar
from qwentui.tui.widgets.preview import PreviewPane
from qwentui.tui.widgets.status_bar import EngineStatus, StatusBar

TICK = 1.0  # seconds between refreshes of time-only text
CHANGES_PER_REFRESH = 5000  # a burst larger than this is applied in several steps, the screen drawn between
STORE_TROUBLE_EVERY = 30.0  # seconds between two warnings about the same database trouble
PREVIEW_REST = 0.08  # seconds the cursor rests on a job before the preview shows it (holding a key skips them)


class MainScreen(JobActions, ResultActions):
    BINDINGS = keymap.bindings("main", "results")
    DEFAULT_CSS = """
    MainScreen #main-body { height: 1fr; }
    MainScreen JobTable { width: 2fr; }
    MainScreen PreviewPane { width: 1fr; min-width: 30; border-left: vkey $panel-lighten-2; }
    """
    # What the table shows ("batch 3", "family of job 7"), for the palette and the terminal's title. Screen's own
    # reactive repaints the whole screen when it changes, at every filter and search; nothing here draws it.
    sub_title: Reactive[str | None] = Reactive(None, compute=False, repaint=False)

    def __init__(
        self,
        context: Context,
        settings: TuiSettings,
        backend: ImageBackend,
        *,
        clock: Callable[[], float] = time.time,
        live: bool = True,
    ) -> None:
        super().__init__()
        self.context = context
        self.engine = context.engine
        self.store = context.store
        self.settings = settings
        self.backend = backend
        self.clock = clock
        self.live = live  # False in snapshot tests: no timers, the screen shows one frozen moment
        # Stamps come from the store's wall clock; only changes after this moment are news (and notified).
        self._last_seen = time.time()
        self.notifier = Notifier(since=self._last_seen)
        self.status_sources = StatusSources(self.store, self.engine, clock)
        self._select_when_seen: int | None = None
        self._trouble_told_at = -STORE_TROUBLE_EVERY
        self._preview_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filters", selects_later=True)  # after the rows' first frame
        with Horizontal(id="main-body"):
            yield JobTable(self.store, clock=self.clock, expected=self._expected, id="jobs")
            yield PreviewPane(self.backend, clock=self.clock, expected=self._expected, id="preview", parts_later=True)
        yield StatusBar(self.context.endpoint, self.backend.name, id="status")
        yield KeyBar()

    def _expected(self, job: Job) -> float | None:
        return self.engine.expected_seconds(job) if job.expected_seconds is None else job.expected_seconds

    async def on_mount(self) -> None:
        self.table.focus()
        changes: Subscription | None = None
        if self.live:
            try:
                await self.engine.feed.start()  # idempotent; started here too in case the engine starts later
            except StoreError as exc:
                self._store_trouble(exc)
            changes = self.engine.subscribe()  # before the first read: a change in between is not lost
        try:
            await self.table.reload()
        except StoreError as exc:
            self._store_trouble(exc)
        self.call_after_refresh(self._after_first_frame)
        # The rows are the first frame; the status bar's counts, batches and spend follow it (read in a worker:
        # the screen paints nothing until its on_mount returns). The change feed starts after them, so a change
        # cannot be counted twice.
        self.run_worker(self._load_status_then_follow(changes), group="change-feed", exclusive=True)

    async def _after_first_frame(self) -> None:
        """The rows' frame is up: the filter bar's Selects and the preview's parts (~40 % of the first frame's
        CPU) come now; the search box and the preview's pane were there from the start."""
        try:
            self.query_one(FilterBar).mount_selects()
            await self.preview.mount_parts()
        except NoMatches:
            pass  # the screen is being taken down

    async def _load_status_then_follow(self, changes: Subscription | None) -> None:
        try:
            await self._refresh_status()
            bar = self.query_one(StatusBar)
            bar.show_batches(await self.status_sources.load_batches())
            bar.show_spend(await self.status_sources.spend())
        except StoreError as exc:
            self._store_trouble(exc)
        except NoMatches:  # the screen is being taken down
            if changes is not None:
                changes.close()
            return
        if changes is not None:
            self.set_interval(TICK, self._tick)
            await self._follow_changes(changes)

    # ---- the refresh loop ---------------------------------------------------------------------------------

    async def _follow_changes(self, changes: Subscription) -> None:
        """Apply each batch of the change feed; while one is applied, the next coalesces (one row per job)."""
        try:
            async for batch in changes:
                for start in range(0, len(batch), CHANGES_PER_REFRESH):
                    await self.refresh_changes(batch[start : start + CHANGES_PER_REFRESH])
        except NoMatches:
            pass  # the screen is being taken down (its widgets go before its workers): nothing left to update
        finally:
            changes.close()

    async def refresh_changes(self, changed: list[Job]) -> int:
        """Apply these changed jobs (a batch of the change feed); returns how many there were."""
        if not changed:
            return 0
        try:
            await self.table.apply(changed)
            self._follow_selection(changed)
            self._notify(changed)
            await self._refresh_status()
            await self._refresh_batches_and_spend(changed)
            return len(changed)
        except StoreError as exc:  # busy (another writer) or damaged: say so, keep the screen, the feed goes on
            self._store_trouble(exc)
            return 0

    def _store_trouble(self, exc: StoreError) -> None:
        now = time.monotonic()
        if now - self._trouble_told_at > STORE_TROUBLE_EVERY:
            self._trouble_told_at = now
            self.notify(f"The job database: {exc}", severity="warning", markup=False)

    def _follow_selection(self, changed: list[Job]) -> None:
        wanted = self._select_when_seen
        if wanted is not None and wanted in self.table.jobs:
            self._select_when_seen = None
            self.table.select_job(wanted)
            self.table.focus()
        # The preview shows the job under the cursor (not whichever it showed last: a load for the old one would
        # cancel the cursor's); while the cursor has not rested yet, the rest timer shows it.
        selected = self.table.selected_id
        latest = next((job for job in reversed(changed) if job.id == selected), None)
        if latest is not None and self._preview_timer is None:
            self._load_preview(latest)

    def _notify(self, changed: list[Job]) -> None:
        notes = self.notifier.notes(changed)
        for note in notes:
            self.notify(note.message, severity=note.severity, markup=False)  # type: ignore[arg-type]
        if notes and self.settings.bell:
            self.app.bell()

    async def _refresh_batches_and_spend(self, changed: list[Job]) -> None:
        """The batch progress and the spend, read again only when these changes touch them."""
        bar = self.query_one(StatusBar)
        moved, finished = await self.status_sources.batch_changes(changed)
        if moved or finished:
            bar.show_batches(self.status_sources.batches())
        for batch in finished:
            self._batch_done(batch)
        if self.status_sources.cost_changed(changed):
            bar.show_spend(await self.status_sources.spend())

    def _batch_done(self, batch: FinishedBatch) -> None:
        note = self.notifier.batch_note(batch.batch_id, batch.counts)
        self.notify(note.message, severity=note.severity, markup=False)  # type: ignore[arg-type]
        if self.settings.bell:
            self.app.bell()
        if self.settings.desktop_notify:
            self.run_worker(desktop_notify("qwentui", note.message), group="desktop-notify")

    async def _refresh_spend_if_stale(self) -> None:
        if self.status_sources.period_or_caps_changed():
            try:
                self.query_one(StatusBar).show_spend(await self.status_sources.spend())
            except StoreError as exc:
                self._store_trouble(exc)

    async def _refresh_status(self) -> None:
        bar = self.query_one(StatusBar)
        bar.show_counts(await self.store.count_by_state())
        bar.show_engine(EngineStatus.of(self.engine, self.clock))

    def _tick(self) -> None:
        self.table.tick()
        self.preview.refresh_times()
        bar = self.query_one(StatusBar)
        bar.show_engine(EngineStatus.of(self.engine, self.clock))
        drops = self.context.drops
        if drops is not None:
            bar.show_drops(drops.status())
        if self.status_sources.period_or_caps_changed():  # a new day or new caps: no query otherwise
            self.run_worker(self._refresh_spend_if_stale(), group="spend", exclusive=True)

    def action_toggle_drops(self) -> None:
        """Pause every drop-folder rule, or resume them all when they are paused."""
        drops = self.context.drops
        if drops is None:
            self.notify("No drop folder is being watched (see `qwentui drop`)", markup=False)
            return
        rules = [r for r in drops.status().rules if r.state != "disabled"]
        pausing = any(r.state != "paused" for r in rules)
        for rule in rules:
            (drops.pause if pausing else drops.resume)(rule.name)
        self.notify("Drop folders paused" if pausing else "Drop folders watching again", markup=False)
        self.query_one(StatusBar).show_drops(drops.status())

    def toggle_drop_rule(self, name: str) -> None:
        """Pause one drop-folder rule, or resume it (from the command palette: one entry per rule)."""
        drops = self.context.drops
        if drops is None:
            return
        paused = any(r.name == name and r.state == "paused" for r in drops.status().rules)
        try:
            (drops.resume if paused else drops.pause)(name)
        except KeyError:
            self.notify(f"No drop folder rule is called {name!r} any more", markup=False, severity="warning")
            return
        self.notify(f"Drop folder {name}: {'watching again' if paused else 'paused'}", markup=False)
        self.query_one(StatusBar).show_drops(drops.status())

    # ---- selection and filters ----------------------------------------------------------------------------

    @on(JobTable.Highlighted)
    def _highlighted(self, event: JobTable.Highlighted) -> None:
        # The preview follows once the cursor rests: a held key moves the cursor, never waits for a preview.
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_REST, self._preview_selected, name="preview-rest")

    def _preview_selected(self) -> None:
        """The cursor rested: the preview shows its job in the idle time after the next frame, and waits again
        while keys are on their way (the key goes first: the preview never holds a frame back)."""
        self._preview_timer = None
        if getattr(self.app, "keys_pending", False):
            self._preview_timer = self.set_timer(PREVIEW_REST, self._preview_selected, name="preview-rest")
            return
        self.call_after_refresh(lambda: self._load_preview(self.table.selected))

    def _load_preview(self, job: Job | None) -> None:
        """Load `job` into the preview in a worker (the newest load wins). The worker is given a function, not a
        coroutine: a newer load may cancel it before it starts, and a coroutine made for it would be dropped
        unawaited (a RuntimeWarning)."""

        async def load() -> None:
            await self._show_in_preview(job)

        # Textual types a worker function through an overload that infers Never for one returning None
        self.run_worker(load, group="preview-fetch", exclusive=True)  # type: ignore[arg-type]

    async def _show_in_preview(self, job: Job | None) -> None:
        try:
            assets = await self.store.assets(job.id) if job is not None else []
        except StoreError as exc:
            self._store_trouble(exc)
            assets = []
        try:
            self.preview.show(job, assets)
        except NoMatches:
            pass  # the screen is being taken down (its widgets go before its workers): nothing left to show

    @on(JobTable.Selected)
    def _row_selected(self, event: JobTable.Selected) -> None:
        # the table takes enter for itself (and a double click), so the details key is honoured here too
        event.stop()
        self.action_show_details()

    @on(Input.Submitted, "#filter-text")
    def _search_submitted(self) -> None:
        self.table.focus()  # enter ends the search: the keys act on the results again

    @on(FilterBar.Changed)
    async def _filter_changed(self, event: FilterBar.Changed) -> None:
        await self.apply_filter(event.job_filter)

    async def apply_filter(self, job_filter: JobFilter) -> None:
        try:
            await self.table.reload(job_filter)
        except StoreError as exc:
            self._store_trouble(exc)
            return
        self.sub_title = job_filter.describe()

    def action_focus_search(self) -> None:
        self.query_one(FilterBar).focus_search()

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_clear_filters(self) -> None:
        self.query_one(FilterBar).clear()
        self.table.focus()  # escape leaves the search box too: letters are keys for the jobs again

    def select_when_seen(self, job_id: int) -> None:
        if not self.table.select_job(job_id):
            self._select_when_seen = job_id
        else:
            self.table.focus()

    # ---- the gallery and the video player (issue 16) -------------------------------------------------------

    def action_open_gallery(self) -> None:
        from qwentui.tui.screens.gallery import GalleryScreen  # built on first use: start-up stays light

        self.app.push_screen(GalleryScreen(self.context, backend=self.backend, clock=self.clock, live=self.live))

    def action_play_video(self) -> None:
        self.preview.toggle_play()
