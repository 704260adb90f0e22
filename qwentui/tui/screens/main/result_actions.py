"""What can be done with finished results, over the job table and the gallery alike: rate, star and reject them
(culling.py), export them (export.py), show a job's family, extend a video (extend.py, into the composer)
and assemble clips into one film (assemble.py, in a worker).

A mixin beside `JobActions`: the screen provides `_selected()` (the result under the cursor), `_open_composer`
and `select_when_seen`; each action says its outcome in a notification, and a refusal is a message, never a
traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label

from qwentui.core import culling, lineage
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.export import ExportError, export
from qwentui.core.extend import ExtendError, prepare_extend
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job, MarkFilter, Store, StoreError
from qwentui.tui.screens.pickers import Confirm
from qwentui.tui.widgets.filters import FilterBar

EXPORT_LIMIT = 10_000  # starred results exported at once, at most


class PathPrompt(ModalScreen[str | None]):
    """One line of text (a folder or a .zip path); enter accepts, escape cancels."""

    DEFAULT_CSS = """
    PathPrompt { align: center middle; }
    PathPrompt > Vertical { width: 80%; max-width: 100; height: auto; border: round $accent; padding: 0 1;
        background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str) -> None:
        super().__init__()
        self._question = question
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._question))
            yield Input(self._value, id="path-input")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ResultActions(Screen[None]):
    engine: Engine
    store: Store
    clock: Callable[[], float]

    def _selected(self) -> Job | None:
        raise NotImplementedError

    def _open_composer(
        self, request: GenerationRequest | None, title: str, *, parent_id: int | None = None, source: str = "tui"
    ) -> None:
        raise NotImplementedError

    def select_when_seen(self, job_id: int) -> None:
        raise NotImplementedError

    def _marked(self, job: Job) -> None:
        """A job's marks changed here (the change feed tells every view too; a screen may show it at once)."""

    # ---- culling ------------------------------------------------------------------------------------------

    async def action_mark(self, action: str) -> None:
        job = self._selected()
        if job is None:
            return
        try:
            marked = await culling.mark(self.store, job.id, action)
        except (QwentuiError, StoreError, ValueError) as exc:
            self.notify(f"Cannot mark job {job.id}: {exc}", severity="error", markup=False)
            return
        self._marked(marked)
        self.notify(f"Job {job.id}: {culling.describe_marks(marked)}", timeout=2)

    # ---- export -------------------------------------------------------------------------------------------

    @work(exclusive=True, group="export")
    async def action_export_results(self) -> None:
        starred = await self.store.list_jobs(states=JobState.DONE, marks=MarkFilter(starred=True), limit=EXPORT_LIMIT)
        if starred:
            ids = sorted(j.id for j in starred)
            what = f"the {len(ids)} starred result(s)"
        else:
            job = self._selected()
            if job is None:
                return
            ids, what = [job.id], f"job {job.id}"
        default = str(self.engine.config.output_dir / "export")
        question = f"Export {what} with a JSON sidecar each, to a folder (or a path ending in .zip):"
        answer = await self.app.push_screen_wait(PathPrompt(question, default))
        if not answer:
            return
        try:
            report = await export(self.store, ids, Path(answer).expanduser())
        except (ExportError, StoreError) as exc:
            self.notify(f"Cannot export: {exc}", severity="error", markup=False)
            return
        files = sum(1 for name in report.written if not name.endswith(".json"))
        skipped = f"; skipped: {'; '.join(report.skipped)}" if report.skipped else ""
        self.notify(f"Exported {files} file(s) to {answer}{skipped}", markup=False)

    # ---- family -------------------------------------------------------------------------------------------

    async def action_show_family(self) -> None:
        job = self._selected()
        if job is None:
            return
        family = await self.store.family(job.id)
        if len(family) < 2:
            self.notify(f"Job {job.id} has no family: nothing was made from it, and it came from no job")
            return
        self.query_one(FilterBar).show_family(job.id, frozenset(j.id for j in family))
        self.notify(f"The family of job {job.id}: {len(family)} jobs (esc shows every job again)")

    # ---- extend and assemble ------------------------------------------------------------------------------

    @work(exclusive=True, group="extend")
    async def action_extend_video(self) -> None:
        """The composer, filled with the job that continues this video from its last frame."""
        job = self._selected()
        if job is None:
            return
        frames = self.engine.config.output_dir / "frames"
        try:
            source, request, relation = await prepare_extend(self.store, job.id, frames)
        except (ExtendError, StoreError) as exc:
            self.notify(f"Cannot extend: {exc}", severity="warning", markup=False)
            return
        title = f"Extend job {source.id} (from its last frame)"
        self._open_composer(request, title, parent_id=source.id, source=relation.value)

    @work(exclusive=True, group="assemble")
    async def action_assemble_clips(self) -> None:
        """One film of the clips this video was extended from (its chain), or else of its family's videos."""
        job = self._selected()
        if job is None:
            return
        ids = await clips_to_assemble(self.store, job)
        if len(ids) < 2:
            self.notify(
                f"Job {job.id} has no other clips to go with it: extend it (e) first, or pick the last clip of a chain",
                severity="warning",
            )
            return
        listed = ", ".join(str(i) for i in ids)
        if not await self.app.push_screen_wait(Confirm(f"Assemble jobs {listed} into one film, in this order?")):
            return
        dest = self.engine.config.output_dir / f"film_{ids[0]}-{ids[-1]}_{int(time.time())}.mp4"
        self.notify(f"Assembling {len(ids)} clips into {dest.name}…", markup=False)
        from qwentui.core.assemble import AssembleError, NoVideo, assemble_jobs  # PyAV loads when first needed

        try:
            film_job, film = await assemble_jobs(self.store, ids, dest, clock=self.clock)
        except (AssembleError, NoVideo, StoreError, QwentuiError, OSError) as exc:
            self.notify(f"Cannot assemble: {exc}", severity="error", markup=False)
            return
        self.notify(f"Film ready: job {film_job.id}, {film.duration:.1f} s, {dest}", markup=False)
        self.select_when_seen(film_job.id)


async def clips_to_assemble(store: Store, job: Job) -> list[int]:
    """The chain of extends ending at `job` when it has one; else the finished videos of its family, oldest
    first (films left out)."""
    chain = await lineage.chain(store, job.id)
    if len(chain) >= 2:
        return chain
    family = await store.family(job.id)
    ids = []
    for member in family:
        if member.state is not JobState.DONE or member.mode.value == "assemble":
            continue
        if any(a.kind == "video" and a.path for a in await store.assets(member.id)):
            ids.append(member.id)
    return ids
