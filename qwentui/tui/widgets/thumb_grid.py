"""A grid of result thumbnails, drawn line by line: only the cells on screen are ever built.

Like the job table it is a Line API widget (a `ScrollView` with `render_line`): the grid holds a list of jobs (a
window the gallery grows by pages) and a cell's lines are made the first time the cell is drawn, then kept
until its job or its thumbnail changes. Ten thousand results cost a list of ten thousand jobs and the cells
of one screen. A cell drawn before its thumbnail is known asks for it (`wanted`); the owner decodes it in a
worker (thumb_cache.py) and hands it back with `set_thumb`, which repaints that cell alone.

The pictures are drawn with the renderer chosen for the terminal (image_backend.py, as the preview): half
blocks here, in the cell's lines; or, where the terminal has a graphics protocol, by textual-image widgets laid
over the cells on screen (thumb_pictures.py), the cell's picture lines then left blank for them. `Moved` tells
the owner when the cells on screen or their pictures changed, so the laid-over pictures follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from qwentui.core.culling import describe_marks
from qwentui.core.store import Job
from qwentui.tui import keymap
from qwentui.tui.image_backend import HALFBLOCK, ImageBackend
from qwentui.tui.thumb_cache import Thumb
from qwentui.tui.widgets.image_view import _half_blocks

CELL_W = 22  # columns per cell, the gutter included
PICTURE_H = 8  # rows of picture (16 pixels of half blocks)
CELL_H = PICTURE_H + 2  # the picture, a caption line, a blank line
GUTTER = 1  # the cursor's bar on the left of its cell
MORE_MARGIN = 3  # grid rows from the end at which the next page is asked for


GRAPHICS_SCALE = 8  # a picture for a graphics protocol: 8 times the cells' pixels of half blocks (~8x16 a cell)


def picture_box() -> tuple[int, int]:
    return CELL_W - GUTTER - 1, PICTURE_H


def thumb_box(backend: ImageBackend) -> tuple[int, int]:
    """The box a thumbnail is fitted to for this renderer (fit_picture's units: cells of two square pixels)."""
    width, height = picture_box()
    if backend.graphics_widget is None:
        return width, height
    return width * GRAPHICS_SCALE, height * GRAPHICS_SCALE


@dataclass(frozen=True)
class Place:
    """Where a laid-over picture goes: its cells (x, y from the grid's top left corner on screen, width, height)."""

    region: Region
    thumb: Thumb


class ThumbGrid(ScrollView, can_focus=True, inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("thumb-grid")
    COMPONENT_CLASSES: ClassVar[set[str]] = {"thumb-grid--cursor", "thumb-grid--caption", "thumb-grid--muted"}
    DEFAULT_CSS = """
    ThumbGrid {
        height: 1fr;
        background: $surface;
        overflow-x: hidden;
        overflow-y: auto;
        & > .thumb-grid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .thumb-grid--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
        & > .thumb-grid--caption { color: $foreground; }
        & > .thumb-grid--muted { color: $text-muted; }
    }
    """

    class Highlighted(Message):
        def __init__(self, job: Job | None) -> None:
            super().__init__()
            self.job = job

    class Selected(Message):
        """A double click on the cell under the cursor (enter is the gallery's own key: not sent from here too)."""

        def __init__(self, job: Job) -> None:
            super().__init__()
            self.job = job

    class NeedMore(Message):
        """The cursor or the view is near the last loaded cell: the owner may append the next page."""

    class Wanted(Message):
        """Cells on screen have no thumbnail yet."""

    class Moved(Message):
        """The cells on screen, or their thumbnails, changed: pictures laid over them follow (graphics only)."""

    def __init__(self, backend: ImageBackend = HALFBLOCK, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.backend = backend
        self.laid_over = backend.graphics_widget is not None  # pictures drawn by widgets over the cells
        self._moved_pending = False
        self.jobs: list[Job] = []
        self._index: dict[int, int] = {}  # job id -> position
        self.thumbs: dict[int, Thumb] = {}  # job id -> its picture (or why none)
        self._cells: dict[int, list[Strip]] = {}  # job id -> the lines of its cell, as last built
        self.cells_built = 0  # how many times a cell was built (again after a thumbnail or a mark came)
        self.built_ids: set[int] = set()  # which results ever had a cell built (the virtualization test reads it)
        self.wanted: set[int] = set()  # job ids drawn without a thumbnail, not yet asked for
        self.cursor = 0
        self._last_highlighted: int | None = None
        self._styles: dict[str, Style] = {}  # component -> its rich style, until the styles change
        self._pictures: dict[int, list[Strip]] = {}  # job id -> its thumbnail as half-block lines (kept: costly)

    # ---- the contents ---------------------------------------------------------------------------------------

    @property
    def columns(self) -> int:
        return max(1, self.scrollable_content_region.width // CELL_W)

    @property
    def selected(self) -> Job | None:
        return self.jobs[self.cursor] if 0 <= self.cursor < len(self.jobs) else None

    def set_jobs(self, jobs: Iterable[Job], *, keep: int | None = None) -> None:
        """A new window (a new filter): the thumbnails already known are kept, the cells made again."""
        self.jobs = list(jobs)
        self._index = {job.id: i for i, job in enumerate(self.jobs)}
        self._cells.clear()
        self.cursor = self._index.get(keep, 0) if keep is not None else 0
        self._resized()
        self.refresh()
        self._announce()
        self._moved()

    def extend(self, jobs: Iterable[Job]) -> None:
        """Older results appended at the end (the next page): the cells built are kept, and the screen is drawn
        again only if the new ones are on it."""
        loaded = len(self.jobs)
        for job in jobs:
            if job.id not in self._index:
                self._index[job.id] = len(self.jobs)
                self.jobs.append(job)
        self._grow()
        if self.visible_indexes().stop > loaded:
            self.refresh()

    def _grow(self) -> None:
        """A longer scroll range for rows added at the end. Setting `virtual_size` lays the whole screen out again
        (tens of milliseconds at 160x48); when the scroll bar is already shown and the width stays, only the
        scroll bar needs to know, which is what Textual's own size update does (`_scroll_update`)."""
        if len(self._pictures) > 2000:
            self._pictures.clear()  # bounded, as in _resized
        rows = -(-len(self.jobs) // self.columns)
        size = Size(self.scrollable_content_region.width, rows * CELL_H)
        if self.show_vertical_scrollbar and size.width == self.virtual_size.width and size != self.virtual_size:
            self.set_reactive(ThumbGrid.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size
        self._moved()

    def update_job(self, job: Job) -> None:
        """A result changed (its marks): repaint its cell if it is on screen."""
        i = self._index.get(job.id)
        if i is None:
            return
        self.jobs[i] = job
        self._cells.pop(job.id, None)
        self._refresh_cell(i)

    def set_thumbs(self, thumbs: dict[int, Thumb], lines: dict[int, list[Strip]] | None = None) -> None:
        """Thumbnails decoded (with their half-block lines when made beforehand, in a thread): their cells that
        are on screen are repainted, nothing else (those of the next screen, fetched ahead, wait to be drawn)."""
        made = lines or {}
        for job_id, thumb in thumbs.items():
            self.thumbs[job_id] = thumb
            self._cells.pop(job_id, None)
            if job_id in made:
                self._pictures[job_id] = made[job_id]
            else:
                self._pictures.pop(job_id, None)
            i = self._index.get(job_id)
            if i is not None:
                self._refresh_cell(i)
        self._moved()

    def _refresh_cell(self, index: int) -> None:
        cols = self.columns
        row, col = divmod(index, cols)
        y = row * CELL_H - int(self.scroll_offset.y)
        if -CELL_H < y < self.scrollable_content_region.height:
            self.refresh(Region(col * CELL_W, y, CELL_W, CELL_H))

    def forget_cell(self, job_id: int) -> None:
        """Make this cell again when it is next drawn (it was drawn waiting for a thumbnail no one will fetch)."""
        self._cells.pop(job_id, None)

    def select_job(self, job_id: int) -> bool:
        i = self._index.get(job_id)
        if i is None:
            return False
        self._move_to(i)
        return True

    def visible_indexes(self) -> range:
        """The positions of the cells on screen (whole grid rows)."""
        cols = self.columns
        first = int(self.scroll_offset.y) // CELL_H
        last = (int(self.scroll_offset.y) + self.scrollable_content_region.height) // CELL_H + 1
        return range(min(first * cols, len(self.jobs)), min(last * cols, len(self.jobs)))

    def ids_ahead(self) -> list[int]:
        """The jobs of the screen after this one that have no thumbnail yet: what a page down shows next."""
        shown = self.visible_indexes()
        after = range(shown.stop, min(len(self.jobs), shown.stop + len(shown)))
        return [self.jobs[i].id for i in after if self.jobs[i].id not in self.thumbs]

    def on_screen_ids(self) -> set[int]:
        """The jobs whose cells are on screen."""
        return {self.jobs[i].id for i in self.visible_indexes()}

    @property
    def thumbs_shown(self) -> bool:
        """Every cell on screen has its picture (or the reason it has none)."""
        return bool(self.jobs) and all(job_id in self.thumbs for job_id in self.on_screen_ids())

    def _moved(self) -> None:
        """One Moved message for any number of changes before the owner reads it (half blocks need none)."""
        if self.laid_over and not self._moved_pending:
            self._moved_pending = True
            self.call_after_refresh(self._send_moved)

    def _send_moved(self) -> None:
        self._moved_pending = False
        self.post_message(self.Moved())

    def picture_places(self) -> dict[int, Place]:
        """job id -> where its laid-over picture goes, for the cells on screen that have one (graphics only)."""
        top = int(self.scroll_offset.y)
        box_w, box_h = picture_box()
        places: dict[int, Place] = {}
        cols = self.columns
        for i in self.visible_indexes():
            job = self.jobs[i]
            thumb = self.thumbs.get(job.id)
            if thumb is None or thumb.fitted is None or thumb.fitted.picture is None:
                continue
            px_w, px_h = thumb.fitted.picture.size
            scale = GRAPHICS_SCALE if self.laid_over else 1
            width = max(1, min(box_w, round(px_w / scale)))
            height = max(1, min(box_h, round(px_h / scale / 2)))
            row, col = divmod(i, cols)
            x = col * CELL_W + GUTTER + (box_w - width) // 2
            y = row * CELL_H - top + (box_h - height) // 2
            places[job.id] = Place(Region(x, y, width, height), thumb)
        return places

    # ---- movement -------------------------------------------------------------------------------------------

    def action_move(self, rows: int, cols: int) -> None:
        if not self.jobs:
            return
        step = rows * self.columns + cols
        self._move_to(max(0, min(len(self.jobs) - 1, self.cursor + step)))

    def action_page(self, pages: int) -> None:
        rows = max(1, self.scrollable_content_region.height // CELL_H)
        self.action_move(pages * rows, 0)

    def action_edge(self, direction: int) -> None:
        if self.jobs:
            self._move_to(0 if direction < 0 else len(self.jobs) - 1)

    def _move_to(self, index: int) -> None:
        old = self.cursor
        self.cursor = index
        for i in (old, index):
            if 0 <= i < len(self.jobs):
                self._cells.pop(self.jobs[i].id, None)
        if not self._scroll_to_cursor():
            for i in (old, index):
                self._refresh_cell(i)  # the view stays: only the two cells change
        self._announce()
        if (len(self.jobs) - 1 - index) // self.columns < MORE_MARGIN:
            self.post_message(self.NeedMore())

    def _scroll_to_cursor(self) -> bool:
        """Scroll so the cursor's cell is in view; True when the view moved (it is all drawn again)."""
        top = (self.cursor // self.columns) * CELL_H
        height = self.scrollable_content_region.height
        y = self.scroll_offset.y
        if top < y:
            self.scroll_to(y=top, animate=False)
        elif top + CELL_H > y + height:
            self.scroll_to(y=max(0, top + CELL_H - height), animate=False)
        else:
            return False
        return True

    def _announce(self) -> None:
        job = self.selected
        job_id = job.id if job else None
        if job_id != self._last_highlighted:
            self._last_highlighted = job_id
            self.post_message(self.Highlighted(job))

    def on_click(self, event: events.Click) -> None:
        self.click_at(event.x, event.y, event.chain)

    def click_at(self, x: int, y: int, chain: int = 1) -> None:
        """A click at (x, y) of the widget (a picture laid over a cell passes its clicks on here)."""
        col = (x - self.scrollable_content_region.x + self.region.x) // CELL_W
        row = (y + int(self.scroll_offset.y)) // CELL_H
        index = row * self.columns + col
        if 0 <= col < self.columns and 0 <= index < len(self.jobs):
            if index == self.cursor and chain > 1 and self.selected is not None:
                self.post_message(self.Selected(self.selected))
            self._move_to(index)

    def on_resize(self) -> None:
        self._resized()

    def _resized(self) -> None:
        if len(self._pictures) > 2000:
            self._pictures.clear()  # bounded: pictures of cells long gone are made again if they come back
        rows = -(-len(self.jobs) // self.columns)
        self.virtual_size = Size(self.scrollable_content_region.width, rows * CELL_H)
        self._cells.clear()
        self._moved()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._moved()
        if self.jobs and self.visible_indexes().stop >= len(self.jobs) - MORE_MARGIN * self.columns:
            self.post_message(self.NeedMore())

    # ---- drawing ----------------------------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cells.clear()

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style if component == "base" else self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        absolute = y + int(self.scroll_offset.y)
        row, line = divmod(absolute, CELL_H)
        cols = self.columns
        strips: list[Strip] = []
        for col in range(cols):
            index = row * cols + col
            if index >= len(self.jobs):
                break
            strips.append(self._cell(index)[line])
        base = self._style("base")
        if not strips:
            return Strip.blank(width, base)
        return Strip.join(strips).extend_cell_length(width, base).crop(0, width)

    def _cell(self, index: int) -> list[Strip]:
        job = self.jobs[index]
        lines = self._cells.get(job.id)
        if lines is None:
            lines = self._build_cell(job, index == self.cursor)
            self._cells[job.id] = lines
            self.cells_built += 1
            self.built_ids.add(job.id)
        return lines

    def _build_cell(self, job: Job, is_cursor: bool) -> list[Strip]:
        base = self._style("base")
        cursor = self._style("thumb-grid--cursor")
        muted = self._style("thumb-grid--muted")
        box_w, box_h = picture_box()
        gutter = Segment("▌" if is_cursor else " ", Style(color=cursor.bgcolor) if is_cursor else base)
        thumb = self.thumbs.get(job.id)
        if thumb is not None and thumb.fitted is not None and thumb.fitted.picture is not None and self.laid_over:
            picture = [Strip.blank(box_w, base)] * box_h  # a graphics widget is laid over these cells
        elif thumb is not None and thumb.fitted is not None and thumb.fitted.picture is not None:
            picture = self._pictures.get(job.id) or []
            if not picture:
                picture = self._pictures[job.id] = _half_blocks(thumb.fitted)
        else:
            if thumb is None:
                if not self.wanted:  # one message for the cells of a whole screen
                    self.call_after_refresh(self.post_message, self.Wanted())
                self.wanted.add(job.id)
            words = "…" if thumb is None else (thumb.problem or "no picture")
            text = Text(words[: box_w * 2], style=muted, justify="center", overflow="ellipsis", end="")
            middle = [Strip(list(text.render(self.app.console))).adjust_cell_length(box_w)]
            blank = Strip.blank(box_w, base)
            picture = [blank] * (box_h // 2) + middle + [blank] * (box_h - box_h // 2 - 1)
        end = Segment(" ", base)
        lines = [Strip([gutter, *strip, end]).adjust_cell_length(CELL_W, base) for strip in picture[:box_h]]
        lines += [Strip([gutter, end]).adjust_cell_length(CELL_W, base)] * (box_h - len(lines))
        caption = Text(no_wrap=True, overflow="ellipsis", end="")
        caption.append(f"#{job.id}", style=cursor if is_cursor else base + Style(bold=True))
        marks = describe_marks(job)
        if marks != "unmarked":  # ★★★★☆ ✓ (starred) or ✗ (rejected), short enough for the cell
            caption.append(" " + marks.replace("starred", "✓").replace("rejected", "✗"))
        caption.append(f" {job.mode.value}", style=muted)
        caption.truncate(CELL_W - GUTTER - 1, overflow="ellipsis", pad=True)
        segments = [gutter, *caption.render(self.app.console), end]
        lines.append(Strip(segments).adjust_cell_length(CELL_W, base))
        lines.append(Strip.blank(CELL_W, base))
        return lines
