"""The main screen: filters, the live job table beside the preview, the status bar and the keys.

It owns the refresh loop. Every `REFRESH` seconds it asks the store for the jobs changed since the last stamp it
saw (other processes' changes included: the database is the truth, not this process's engine) and hands them
to the table, the preview, the notifier and the status bar. Once a second it refreshes what only time changes
(ages, elapsed, engine pause countdowns). Nothing here blocks: the store is async.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer

from qwentui.cli.context import Context
from qwentui.core.store import Job
from qwentui.tui import keymap
from qwentui.tui.image_backend import ImageBackend
from qwentui.tui.job_actions import JobActions
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.notifier import Notifier
from qwentui.tui.settings import TuiSettings
from qwentui.tui.widgets.filters import FilterBar
from qwentui.tui.widgets.job_table import JobTable
from qwentui.tui.widgets.preview import PreviewPane
from qwentui.tui.widgets.status_bar import EngineStatus, StatusBar

REFRESH = 0.3  # seconds between looks for changed jobs
TICK = 1.0  # seconds between refreshes of time-only text
CHANGES_PER_REFRESH = 5000  # a burst larger than this is applied over several refreshes


class MainScreen(JobActions):
    BINDINGS = keymap.bindings("main")
    DEFAULT_CSS = """
    MainScreen #main-body { height: 1fr; }
    MainScreen JobTable { width: 2fr; }
    MainScreen PreviewPane { width: 1fr; min-width: 30; border-left: vkey $panel-lighten-2; }
    """

    def __init__(self, context: Context, settings: TuiSettings, backend: ImageBackend, *,
                 clock: Callable[[], float] = time.time, live: bool = True) -> None:
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
        self._refreshing = False
        self._select_when_seen: int | None = None

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filters")
        with Horizontal(id="main-body"):
            yield JobTable(self.store, clock=self.clock, expected=self._expected, id="jobs")
            yield PreviewPane(self.backend, clock=self.clock, expected=self._expected, id="preview")
        yield StatusBar(self.context.endpoint, self.backend.name, id="status")
        yield Footer()

    def _expected(self, job: Job) -> float | None:
        return self.engine.expected_seconds(job) if job.expected_seconds is None else job.expected_seconds

    async def on_mount(self) -> None:
        await self.table.reload()
        self.table.focus()
        await self._refresh_status()
        if self.live:
            self.set_interval(REFRESH, self.refresh_changes)
            self.set_interval(TICK, self._tick)

    # ---- the refresh loop ---------------------------------------------------------------------------------

    async def refresh_changes(self) -> int:
        """Apply the jobs changed since the last look; returns how many there were."""
        if self._refreshing:  # a slow refresh must not pile up behind itself
            return 0
        self._refreshing = True
        try:
            changed = await self.store.changed_since(self._last_seen, limit=CHANGES_PER_REFRESH)
            if not changed:
                return 0
            self._last_seen = changed[-1].updated_at
            await self.table.apply(changed)
            self._follow_selection(changed)
            self._notify(changed)
            await self._refresh_status()
            return len(changed)
        finally:
            self._refreshing = False

    def _follow_selection(self, changed: list[Job]) -> None:
        wanted = self._select_when_seen
        if wanted is not None and wanted in self.table.jobs:
            self._select_when_seen = None
            self.table.select_job(wanted)
            self.table.focus()
        preview_job = self.preview.job
        if preview_job is not None:
            for job in changed:
                if job.id == preview_job.id:
                    self.run_worker(self._show_in_preview(job), group="preview-fetch", exclusive=True)

    def _notify(self, changed: list[Job]) -> None:
        notes = self.notifier.notes(changed)
        for note in notes:
            self.notify(note.message, severity=note.severity, markup=False)  # type: ignore[arg-type]
        if notes and self.settings.bell:
            self.app.bell()

    async def _refresh_status(self) -> None:
        bar = self.query_one(StatusBar)
        bar.show_counts(await self.store.count_by_state())
        bar.show_engine(EngineStatus.of(self.engine, self.clock))

    def _tick(self) -> None:
        self.table.tick()
        self.preview.refresh_times()
        self.query_one(StatusBar).show_engine(EngineStatus.of(self.engine, self.clock))

    # ---- selection and filters ----------------------------------------------------------------------------

    @on(JobTable.Highlighted)
    def _highlighted(self, event: JobTable.Highlighted) -> None:
        self.run_worker(self._show_in_preview(event.job), group="preview-fetch", exclusive=True)

    async def _show_in_preview(self, job: Job | None) -> None:
        assets = await self.store.assets(job.id) if job is not None else []
        self.preview.show(job, assets)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        # the table takes enter for itself (select_cursor), so the details key is honoured here too
        event.stop()
        self.action_show_details()

    @on(FilterBar.Changed)
    async def _filter_changed(self, event: FilterBar.Changed) -> None:
        await self.apply_filter(event.job_filter)

    async def apply_filter(self, job_filter: JobFilter) -> None:
        await self.table.reload(job_filter)
        self.sub_title = job_filter.describe()

    def action_focus_search(self) -> None:
        self.query_one(FilterBar).focus_search()

    def action_focus_table(self) -> None:
        self.table.focus()

    def action_clear_filters(self) -> None:
        if not self.query_one(FilterBar).clear():
            self.table.focus()

    def select_when_seen(self, job_id: int) -> None:
        if not self.table.select_job(job_id):
            self._select_when_seen = job_id
        else:
            self.table.focus()
