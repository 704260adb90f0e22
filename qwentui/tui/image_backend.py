"""Which image renderer the preview uses: a terminal graphics protocol, half blocks, or none.

textual-image probes the terminal when it is imported (DA1 and Kitty queries, then the cell size), and the
replies are lost once Textual owns stdin, so the choice is made once, in `launch()`, before the app runs.
The probe is skipped altogether unless the user asked for `auto` and stdout is a real terminal: tests and
pipes never touch it, and its output cannot leak into them. Anything that goes wrong while probing (a
0-column pty divides by zero inside textual-image) falls back to half blocks, which need no terminal support.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from textual.widget import Widget


@dataclass(frozen=True)
class ImageBackend:
    name: str  # "sixel", "tgp", "halfblock" or "none"
    graphics_widget: type[Widget] | None = None  # textual-image's widget class when a protocol is used

    @property
    def enabled(self) -> bool:
        return self.name != "none"


HALFBLOCK = ImageBackend("halfblock")
NONE = ImageBackend("none")


def choose(renderer: str, env: Mapping[str, str] | None = None) -> ImageBackend:
    """The backend for a renderer setting (auto | halfblock | none)."""
    if renderer == "none":
        return NONE
    if renderer != "auto":
        return HALFBLOCK
    values = os.environ if env is None else env
    stdout = sys.__stdout__
    if stdout is None or not stdout.isatty() or values.get("TERM", "") in ("", "dumb"):
        return HALFBLOCK
    return _probe_graphics()


def _probe_graphics() -> ImageBackend:
    # textual-image logs a warning with a traceback when the terminal does not answer its cell-size query;
    # that is the normal case for half-block terminals, not something to print over the screen.
    logging.getLogger("textual_image").setLevel(logging.ERROR)
    try:
        import textual_image.renderable as renderable
        import textual_image.widget as widget
    except Exception:  # any failure to probe means no protocol: half blocks always work
        return HALFBLOCK
    if renderable.Image is renderable.SixelImage:
        return ImageBackend("sixel", widget.SixelImage)
    if renderable.Image is renderable.TGPImage:
        return ImageBackend("tgp", widget.TGPImage)
    # textual-image would draw half cells or grey shades itself; ours are pre-scaled with a better filter.
    return HALFBLOCK
