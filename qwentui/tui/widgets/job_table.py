"""The live job table: a bounded window of the newest matching jobs, kept current by applying changes.

The database may hold a million jobs; the table holds a window of them (the newest `page` matching rows,
growing by keyset pages as the cursor nears the end). It never clears and refills to stay current: the screen
hands it the jobs changed since the last look (`store.changed_since`), and it updates the cells that differ,
adds rows that now belong and removes rows that no longer do, keyed by job id. Textual's DataTable rebuilds
its layout on every mutation, so changes are applied in batches and unchanged cells are not touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from qwentui.core.store import Job, Store
from qwentui.tui import keymap
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.presentation import IN_FLIGHT, elapsed_text, progress_text, prompt_text, short_duration, state_text

PAGE = 200  # rows read per page: a screenful many times over, cheap to build
MORE_MARGIN = 20  # load the next page when the cursor gets this close to the last row
MAX_ROWS = 1000  # a burst of new jobs past this while the user looks at the top: back to one page
MIN_PROMPT = 24  # narrower than this, the least useful columns make room for the prompt


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int  # the prompt's is whatever the others leave
    drop: int = 0  # 0: always shown; else the order in which narrow terminals drop it (highest first)


COLUMNS: tuple[Col, ...] = (
    Col("id", "#", 5, drop=3),
    Col("state", "state", 11),
    Col("mode", "mode", 6, drop=4),  # "interleave" shows as "interl": the mode is still recognisable
    Col("model", "model", 16, drop=6),
    Col("prompt", "prompt", 0),
    Col("age", "age", 4, drop=2),
    Col("elapsed", "elapsed/est", 13, drop=5),
    Col("progress", "progress", 10, drop=1),
)
Cells = tuple[Any, ...]


def fit_columns(width: int, padding: int) -> tuple[tuple[Col, ...], int]:
    """The columns that fit in `width` cells and the prompt's width, dropping columns by their `drop` rank."""
    shown = list(COLUMNS)

    def prompt_width() -> int:
        return width - sum(c.width for c in shown) - 2 * padding * len(shown)

    for col in sorted((c for c in COLUMNS if c.drop), key=lambda c: -c.drop):
        if prompt_width() >= MIN_PROMPT:
            break
        shown.remove(col)
    return tuple(shown), max(MIN_PROMPT // 2, prompt_width())


class JobTable(DataTable[Any]):
    BINDINGS = keymap.bindings("table")
    DEFAULT_CSS = """
    JobTable { height: 1fr; }
    """

    class Highlighted(Message):
        """The job under the cursor changed (None: the table is empty)."""

        def __init__(self, job: Job | None) -> None:
            super().__init__()
            self.job = job

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        expected: Callable[[Job], float | None] = lambda job: job.expected_seconds,
        page: int = PAGE,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=1)
        self.store = store
        self.clock = clock
        self.expected = expected
        self.page = page
        self.job_filter = JobFilter()
        self.jobs: dict[int, Job] = {}  # the window, by id
        self._cells: dict[int, Cells] = {}  # what each row shows now, to skip updates that change nothing
        self._columns: tuple[Col, ...] = COLUMNS
        self._exhausted = False  # the window holds every matching job (no older page)
        self._loading_more = False
        self._generation = 0  # bumped by reload(), so a slow older page cannot land in a newer window
        self._last_highlighted: int | None = None

    def on_mount(self) -> None:
        self._add_columns(COLUMNS, prompt_width=MIN_PROMPT)

    def _add_columns(self, columns: tuple[Col, ...], prompt_width: int) -> None:
        self._columns = columns
        for col in columns:
            self.add_column(col.label, key=col.key, width=col.width or prompt_width)

    # ---- reading the window -------------------------------------------------------------------------------

    async def reload(self, job_filter: JobFilter | None = None) -> None:
        """Read the first page for `job_filter` (or the current one) and show it: a new window."""
        if job_filter is not None:
            self.job_filter = job_filter
        self._generation += 1
        jobs = await self._page(before_id=None)
        keep = self.selected_id
        self.clear()
        self.jobs.clear()
        self._cells.clear()
        self._exhausted = len(jobs) < self.page
        self._add(jobs)
        self._restore_cursor(keep)
        self._announce()

    async def _page(self, before_id: int | None) -> list[Job]:
        f = self.job_filter
        return await self.store.list_jobs(
            states=f.states, modes=f.modes, models=f.models, text=f.text or None, limit=self.page, before_id=before_id
        )

    async def load_more(self) -> int:
        """The next older page (keyset: ids below the oldest shown); returns how many rows came."""
        if self._exhausted or self._loading_more or not self.jobs:
            return 0
        self._loading_more = True
        generation = self._generation
        try:
            jobs = await self._page(before_id=min(self.jobs))
        finally:
            self._loading_more = False
        if generation != self._generation:
            return 0
        self._exhausted = len(jobs) < self.page
        fresh = [j for j in jobs if j.id not in self.jobs]
        self._add(fresh)  # older than every row: appending keeps newest-first order
        return len(fresh)

    # ---- applying changes ---------------------------------------------------------------------------------

    async def apply(self, changed: Iterable[Job]) -> None:
        """Bring the window up to date with jobs that changed (from `store.changed_since`)."""
        f = self.job_filter
        floor = 0 if self._exhausted or not self.jobs else min(self.jobs)
        updates: list[Job] = []
        removals: list[int] = []
        candidates: dict[int, Job] = {}
        for job in changed:
            if job.id in self.jobs:
                if job.deleted or not f.matches_fields(job):
                    removals.append(job.id)
                else:
                    updates.append(job)
            elif not job.deleted and job.id > floor and f.matches_fields(job):
                candidates[job.id] = job
        if candidates and f.text:
            candidates = await self._matching_text(candidates)
        keep, keep_row = self.selected_id, self.cursor_row
        for job in updates:
            self._update(job)
        for job_id in removals:
            self._remove(job_id)
        if candidates:
            self._add(candidates.values())
            self.sort("id", reverse=True)  # DataTable only appends; one sort puts the new rows in place
            self._restore_cursor(keep)
            if len(self.jobs) > MAX_ROWS and keep_row < self.page:
                # Thousands of new jobs (a drop folder filling up) would grow the window without bound, and
                # every DataTable repaint costs O(rows): re-read one page instead (the cursor's job stays).
                await self.reload()
                return
        if removals or candidates:
            self._announce()

    async def _matching_text(self, candidates: dict[int, Job]) -> dict[int, Job]:
        """The candidates whose prompt matches the search (FTS5 in the store, not a guess here).

        Every matching job with an id from the window's oldest up to the newest candidate is either shown or a
        candidate, so a query bounded by their count returns them all, whatever the database size.
        """
        f = self.job_filter
        found = await self.store.list_jobs(
            states=f.states,
            modes=f.modes,
            models=f.models,
            text=f.text,
            before_id=max(candidates) + 1,
            limit=len(self.jobs) + len(candidates),
        )
        return {j.id: candidates[j.id] for j in found if j.id in candidates}

    def tick(self) -> None:
        """Refresh the time-dependent cells (age, elapsed, progress); only the ones whose text changed."""
        for job in self.jobs.values():
            self._update(job)

    # ---- rows ---------------------------------------------------------------------------------------------

    def _row(self, job: Job) -> Cells:
        now = self.clock()
        expected = self.expected(job) if job.state in IN_FLIGHT else None
        cells: dict[str, Any] = {
            "id": job.id,
            "state": state_text(job.state),
            "mode": job.mode.value,
            "model": Text(job.model),
            "prompt": prompt_text(job.prompt),
            "age": short_duration(now - job.created_at),
            "elapsed": elapsed_text(job, now, expected),
            "progress": progress_text(job, now, expected),
        }
        return tuple(cells[col.key] for col in self._columns)

    def _add(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            cells = self._row(job)
            self.jobs[job.id] = job
            self._cells[job.id] = cells
            self.add_row(*cells, key=str(job.id))

    def _update(self, job: Job) -> None:
        self.jobs[job.id] = job
        cells = self._row(job)
        old = self._cells.get(job.id)
        if old == cells:
            return
        self._cells[job.id] = cells
        for col, new, before in zip(self._columns, cells, old or (None,) * len(cells), strict=True):
            if new != before:
                try:
                    self.update_cell(str(job.id), col.key, new)
                except (CellDoesNotExist, RowDoesNotExist):
                    return

    def _remove(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)
        self._cells.pop(job_id, None)
        try:
            self.remove_row(str(job_id))
        except RowDoesNotExist:
            pass

    def forget(self, job_id: int) -> None:
        """Drop a row at once (the user deleted the job here; the change would also arrive on the next tick)."""
        keep = self.selected_id
        self._remove(job_id)
        self._restore_cursor(keep)
        self._announce()

    # ---- cursor -------------------------------------------------------------------------------------------

    @property
    def selected_id(self) -> int | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None
        return int(key) if key is not None else None

    @property
    def selected(self) -> Job | None:
        job_id = self.selected_id
        return self.jobs.get(job_id) if job_id is not None else None

    def select_job(self, job_id: int) -> bool:
        try:
            self.move_cursor(row=self.get_row_index(str(job_id)))
        except RowDoesNotExist:
            return False
        return True

    def _restore_cursor(self, job_id: int | None) -> None:
        if (job_id is None or not self.select_job(job_id)) and self.row_count:
            self.move_cursor(row=min(self.cursor_row, self.row_count - 1))

    def _announce(self) -> None:
        """Tell the screen when the job under the cursor changed (DataTable's own event misses removals)."""
        current = self.selected_id
        if current != self._last_highlighted:
            self._last_highlighted = current
            self.post_message(self.Highlighted(self.selected))

    async def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()
        if self.row_count - event.cursor_row <= max(1, min(MORE_MARGIN, self.page // 4)):
            await self.load_more()

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Give the prompt the width the other columns leave (DataTable has no "fill" width), dropping the
        least useful columns on narrow terminals. Only a change of the column set rebuilds the rows."""
        columns, prompt_width = fit_columns(self.scrollable_content_region.width - 1, self.cell_padding)
        if columns != self._columns:
            keep = self.selected_id
            self.clear(columns=True)
            self._cells.clear()
            self._add_columns(columns, prompt_width)
            self._add(sorted(self.jobs.values(), key=lambda j: -j.id))
            self._restore_cursor(keep)
            return
        column = self.columns.get(ColumnKey("prompt"))
        if column is not None and column.width != prompt_width:
            column.width = prompt_width
            self._require_update_dimensions = True  # DataTable re-measures on its next idle
            self.refresh()
