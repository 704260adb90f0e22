"""An image drawn with half blocks (two pixels per cell), or through a terminal graphics protocol.

`HalfBlockImage` writes no escape sequences of its own and queries nothing, so it renders the same in any
terminal and in headless tests (snapshots are stable). The picture is fitted into the widget's content box
with Lanczos (a cell is about twice as tall as wide, so one cell holds two square pixels) and centred.
`make_image_widget` picks it or textual-image's widget according to the chosen backend.
"""

from __future__ import annotations

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

    def __init__(self, image: Image.Image | None = None, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._image = image
        self._lines: list[Strip] = []
        self._lines_for: tuple[int, int] | None = None

    @property
    def image(self) -> Image.Image | None:
        return self._image

    @image.setter
    def image(self, value: Image.Image | None) -> None:
        self._image = value
        self._lines_for = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.content_size.width, self.content_size.height
        if self._lines_for != (width, height):
            self._lines = _half_blocks(self._image, width, height)
            self._lines_for = (width, height)
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(width)


def _half_blocks(image: Image.Image | None, width: int, height: int) -> list[Strip]:
    if image is None or width < 1 or height < 1:
        return []
    w_px, h_px = image.size
    scale = min(width / w_px, (height * 2) / h_px)
    cols, rows = max(1, round(w_px * scale)), max(2, round(h_px * scale))
    rows += rows % 2  # whole cells
    rgb = _flatten(image).resize((cols, rows), Image.Resampling.LANCZOS)
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


def make_image_widget(backend: ImageBackend, image: Image.Image, *, classes: str | None = None) -> Widget:
    if backend.graphics_widget is not None:
        # textual-image's widgets take the picture as their first argument (Widget's signature does not say so)
        return backend.graphics_widget(image, classes=classes)  # type: ignore[arg-type]
    return HalfBlockImage(image, classes=classes)
