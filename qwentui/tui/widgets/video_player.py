"""A video played in the terminal at a low frame rate: PyAV decodes, half blocks (or the terminal's graphics
protocol) draw.

Decoding and fitting a frame run in a thread, one frame at a time, so the event loop only swaps pictures; the
rate is low (a few frames a second) because every frame is a full repaint of the pane. Space pauses and
resumes (the screen calls `toggle`); the clip loops. Removing the widget (another job selected) cancels its
worker and closes the file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import av
from PIL import Image
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Static

from qwentui.tui.image_backend import ImageBackend
from qwentui.tui.widgets.image_view import Fitted, HalfBlockImage, fit_picture, make_image_widget

FPS = 6.0  # frames shown per second: smooth enough to judge motion, cheap enough for half blocks


def sampled_frames(path: Path, fps: float) -> Generator[tuple[float, Image.Image]]:
    """(time, picture) of the clip's frames, about `fps` per second of video (blocking; run it in a thread)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_at = 0.0
        for frame in container.decode(stream):
            at = float(frame.time or 0.0)
            if at + 1e-6 < next_at:
                continue
            next_at = at + 1.0 / fps
            yield at, frame.to_image()


class VideoPlayer(Vertical):
    DEFAULT_CSS = """
    VideoPlayer { height: 1fr; }
    VideoPlayer #video-picture { height: 1fr; }
    VideoPlayer #video-state { height: 1; color: $text-muted; }
    """

    def __init__(self, path: Path, backend: ImageBackend, *, fps: float = FPS, id: str | None = None) -> None:
        super().__init__(id=id)
        self.path = path
        self.backend = backend
        self.fps = fps
        self.frames_shown = 0
        self.position = 0.0  # seconds into the clip of the frame shown
        self._go = asyncio.Event()
        self._go.set()
        self._picture: Widget | None = None

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def compose(self) -> ComposeResult:
        yield HalfBlockImage(id="video-picture") if self.backend.graphics_widget is None else Static(id="video-wait")
        yield Static("▶ playing · space pauses", id="video-state", markup=False)

    def on_mount(self) -> None:
        self._play()

    def toggle(self) -> None:
        if self.paused:
            self._go.set()
        else:
            self._go.clear()
        self._say()

    def _say(self) -> None:
        verb = "⏸ paused · space plays" if self.paused else "▶ playing · space pauses"
        self.query_one("#video-state", Static).update(f"{verb} · {self.position:.1f} s · o opens it in a player")

    @work(exclusive=True, group="video")
    async def _play(self) -> None:
        try:
            await self._loop()
        except NoMatches:
            if self.is_mounted and self.query("#video-state"):
                raise  # the player is whole: a real mistake
            # its parts are being taken down (the pane shows another job, the app quits): nothing to play into

    async def _loop(self) -> None:
        while True:  # the clip loops
            frames = sampled_frames(self.path, self.fps)
            try:
                while True:
                    await self._go.wait()
                    started = time.monotonic()
                    box = self._box()
                    item = await asyncio.to_thread(_next_fitted, frames, box)
                    if item is None:
                        break
                    at, picture, fitted = item
                    await self._show(picture, fitted)
                    self.frames_shown += 1
                    self.position = at
                    self._say()
                    await asyncio.sleep(max(0.0, 1.0 / self.fps - (time.monotonic() - started)))
            except (av.error.FFmpegError, OSError) as exc:
                self.query_one("#video-state", Static).update(f"cannot play: {exc}")
                return
            finally:
                try:
                    frames.close()
                except ValueError:
                    pass  # canceled while a thread decodes: the generator closes (and the file) when it is freed
            if self.frames_shown == 0:
                self.query_one("#video-state", Static).update("cannot play: no frame decodes")
                return

    def _box(self) -> tuple[int, int]:
        if self.backend.graphics_widget is None:
            size = self.query_one("#video-picture").size
            return max(1, size.width), max(1, size.height)
        # a graphics picture replaces "#video-wait" after the first frame: the room is the player's, less its state
        state = self.query_one("#video-state").outer_size.height
        return max(1, self.content_size.width), max(1, self.content_size.height - state)

    async def _show(self, picture: Image.Image, fitted: Fitted) -> None:
        if self.backend.graphics_widget is None:
            self.query_one("#video-picture", HalfBlockImage).show(picture, fitted)
            return
        old = self._picture  # a graphics-protocol widget draws one picture: a new one per frame
        self._picture = make_image_widget(self.backend, picture)
        await self.mount(self._picture, before="#video-state")
        if old is not None:
            await old.remove()
        else:
            await self.query_one("#video-wait").remove()


def _next_fitted(
    frames: Iterator[tuple[float, Image.Image]], box: tuple[int, int]
) -> tuple[float, Image.Image, Fitted] | None:
    """The next frame and its picture fitted to `box` (in the worker's thread), or None at the end."""
    try:
        at, picture = next(frames)
    except StopIteration:
        return None
    return at, picture, fit_picture(picture, *box)
