"""Text in a box of fixed height: showing other text never lays the screen out again.

A `Static` of `height: auto` asks for a layout of the whole screen whenever its text takes another number of
lines, and the preview shows another prompt on nearly every cursor move: each one laid the screen out again,
which cost more than the key itself. Here the box's height is fixed by its CSS: the text is wrapped to its width,
the lines that fit are shown (the last one ends in "…" when more follow) and the mouse wheel scrolls the rest
into the box. A new text only repaints the box.

`render()` still returns the whole text (what the box holds, for whoever reads it); only the drawing is windowed.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.strip import Strip
from textual.visual import Visual
from textual.widgets import Static

ELLIPSIS = "…"


class TextBox(Static):
    DEFAULT_CSS = "TextBox { height: 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", markup=False, id=id, classes=classes)
        self.text = Text("")
        self.top = 0  # the first wrapped line shown
        self._lines: list[Strip] = []  # the whole text, wrapped to the width it was drawn at
        self._lines_of: tuple[Visual, int, object] | None = None  # what `_lines` were made from

    def show(self, text: Text) -> None:
        """Show `text` from its first line; nothing happens when it is the text shown already."""
        if text == self.text:
            return
        self.text = text
        self.top = 0
        self.update(text, layout=False)  # the box's size does not depend on its text

    @property
    def line_count(self) -> int:
        """How many lines the whole text takes at the box's width (as last drawn)."""
        return len(self._wrapped())

    def _wrapped(self) -> list[Strip]:
        width = self.size.width
        visual = self.visual
        style = self.visual_style
        made = self._lines_of
        if made is None or made[0] is not visual or made[1:] != (width, style):
            self._lines = Visual.to_strips(self, visual, width, None, style) if width > 0 else []
            self._lines_of = (visual, width, style)
        return self._lines

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        lines = self._wrapped()
        self.top = max(0, min(self.top, len(lines) - height))
        row = self.top + y
        blank = self.visual_style.rich_style
        if row >= len(lines):
            return Strip.blank(width, blank)
        line = lines[row]
        if y == height - 1 and row < len(lines) - 1:  # more below: say so at the end of the last line shown
            used = min(cell_len(line.text.rstrip()), width - 1)
            line = Strip([*line.crop(0, used), Segment(ELLIPSIS, blank)])
        return line.extend_cell_length(width, blank)

    def _scroll(self, step: int) -> bool:
        top = max(0, min(self.top + step, self.line_count - self.size.height))
        if top == self.top:
            return False
        self.top = top
        self.refresh()
        return True

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self._scroll(1):
            event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._scroll(-1):
            event.stop()
