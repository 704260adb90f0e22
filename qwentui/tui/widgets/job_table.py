"""The live job table: a bounded window of the newest matching jobs, drawn line by line.

The database may hold a million jobs; the table holds a window of them (the newest `page` matching rows,
growing by keyset pages as the cursor nears the end). It never clears and refills to stay current: the screen
hands it the jobs changed since the last look (`store.changed_since`), and it updates rows in place, inserts the
rows that now belong and removes the ones that no longer do, keeping newest-first order by id with bisect.

It is a Line API widget (a `ScrollView` with `render_line`, like Textual's Log or toolong's log lines): only
the lines on screen are drawn, each row's line is cached until its text or the layout changes, and a change to
one row repaints that line alone. The columns shown are fitted to the width when a line is drawn and never take
part in the order or the logic: every row always has every cell.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from qwentui.core.store import Job, Store
from qwentui.tui import keymap
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.presentation import IN_FLIGHT, elapsed_text, progress_text, prompt_text, short_duration, state_text

PAGE = 200  # rows read per page: a screenful many times over, cheap to build
MORE_MARGIN = 20  # load the next page when the cursor gets this close to the last row
MAX_ROWS = 1000  # a burst of new jobs past this while the user looks at the top: back to one page
MIN_PROMPT = 24  # narrower than this, the least useful columns make room for the prompt
PADDING = 1  # blank cells either side of every column


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int  # the prompt's is whatever the others leave
    drop: int = 0  # 0: always shown; else the order in which narrow terminals drop it (highest first)
    right: bool = False  # right-aligned (numbers)


COLUMNS: tuple[Col, ...] = (
    Col("id", "#", 5, drop=3, right=True),
    Col("state", "state", 11),
    Col("mode", "mode", 6, drop=4),  # "interleave" shows as "interl": the mode is still recognisable
    Col("model", "model", 16, drop=6),
    Col("prompt", "prompt", 0),
    Col("age", "age", 4, drop=2),
    Col("elapsed", "elapsed/est", 13, drop=5),
    Col("progress", "progress", 11, drop=1),  # "██████ 100%"
)
KEYS = tuple(col.key for col in COLUMNS)
Cells = tuple[Text, ...]  # one per COLUMNS entry, whichever are shown
TIME_CELLS = 3  # the last cells of a row (age, elapsed, progress) change with time alone


def fit_columns(width: int, padding: int, widths: Mapping[str, int] | None = None) -> tuple[tuple[Col, ...], int]:
    """The columns that fit in `width` cells and the prompt's width, dropping columns by their `drop` rank.
    `widths` overrides some columns' widths (the id column grows with the ids)."""
    sized = {c.key: (widths or {}).get(c.key, c.width) for c in COLUMNS}
    shown = list(COLUMNS)

    def prompt_width() -> int:
        return width - sum(sized[c.key] for c in shown) - 2 * padding * len(shown)

    for col in sorted((c for c in COLUMNS if c.drop), key=lambda c: -c.drop):
        if prompt_width() >= MIN_PROMPT:
            break
        shown.remove(col)
    return tuple(shown), max(MIN_PROMPT // 2, prompt_width())


@dataclass(frozen=True)
class Layout:
    """Which columns a line of `width` cells shows, and how wide each is."""

    width: int
    id_width: int
    columns: tuple[tuple[int, int, bool], ...]  # (index into COLUMNS, width, right-aligned)

    @classmethod
    def fit(cls, width: int, id_width: int) -> Layout:
        shown, prompt_width = fit_columns(width, PADDING, {"id": id_width})
        columns = tuple(
            (
                KEYS.index(c.key),
                prompt_width if c.key == "prompt" else (id_width if c.key == "id" else c.width),
                c.right,
            )
            for c in shown
        )
        return cls(width, id_width, columns)

    def line(self, cells: Iterable[Text]) -> Text:
        values = tuple(cells)
        line = Text(no_wrap=True, end="")
        pad = " " * PADDING
        for index, width, right in self.columns:
            cell = values[index].copy()
            cell.no_wrap = True
            if right:
                cell.rstrip()
                cell.pad_left(max(0, width - cell.cell_len))
            cell.truncate(width, overflow="ellipsis", pad=True)
            line.append(pad)
            line.append_text(cell)
            line.append(pad)
        return line


NEWEST_FIRST = int.__neg__  # the row order: ids descending, searched with bisect on the negated id

# Line variants of a row: its zebra stripe, or the cursor (focused or not).
EVEN, ODD, CURSOR = 0, 1, 2


class JobTable(ScrollView, can_focus=True, inherit_bindings=False):
    # the keymap's (remappable) keys, and the usual ones of a list
    BINDINGS: ClassVar[list[BindingType]] = [
        *keymap.bindings("table"),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("home", "scroll_top", "Top", show=False),
        Binding("end", "scroll_bottom", "Bottom", show=False),
        Binding("enter", "select_cursor", "Details", show=False),
    ]
    # keys its own bindings take, which move no focus and open no screen: run as the app reads them (key_order.py)
    IN_PLACE_KEYS: ClassVar[frozenset[str]] = frozenset({"down", "up", "pagedown", "pageup", "home", "end"})
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "job-table--header",
        "job-table--cursor",
        "job-table--even-row",
        "job-table--odd-row",
    }
    DEFAULT_CSS = """
    JobTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        &:focus { background-tint: $foreground 5%; }
        & > .job-table--header { text-style: bold; background: $panel; color: $text-muted; }
        & > .job-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .job-table--even-row { background: $surface-darken-1 40%; }
        & > .job-table--odd-row { }
        & > .job-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .job-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class Highlighted(Message):
        """The job under the cursor changed (None: the table is empty)."""

        def __init__(self, job: Job | None) -> None:
            super().__init__()
            self.job = job

    class Selected(Message):
        """The user chose the job under the cursor (enter, or a double click)."""

        def __init__(self, job: Job) -> None:
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
        super().__init__(id=id)
        self.store = store
        self.clock = clock
        self.expected = expected
        self.page = page
        self.job_filter = JobFilter()
        self.jobs: dict[int, Job] = {}  # the window, by id
        self._ids: list[int] = []  # the rows, newest first: row index -> job id
        self._cells: dict[int, tuple[int, Cells]] = {}  # job id -> (tick it was made at, its cells)
        self._strips: dict[tuple[int, int], Strip] = {}  # (job id, variant) -> its line at the current layout
        self._layout: Layout | None = None
        self._header: Strip | None = None
        self._styles: dict[str, Style] = {}  # component -> the rich style of its lines
        self._tick = 0  # bumped by tick(): cells made before it may show an old age or elapsed time
        self._cursor = 0
        self._exhausted = False  # the window holds every matching job (no older page)
        self._loading_more = False
        self._generation = 0  # bumped by reload(), so a slow older page cannot land in a newer window
        self._last_highlighted: int | None = None
        self._arrived: list[Job] | None = None  # while reload() reads its page: the changes applied meanwhile

    # ---- what the rest of the TUI reads -------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._ids)

    @property
    def row_ids(self) -> tuple[int, ...]:
        """The job ids of the rows, from the top."""
        return tuple(self._ids)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_id(self) -> int | None:
        return self._ids[self._cursor] if self._ids else None

    @property
    def selected(self) -> Job | None:
        job_id = self.selected_id
        return self.jobs.get(job_id) if job_id is not None else None

    def row_index(self, job_id: int) -> int | None:
        """Where the job's row is (0 is the newest), or None when it is not in the window."""
        i = bisect.bisect_left(self._ids, -job_id, key=NEWEST_FIRST)
        return i if i < len(self._ids) and self._ids[i] == job_id else None

    def get_row_index(self, key: str | int) -> int:
        index = self.row_index(int(key))
        if index is None:
            raise KeyError(key)
        return index

    def get_row(self, key: str | int) -> list[Text]:
        """Every cell of a job's row (shown or not), in COLUMNS order."""
        job_id = int(key)
        if job_id not in self.jobs:
            raise KeyError(key)
        return list(self._cells_of(job_id))

    def cell(self, job_id: int, column: str) -> Text:
        return self.get_row(job_id)[KEYS.index(column)]

    # ---- reading the window -------------------------------------------------------------------------------

    async def reload(self, job_filter: JobFilter | None = None) -> None:
        """Read the first page for `job_filter` (or the current one) and show it: a new window."""
        if job_filter is not None:
            self.job_filter = job_filter
        self._generation += 1
        generation = self._generation
        self._arrived = []  # changes applied while the page is read: the new window must have them too
        try:
            jobs = await self._page(before_id=None)
        except BaseException:
            if generation == self._generation:
                self._arrived = None
            raise
        if generation != self._generation:
            return  # a newer reload (the next letter of a search) owns the window: this page is stale
        arrived, self._arrived = self._arrived, None
        keep = self.selected_id
        self.jobs = {job.id: job for job in jobs}
        self._ids = sorted(self.jobs, key=NEWEST_FIRST)  # one page from the store, already newest first
        self._cells.clear()
        self._strips.clear()
        self._exhausted = len(jobs) < self.page
        self._rows_changed()
        self._restore_cursor(keep)
        self.refresh()
        if arrived:
            await self.apply(arrived)
        self._announce()

    async def _page(self, before_id: int | None) -> list[Job]:
        return await self.job_filter.query(self.store, limit=self.page, before_id=before_id)

    async def load_more(self) -> int:
        """The next older page (keyset: ids below the oldest shown); returns how many rows came."""
        if self._exhausted or self._loading_more or not self._ids:
            return 0
        self._loading_more = True
        generation = self._generation
        try:
            jobs = await self._page(before_id=self._ids[-1])
        finally:
            self._loading_more = False
        if generation != self._generation:
            return 0
        self._exhausted = len(jobs) < self.page
        fresh = [j for j in jobs if j.id not in self.jobs]
        self._insert(fresh)
        if fresh:
            self._rows_changed()
            self.refresh()
        return len(fresh)

    # ---- applying changes ---------------------------------------------------------------------------------

    async def apply(self, changed: Iterable[Job]) -> None:
        """Bring the window up to date with jobs that changed (from the change feed)."""
        changed = list(changed)
        if self._arrived is not None:
            self._arrived.extend(changed)
        floor = 0 if self._exhausted or not self._ids else self._ids[-1]
        news = await self.job_filter.window_changes(self.store, changed, self.jobs, floor)
        updates, removals, candidates = news.updates, news.removals, news.arrivals
        keep, keep_row = self.selected_id, self._cursor
        for job in updates:
            self._update(job)
        if not removals and not candidates:
            return
        for job_id in removals:
            self._remove(job_id)
        self._insert(candidates.values())
        self._rows_changed()
        self._restore_cursor(keep)
        self.refresh()
        if len(self._ids) > MAX_ROWS and keep_row < self.page:
            # Thousands of new jobs (a drop folder filling up) would grow the window without bound: re-read one
            # page instead (the cursor's job stays if it is in it).
            await self.reload()
            return
        self._announce()

    def tick(self) -> None:
        """Time moved on: re-make the cells of the rows on screen and repaint those whose text changed.
        Rows off screen are re-made when they are next drawn."""
        self._tick += 1
        first, last = self._visible_rows()
        for row in range(first, last):
            job_id = self._ids[row]
            _, before = self._cells.get(job_id, (0, ()))
            # _cells_of dropped the changed row's lines, and the row is on screen: only the refresh is left
            # (_repaint_row would measure the screen's region again for each row, a tenth of the tick)
            if self._cells_of(job_id) != before:
                self.refresh_line(row + 1)

    # ---- rows ---------------------------------------------------------------------------------------------

    def _make_cells(self, job: Job) -> Cells:
        return (
            Text(str(job.id)),
            state_text(job.state),
            Text(job.mode.value),
            Text(job.model),
            prompt_text(job.prompt),
            *self._time_cells(job),
        )

    def _time_cells(self, job: Job) -> Cells:
        """The cells only time changes (age, elapsed, progress): the last `TIME_CELLS` of a row."""
        now = self.clock()
        expected = self.expected(job) if job.state in IN_FLIGHT else None
        return (
            Text(short_duration(now - job.created_at)),
            Text(elapsed_text(job, now, expected)),
            progress_text(job, now, expected),
        )

    def _cells_of(self, job_id: int) -> Cells:
        """The row's cells, re-made if time moved on since (only the time cells: a changed job's entry is dropped
        by `_update`); a change drops the row's cached lines."""
        made_at, cells = self._cells.get(job_id, (-1, ()))
        if made_at == self._tick:
            return cells
        job = self.jobs[job_id]
        fresh = cells[:-TIME_CELLS] + self._time_cells(job) if cells else self._make_cells(job)
        self._cells[job_id] = (self._tick, fresh)
        if fresh != cells:
            self._forget_strips(job_id)
        return fresh

    def _update(self, job: Job) -> None:
        """The row shows `job` now: made again at once if it is on screen (and repainted if its text changed),
        else when it is next drawn (a burst of a thousand changes costs only the rows in view)."""
        self.jobs[job.id] = job
        _, before = self._cells.pop(job.id, (0, ()))
        row = self.row_index(job.id)
        first, last = self._visible_rows()
        if row is None or not first <= row < last:
            self._forget_strips(job.id)
        elif self._cells_of(job.id) != before:
            self._repaint_row(row)

    def _insert(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            self.jobs[job.id] = job
            if not self._ids or job.id < self._ids[-1]:
                self._ids.append(job.id)  # older than every row (a next page): the end keeps the order
            else:
                bisect.insort(self._ids, job.id, key=NEWEST_FIRST)

    def _remove(self, job_id: int) -> None:
        row = self.row_index(job_id)
        if row is not None:
            del self._ids[row]
        self.jobs.pop(job_id, None)
        self._cells.pop(job_id, None)
        self._forget_strips(job_id)

    def forget(self, job_id: int) -> None:
        """Drop a row at once (the user deleted the job here; the change would also arrive on the next tick)."""
        keep = self.selected_id
        self._remove(job_id)
        self._rows_changed()
        self._restore_cursor(keep)
        self.refresh()
        self._announce()

    def _rows_changed(self) -> None:
        """The number or order of rows changed: the scroll range follows, and the stripes of moved rows.

        Not through the `virtual_size` reactive, which lays out the whole screen (and repaints all of it) for a
        change of rows, at every filter and search: the table's own size does not depend on its rows. Only the
        scroll bar follows (`_scroll_update`, Textual's own step after a layout), and it asks for a layout only
        when it appears or goes."""
        size = Size(0, len(self._ids) + 1)  # + the header line
        if size == self.virtual_size:
            return
        self.set_reactive(JobTable.virtual_size, size)
        if self.is_mounted:
            self._scroll_update(size)
        self.refresh()

    # ---- cursor -------------------------------------------------------------------------------------------

    def select_job(self, job_id: int) -> bool:
        row = self.row_index(job_id)
        if row is None:
            return False
        self.move_cursor(row=row)
        return True

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        """Put the cursor on `row` (clamped), scroll it into view and say which job it is on."""
        target = max(0, min(row, len(self._ids) - 1))
        if target != self._cursor:
            self._repaint_row(self._cursor)
            self._cursor = target
            self._repaint_row(target)
        self._scroll_to_cursor()
        self._announce()
        if len(self._ids) - self._cursor <= max(1, min(MORE_MARGIN, self.page // 4)) and not self._exhausted:
            self.run_worker(self.load_more(), group="load-more")

    def _restore_cursor(self, job_id: int | None) -> None:
        row = self.row_index(job_id) if job_id is not None else None
        self._cursor = row if row is not None else max(0, min(self._cursor, len(self._ids) - 1))
        self._scroll_to_cursor()

    def _announce(self) -> None:
        """Tell the screen when the job under the cursor changed (a removal or a reload can change it too)."""
        current = self.selected_id
        if current != self._last_highlighted:
            self._last_highlighted = current
            self.post_message(self.Highlighted(self.selected))

    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _visible_rows(self) -> tuple[int, int]:
        first = round(self.scroll_offset.y)
        return first, min(len(self._ids), first + self._page_rows())

    def _scroll_to_cursor(self) -> None:
        if self.scrollable_content_region.height < 2:
            return  # not laid out yet: on_resize does it
        first, _ = self._visible_rows()
        rows = self._page_rows()
        # A cursor stepping just past an edge brings half a page into view (it lands mid-screen), as a pager
        # does: a held key scrolls the table (every line of it repainted) once every half page, not every row.
        # A longer jump (page keys, a search) scrolls only as far as it must.
        half = rows // 2
        if self._cursor < first:
            near = first - self._cursor <= half
            self.scroll_to(y=max(0, self._cursor - half) if near else self._cursor, animate=False, force=True)
        elif self._cursor >= first + rows:
            near = self._cursor - (first + rows) < half
            y = self._cursor - rows + 1 + (half if near else 0)
            self.scroll_to(y=min(y, max(0, len(self._ids) - rows)), animate=False, force=True)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page_rows())

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page_rows())

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self._ids) - 1)

    def action_select_cursor(self) -> None:
        job = self.selected
        if job is not None:
            self.post_message(self.Selected(job))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_offset.y) + offset.y - 1
        if 0 <= row < len(self._ids):
            event.stop()
            self.move_cursor(row=row)
            if event.chain >= 2:
                self.action_select_cursor()

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    def on_focus(self) -> None:
        self._repaint_row(self._cursor)

    def on_blur(self) -> None:
        self._repaint_row(self._cursor)

    # ---- drawing ------------------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()
        self._header = None

    def _style(self, component: str) -> Style:
        """The widget's style under a component's (header, stripe, cursor): looked up once per style change."""
        style = self._styles.get(component)
        if style is None:
            base = self.rich_style
            style = self._styles[component] = base if not component else base + self.get_component_rich_style(component)
        return style

    def _forget_strips(self, job_id: int) -> None:
        for variant in (EVEN, ODD, CURSOR):
            self._strips.pop((job_id, variant), None)

    def _repaint_row(self, row: int) -> None:
        if 0 <= row < len(self._ids):
            job_id = self._ids[row]
            self._strips.pop((job_id, CURSOR), None)
            on_screen = row - round(self.scroll_offset.y)
            if 0 <= on_screen < self._page_rows():
                self.refresh_line(row + 1)  # the header is line 0; ScrollView takes the scroll offset off

    def _current_layout(self, width: int) -> Layout:
        """The columns for this width (and the widest id): fitted again only when either changes."""
        id_width = max(3, len(str(self._ids[0])) if self._ids else 1)
        layout = self._layout
        if layout is None or layout.width != width or layout.id_width != id_width:
            layout = self._layout = Layout.fit(width, id_width)
            self._strips.clear()
            self._header = None
        return layout

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self._style("")
        if width <= 0:
            return Strip.blank(0, base)
        layout = self._current_layout(width)
        if y == 0:
            if self._header is None:
                style = self._style("job-table--header")
                labels = layout.line(Text(col.label) for col in COLUMNS)
                self._header = _strip(labels, width, style, None, self)
            return self._header
        row = round(self.scroll_offset.y) + y - 1
        if not 0 <= row < len(self._ids):
            return Strip.blank(width, base)
        job_id = self._ids[row]
        cells = self._cells_of(job_id)
        variant = CURSOR if row == self._cursor else (EVEN if row % 2 == 0 else ODD)
        strip = self._strips.get((job_id, variant))
        if strip is None:
            stripe = "job-table--even-row" if row % 2 == 0 else "job-table--odd-row"
            style = self._style(stripe)
            cursor = self.get_component_rich_style("job-table--cursor") if variant == CURSOR else None
            strip = _strip(layout.line(cells), width, style, cursor, self)
            self._strips[(job_id, variant)] = strip
        return strip


def _strip(line: Text, width: int, style: Style, cursor: Style | None, widget: JobTable) -> Strip:
    """One line of the table: the row's text over its stripe, under the cursor's colours when it has them."""
    segments = Segment.apply_style(line.render(widget.app.console), style=style, post_style=cursor)
    fill = style + cursor if cursor is not None else style
    return Strip(list(segments)).adjust_cell_length(width, fill).simplify()
