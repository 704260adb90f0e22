"""An image drawn with half blocks (two pixels per cell), or through a terminal graphics protocol.

`HalfBlockImage` writes no escape sequences of its own and queries nothing, so it renders the same in any
terminal and in headless tests (snapshots are stable). The picture is fitted into the widget's content box
with Lanczos (a cell is about twice as tall as wide, so one cell holds two square pixels) and centred.
Fitting is the slow part (milliseconds for a large picture), so the preview does it in a thread for the box it
expects (`fit_picture`, handed over as `fitted`); only a resize fits again here.
`make_image_widget` picks it or textual-image's widget according to the chosen backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from qwentui.tui.image_backend import ImageBackend

UPPER_HALF = "▀"


class HalfBlockImage(Widget):
    DEFAULT_CSS = """
    HalfBlockImage { width: 1fr; height: 1fr; }
    """

    def __init__(
        self,
        image: Image.Image | None = None,
        *,
        fitted: Fitted | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._image = image
        self._fitted = fitted  # the picture already fitted to a box (in a thread), used if the box is that size
        self._lines: list[Strip] = []
        self._lines_for: tuple[int, int] | None = None

    @property
    def image(self) -> Image.Image | None:
        return self._image

    @image.setter
    def image(self, value: Image.Image | None) -> None:
        self._image = value
        self._fitted = None
        self._lines_for = None
        self.refresh()

    def show(self, image: Image.Image, fitted: Fitted | None = None) -> None:
        """Another picture in the same place (fitted beforehand for a box of this widget's size, if known)."""
        self._image = image
        self._fitted = fitted
        self._lines_for = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.content_size.width, self.content_size.height
        if self._lines_for != (width, height):
            fitted = self._fitted
            if fitted is None or fitted.box != (width, height):
                fitted = fit_picture(self._image, width, height)
            self._lines = _half_blocks(fitted)
            self._lines_for = (width, height)
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(width)


@dataclass(frozen=True)
class Fitted:
    """A picture scaled to fill a box of cells: `box` (width, height) in cells, `picture` two pixels a cell."""

    box: tuple[int, int]
    picture: Image.Image | None


def fit_picture(image: Image.Image | None, width: int, height: int) -> Fitted:
    """Scale `image` to fit `width` x `height` cells (thread-safe: Pillow only, no widget)."""
    if image is None or width < 1 or height < 1:
        return Fitted((width, height), None)
    w_px, h_px = image.size
    scale = min(width / w_px, (height * 2) / h_px)
    cols, rows = max(1, round(w_px * scale)), max(2, round(h_px * scale))
    rows += rows % 2  # whole cells
    return Fitted((width, height), _flatten(image).resize((cols, rows), Image.Resampling.LANCZOS))


def _half_blocks(fitted: Fitted) -> list[Strip]:
    width, height = fitted.box
    rgb = fitted.picture
    if rgb is None:
        return []
    cols, rows = rgb.size
    pixels = rgb.load()
    assert pixels is not None
    left = (width - cols) // 2
    top = (height - rows // 2) // 2
    blank = Strip.blank(width)
    lines = [blank] * top
    for cy in range(rows // 2):
        segments = [Segment(" " * left)] if left else []
        for x in range(cols):
            upper, lower = pixels[x, cy * 2], pixels[x, cy * 2 + 1]
            segments.append(Segment(UPPER_HALF, _style(upper, lower)))  # type: ignore[arg-type]
        if width - left - cols > 0:
            segments.append(Segment(" " * (width - left - cols)))
        lines.append(Strip(segments, width).simplify())
    lines += [blank] * (height - len(lines))
    return lines


def _style(upper: tuple[int, int, int], lower: tuple[int, int, int]) -> Style:
    return Style(color=Color.from_rgb(*upper), bgcolor=Color.from_rgb(*lower))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with transparency composited over a dark grey like the pane's background."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (30, 30, 30, 255))
        return Image.alpha_composite(backdrop, rgba).convert("RGB")
    return image.convert("RGB")


def make_image_widget(
    backend: ImageBackend, image: Image.Image, *, fitted: Fitted | None = None, classes: str | None = None
) -> Widget:
    if backend.graphics_widget is not None:
        # textual-image's widgets take the picture as their first argument (Widget's signature does not say so)
        return backend.graphics_widget(image, classes=classes)  # type: ignore[arg-type]
    return HalfBlockImage(image, fitted=fitted, classes=classes)
