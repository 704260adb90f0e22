"""The gallery's thumbnails drawn by a terminal graphics protocol: one textual-image widget per cell on screen,
laid over the grid's blank picture lines.

The grid (thumb_grid.py) is a Line API widget and cannot hold widgets; the pictures are siblings of it in the
area that holds it, placed with `position: absolute` where the grid says its cells are (`picture_places`), and
moved, made or removed when it says the view changed. Only the cells on screen have a widget: ten thousand
results cost one screen of pictures. The area clips them, so a cell half scrolled out shows half its picture.
Mouse clicks and wheel turns on a picture go on to the grid, as if the picture were not there.
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget

from qwentui.tui.image_backend import ImageBackend
from qwentui.tui.thumb_cache import Thumb
from qwentui.tui.widgets.image_view import make_image_widget
from qwentui.tui.widgets.thumb_grid import ThumbGrid

PICTURE_CLASS = "thumb-picture"


class ThumbPictures:
    """The laid-over pictures of one grid, kept in `area` (the grid's parent)."""

    def __init__(self, backend: ImageBackend, grid: ThumbGrid, area: Widget) -> None:
        self.backend = backend
        self.grid = grid
        self.area = area
        self.shown: dict[int, tuple[Thumb, Widget]] = {}  # job id -> the thumbnail its widget shows, the widget

    def sync(self) -> None:
        """Make the pictures match the cells on screen: moved, made for new cells, removed for cells gone."""
        grid, area = self.grid, self.area
        if not area.is_attached:
            return
        origin_x = grid.scrollable_content_region.x - area.content_region.x
        origin_y = grid.scrollable_content_region.y - area.content_region.y
        places = grid.picture_places()
        for job_id, (thumb, widget) in list(self.shown.items()):
            place = places.get(job_id)
            if place is None or place.thumb is not thumb:
                del self.shown[job_id]
                widget.remove()
        made: list[Widget] = []
        for job_id, place in places.items():
            region = place.region
            entry = self.shown.get(job_id)
            if entry is None:
                picture = place.thumb.fitted.picture if place.thumb.fitted else None
                if picture is None:
                    continue
                widget = make_image_widget(self.backend, picture, classes=PICTURE_CLASS)
                widget.styles.position = "absolute"
                self.shown[job_id] = (place.thumb, widget)
                made.append(widget)
            else:
                widget = entry[1]
            widget.styles.width, widget.styles.height = region.width, region.height
            widget.styles.offset = (origin_x + region.x, origin_y + region.y)
        if made:
            area.mount(*made)


class PictureArea(Widget):
    """The grid and its laid-over pictures; a click or a wheel turn on a picture goes to the grid."""

    DEFAULT_CSS = """
    PictureArea { height: 1fr; }
    PictureArea > .thumb-picture { position: absolute; }
    """

    def _grid(self) -> ThumbGrid:
        return self.query_one(ThumbGrid)

    def on_click(self, event: events.Click) -> None:
        grid = self._grid()
        if event.widget is grid:
            return  # the grid had it
        event.stop()
        grid.click_at(event.screen_x - grid.region.x, event.screen_y - grid.region.y, event.chain)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._grid().scroll_down(animate=False)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._grid().scroll_up(animate=False)
