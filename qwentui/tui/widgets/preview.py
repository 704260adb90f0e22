"""The preview of the selected job: its picture(s) or video frame, interleaved text, error, and request.

Decoding (thumbnails, video frames, probes) and fitting the picture to the pane block, so they run in a thread
and the pane mounts the result; a newer selection cancels an older load (exclusive worker), and the screen asks
for a job only once the cursor rests on it, so scrolling fast through the table never queues work. Prompts,
error messages and result text come from users and servers: they are shown with markup off.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from PIL import Image
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Static

from qwentui.core.culling import describe_marks
from qwentui.core.download import redact_url
from qwentui.core.states import TERMINAL, JobState, describe
from qwentui.core.store import Asset, Job
from qwentui.tui.image_backend import ImageBackend
from qwentui.tui.presentation import elapsed_text, redact_urls, short_duration, state_text
from qwentui.tui.widgets.image_view import Fitted, HalfBlockImage, fit_picture, make_image_widget
from qwentui.tui.widgets.text_box import TextBox

THUMB_PX = 768  # decoded once per file (media caches it); the widget scales it to the pane
INTERLEAVE_IMAGE_ROWS = 14
MEDIA_PARTS = ("#preview-media", "#preview-caption")  # what the media workers write into


@dataclass(frozen=True)
class Shown:
    """One picture the pane can page to: the asset (if downloaded) or just its result URL."""

    kind: str
    url: str | None
    path: str | None
    text: str | None = None


@dataclass
class Loaded:
    """What the worker decoded for one result: a picture, facts, or why there is none."""

    picture: Image.Image | None
    facts: str
    fitted: Fitted | None = None  # the picture scaled for the box it will be shown in (half blocks only)


def result_items(job: Job, assets: list[Asset]) -> list[Shown]:
    """Every result in the service's order, joined with its downloaded file when there is one."""
    by_idx = {a.idx: a for a in assets}
    items: list[Shown] = []
    for idx, item in enumerate(job.results or [], start=1):
        if not isinstance(item, dict):
            continue
        asset = by_idx.get(idx)
        kind = str(item.get("kind") or (asset.kind if asset else "image"))
        items.append(
            Shown(
                kind, item.get("url") or (asset.url if asset else None), asset.path if asset else None, item.get("text")
            )
        )
    if not items:  # results not recorded on the job (an imported or older job): the assets alone
        items = [Shown(a.kind, a.url, a.path, a.text) for a in assets if a.idx > 0]
    return items


class PreviewPane(Vertical):
    # Every part has a fixed height (the text ones clip and scroll inside their box): moving the cursor to
    # another job repaints the pane and never lays the screen out again.
    DEFAULT_CSS = """
    PreviewPane { padding: 0 1; }
    PreviewPane #preview-title { height: 3; text-style: bold; }
    PreviewPane #preview-prompt { height: 4; color: $text; }
    PreviewPane > .preview--error { color: $error; }
    PreviewPane #preview-media { height: 1fr; min-height: 4; }
    PreviewPane #preview-caption { height: 1; color: $text-muted; }
    PreviewPane #preview-request { height: 3; color: $text-muted; }
    PreviewPane .interleave-text { height: auto; margin: 0 0 1 0; }
    PreviewPane .interleave-image { height: 14; }
    PreviewPane .placeholder { color: $text-muted; content-align: center middle; height: 1fr; }
    PreviewPane.-short #preview-request { display: none; }
    PreviewPane.-short #preview-prompt { height: 2; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"preview--error"}
    SHORT = 30  # rows: below this the picture needs the room more than the request text does

    def __init__(
        self,
        backend: ImageBackend,
        *,
        clock: Callable[[], float] = time.time,
        expected: Callable[[Job], float | None] = lambda job: job.expected_seconds,
        id: str | None = None,
        parts_later: bool = False,
    ) -> None:
        """`parts_later`: the pane starts empty and its owner calls `mount_parts()` after its first frame; a job
        shown before then is shown once they are in."""
        super().__init__(id=id)
        self._parts_ready = not parts_later
        self._waiting: tuple[Job | None, list[Asset]] | None = None
        self.backend = backend
        self.clock = clock
        self.expected = expected
        self.job: Job | None = None
        self.items: list[Shown] = []
        self.index = 0
        self._shown_key: tuple[int, JobState, int] | None = None

    def compose(self) -> ComposeResult:
        if self._parts_ready:
            yield from self._parts()

    def _parts(self) -> list[Widget]:
        return [
            TextBox(id="preview-title"),
            TextBox(id="preview-prompt"),  # the error first (a failed job), then the prompt
            VerticalScroll(Static("Select a job to preview it", classes="placeholder"), id="preview-media"),
            TextBox(id="preview-caption"),
            TextBox(id="preview-request"),
        ]

    async def mount_parts(self) -> None:
        """Mount the parts (a pane made with `parts_later`), then show the job asked for meanwhile."""
        if self._parts_ready or not self.is_attached:
            return
        await self.mount_all(self._parts())
        self._parts_ready = True
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.show(*waiting)

    def on_resize(self) -> None:
        self.set_class(self.size.height < self.SHORT, "-short")

    # ---- what is shown ------------------------------------------------------------------------------------

    @property
    def pictures(self) -> list[Shown]:
        return [i for i in self.items if i.kind in ("image", "video")]

    @property
    def current(self) -> Shown | None:
        pictures = self.pictures
        return pictures[self.index] if 0 <= self.index < len(pictures) else None

    @property
    def interleaved(self) -> bool:
        return any(i.kind == "text" for i in self.items)

    def show(self, job: Job | None, assets: list[Asset]) -> None:
        """Show `job` (None clears the pane); the media is reloaded only when there is something new."""
        if not self._parts_ready:  # shown once the parts are in
            self._waiting, self.job = (job, assets), job
            return
        if job is None:
            self.job, self.items, self._shown_key = None, [], None
            self._header(None)
            self._media_work(lambda: self._show_placeholder("No job selected — press n to create one"))
            return
        key = (job.id, job.state, len(assets))
        same_job = self.job is not None and self.job.id == job.id
        self.job = job
        self._header(job)
        if key == self._shown_key:
            return
        self._shown_key = key
        self.items = result_items(job, assets)
        if not same_job:
            self.index = 0
        self.index = min(self.index, max(0, len(self.pictures) - 1))
        items, index = list(self.items), self.index
        self._media_work(lambda: self._load_media(job, items, index))

    def refresh_times(self) -> None:
        if self.job is not None and self._parts_ready:
            self._header(self.job)

    def page(self, step: int) -> bool:
        """Show the next/previous picture; False when there is nothing to page to."""
        count = len(self.pictures)
        if count < 2 or self.interleaved or self.job is None:
            return False
        self.index = (self.index + step) % count
        job, items, index = self.job, list(self.items), self.index
        self._media_work(lambda: self._load_media(job, items, index))
        return True

    def toggle_play(self) -> bool:
        """Space: play the video shown (in the pane, at a low frame rate), or pause/resume it; False when the
        result shown is not a video on disk."""
        from qwentui.tui.widgets.video_player import VideoPlayer  # PyAV loads on the first play

        players = self.query(VideoPlayer)
        if players:
            players.first().toggle()
            return True
        shown = self.current
        if shown is None or shown.kind != "video" or not shown.path or not self.backend.enabled:
            self.notify("Space plays a video: select a finished video first", severity="warning")
            return False
        path = Path(shown.path)
        self._media_work(lambda: self._start_player(VideoPlayer(path, self.backend)))
        return True

    async def _start_player(self, player: Widget) -> None:
        area = self.query_one("#preview-media", VerticalScroll)
        await area.remove_children()
        await area.mount(player)

    def _header(self, job: Job | None) -> None:
        title = self.query_one("#preview-title", TextBox)
        prompt = self.query_one("#preview-prompt", TextBox)
        request = self.query_one("#preview-request", TextBox)
        if job is None:
            for box in (title, prompt, request, self.query_one("#preview-caption", TextBox)):
                box.show(Text(""))
            return
        now = self.clock()
        head = Text(f"#{job.id} ", style="bold")
        head.append_text(state_text(job.state))
        head.append(f"  {job.mode.value} · {job.model}", style="")
        head.append(f"\n{describe(job.state)} · created {short_duration(now - job.created_at)} ago", style="dim")
        if job.rating is not None or job.starred or job.rejected:
            head.append(f" · {describe_marks(job)}", style="yellow")
        if job.source_path:  # a drop-folder job: which file it came from (plain Text: names are untrusted)
            head.append(f"\nfrom {job.source_path}", style="dim")
        expected = self.expected(job) if job.state not in TERMINAL else None
        spent = elapsed_text(job, now, expected)
        if spent != "—":
            head.append(f" · {spent}", style="dim")
        title.show(head)
        text = Text()
        failure = " ".join(p for p in (job.error_code, job.error_message) if p)
        if failure:
            text.append(failure + "\n", style=self.get_component_rich_style("preview--error"))
        text.append(job.prompt or "(no prompt)")
        prompt.show(text)
        request_json = json.dumps(redact_urls(job.request), ensure_ascii=False, sort_keys=True)
        request.show(Text("request: " + request_json))

    # ---- loading the media --------------------------------------------------------------------------------

    def _media_work(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` as the pane's one media worker (a newer one cancels it). Only while the pane is taken down
        (the app quits) can its parts be gone mid-way: then there is nothing left to show anything in."""

        async def run() -> None:
            try:
                await work()
            except NoMatches:
                if all(self.query(part) for part in MEDIA_PARTS):
                    raise  # the pane is whole: a real mistake
                # some part is gone already: the pane is being taken down (the caption can go before the media)

        # Textual types a worker function through an overload that infers Never for one returning None
        self.run_worker(run, group="preview", exclusive=True)  # type: ignore[arg-type]

    async def _load_media(self, job: Job, items: list[Shown], index: int) -> None:
        area = self.query_one("#preview-media", VerticalScroll)
        caption = self.query_one("#preview-caption", TextBox)
        pictures = [i for i in items if i.kind in ("image", "video")]
        if not items:
            await self._show_placeholder(_waiting_text(job))
            caption.show(Text(""))
            return
        if any(i.kind == "text" for i in items):
            box = (area.scrollable_content_region.width, INTERLEAVE_IMAGE_ROWS)
            decoded = await asyncio.to_thread(lambda: [_decode(i, box) if i.kind != "text" else None for i in items])
            widgets = self._interleave_widgets(items, decoded)
            await area.remove_children()
            await area.mount_all(widgets)
            caption.show(Text(f"{len(pictures)} image(s) with text" + _saved_where(items)))
            return
        if not pictures:
            await area.remove_children()
            caption.show(Text(""))
            return
        shown = pictures[index]
        loaded = await asyncio.to_thread(_decode, shown)
        where = shown.path or (redact_url(shown.url) if shown.url else "")
        counter = f"{shown.kind} {index + 1}/{len(pictures)}" + (" ([ ] to page)" if len(pictures) > 1 else "")
        caption.show(Text(" · ".join(p for p in (counter, loaded.facts, where) if p)))
        fitted = None
        if loaded.picture is not None and self.backend.graphics_widget is None:
            if not area.scrollable_content_region:
                await self._laid_out()  # the pane has just mounted: its parts' heights are fixed, but not yet placed
            box = area.scrollable_content_region.size
            fitted = await asyncio.to_thread(fit_picture, loaded.picture, box.width, box.height)
        if loaded.picture is not None and self.backend.enabled:
            await self._show_picture(loaded.picture, fitted)
        else:
            await self._show_placeholder(_no_picture_text(shown, loaded, self.backend))

    async def _show_placeholder(self, text: str) -> None:
        """A line of text in the picture's place; the one already there is reused (no new layout)."""
        area = self.query_one("#preview-media", VerticalScroll)
        children = list(area.children)
        if len(children) == 1 and isinstance(children[0], Static) and children[0].has_class("placeholder"):
            children[0].update(text, layout=False)  # it fills the area whatever it says
            return
        await area.remove_children()
        await area.mount(Static(text, classes="placeholder", markup=False))

    async def _show_picture(self, picture: Image.Image, fitted: Fitted | None) -> None:
        """The picture, in the half-block widget already there when there is one (no new layout)."""
        area = self.query_one("#preview-media", VerticalScroll)
        children = list(area.children)
        if len(children) == 1 and type(children[0]) is HalfBlockImage and not children[0].classes:
            children[0].show(picture, fitted)
            return
        await area.remove_children()
        await area.mount(make_image_widget(self.backend, picture, fitted=fitted))

    async def _laid_out(self) -> None:
        """Return once the screen has been laid out again (after text above the picture changed)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def refreshed() -> None:
            if not done.done():
                done.set_result(None)

        self.call_after_refresh(refreshed)
        await done

    def _interleave_widgets(self, items: list[Shown], decoded: list[Loaded | None]) -> list[Widget]:
        widgets: list[Widget] = []
        for item, loaded in zip(items, decoded, strict=True):
            if loaded is None:
                widgets.append(Static(Text(item.text or ""), classes="interleave-text"))
                continue
            if loaded.picture is not None and self.backend.enabled:
                widgets.append(
                    make_image_widget(self.backend, loaded.picture, fitted=loaded.fitted, classes="interleave-image")
                )
            else:
                widgets.append(
                    Static(_no_picture_text(item, loaded, self.backend), classes="interleave-text", markup=False)
                )
        return widgets


def _decode(item: Shown, box: tuple[int, int] | None = None) -> Loaded:
    """Runs in a thread: a picture and a line of facts for a result (never raises), fitted to `box` cells."""
    from qwentui.core import media  # PyAV loads on the first preview, not before the first screen

    if not item.path:
        return Loaded(None, "not downloaded yet")
    path = Path(item.path)
    info = media.probe(path)
    if info.error:
        return Loaded(None, f"cannot preview: {info.error}")
    try:
        picture = media.thumbnail(path, THUMB_PX, THUMB_PX)
    except (media.MediaError, ValueError, OSError) as exc:
        return Loaded(None, f"cannot preview: {exc}")
    fitted = fit_picture(picture, *box) if box is not None else None
    return Loaded(picture, media.describe(info), fitted)


def _no_picture_text(item: Shown, loaded: Loaded, backend: ImageBackend) -> str:
    if not backend.enabled and item.path:
        return f"(image preview is off: renderer 'none')\n{loaded.facts}"
    return loaded.facts


def _waiting_text(job: Job) -> str:
    if job.state in TERMINAL and job.state is not JobState.DONE:
        return f"No results: the job is {job.state.value}."
    return f"No results yet: {describe(job.state)}."


def _saved_where(items: list[Shown]) -> str:
    folders = {str(Path(i.path).parent) for i in items if i.path}
    return f" · in {folders.pop()}" if len(folders) == 1 else ""
