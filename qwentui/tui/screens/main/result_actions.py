"""What can be done with finished results, over the job table and the gallery alike: rate, star and reject them
(culling.py), export those the filters show (export.py), show a job's family, extend a video from its last frame
or by continuing the clip (extend.py, into the composer) and assemble clips into one film with an optional sound
track and trimmed seams (assemble.py, in a worker). The questions asked first are in result_dialogs.py.

A mixin beside `JobActions`: the screen provides `_selected()` (the result under the cursor), `_open_composer`
and `select_when_seen`; each action says its outcome in a notification, and a refusal is a message, never a
traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual import work
from textual.screen import Screen

from qwentui.core import culling, lineage
from qwentui.core.assemble import NoVideo, finished_video
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.export import ExportError, export
from qwentui.core.extend import ExtendError, prepare_extend, target_row
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store, StoreError
from qwentui.tui.job_filter import JobFilter
from qwentui.tui.screens.result_dialogs import AssembleDialog, ExtendChoice, ExtendHow, PathPrompt
from qwentui.tui.widgets.filters import FilterBar

EXPORT_LIMIT = 10_000  # results exported at once, at most
FINISHED = frozenset({JobState.DONE})


def finished_only(job_filter: JobFilter) -> JobFilter | None:
    """The filter narrowed to finished jobs (None when the state chosen excludes them: nothing to show)."""
    states = FINISHED if job_filter.states is None else job_filter.states & FINISHED
    if not states:
        return None
    return replace(job_filter, states=states)


async def results_shown(store: Store, job_filter: JobFilter, limit: int = EXPORT_LIMIT) -> list[int]:
    """The ids of the finished results a filter shows, oldest first, at most `limit` (read by pages)."""
    narrowed = finished_only(job_filter)
    if narrowed is None:
        return []
    ids: list[int] = []
    before: int | None = None
    while len(ids) < limit:
        want = min(500, limit - len(ids))
        page = await narrowed.query(store, limit=want, before_id=before)
        ids += [j.id for j in page]
        if len(page) < want:
            break
        before = page[-1].id
    return sorted(ids)


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

    async def export_selection(self) -> tuple[list[int], str]:
        """What E exports: the finished results the filters and search show (every page of them, not only the
        loaded ones), or the result under the cursor when nothing is filtered; and how to say it."""
        shown = self.query_one(FilterBar).value
        if shown.is_empty:
            job = self._selected()
            return ([job.id], f"job {job.id}") if job is not None else ([], "")
        ids = await results_shown(self.store, shown)
        limit = f" (the first {EXPORT_LIMIT})" if len(ids) >= EXPORT_LIMIT else ""
        return ids, f"the {len(ids)} finished result(s) shown{limit} ({shown.describe()})"

    @work(exclusive=True, group="export")
    async def action_export_results(self) -> None:
        try:
            ids, what = await self.export_selection()
        except StoreError as exc:
            self.notify(f"Cannot export: {exc}", severity="error", markup=False)
            return
        if not ids:
            if what:
                self.notify("Nothing to export: no finished result matches the filters", severity="warning")
            return
        default = str(self.engine.config.output_dir / "export")
        question = f"Export {what}, each with a JSON sidecar, to a folder (or a path ending in .zip):"
        answer = await self.app.push_screen_wait(PathPrompt(question, default))
        if not answer:
            return
        self.notify(f"Exporting {len(ids)} result(s) to {answer}…", markup=False, timeout=2)
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
        """The composer, filled with the job that continues this video: from its last frame, or (asked first,
        where a model reads clips: wan2.7-i2v's first_clip) the clip itself continued by that model."""
        job = self._selected()
        if job is None:
            return
        try:
            await finished_video(self.store, job, "extended")
        except (NoVideo, StoreError) as exc:
            self.notify(f"Cannot extend: {exc}", severity="warning", markup=False)
            return
        how: ExtendHow | None = "frame"
        clip_model = model_that_continues(job)
        if clip_model is not None:
            how = await self.app.push_screen_wait(ExtendChoice(job.id, clip_model))
            if how is None:
                return
        frames = self.engine.config.output_dir / "frames"
        try:
            source, request, relation = await prepare_extend(self.store, job.id, frames, continue_clip=how == "clip")
        except (ExtendError, StoreError) as exc:
            self.notify(f"Cannot extend: {exc}", severity="warning", markup=False)
            return
        way = f"continuing the clip with {request.model}" if how == "clip" else "from its last frame"
        self._open_composer(request, f"Extend job {source.id} ({way})", parent_id=source.id, source=relation.value)

    @work(exclusive=True, group="assemble")
    async def action_assemble_clips(self) -> None:
        """One film of the clips this video was extended from (its chain), or else of its family's videos; the
        dialog adds a sound track and a trim at the seams."""
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
        options = await self.app.push_screen_wait(AssembleDialog(ids))
        if options is None:
            return
        dest = self.engine.config.output_dir / f"film_{ids[0]}-{ids[-1]}_{int(time.time())}.mp4"
        sound = f" with {options.audio.name}" if options.audio else ""
        self.notify(f"Assembling {len(ids)} clips{sound} into {dest.name}…", markup=False)
        from qwentui.core.assemble import AssembleError, assemble_jobs  # PyAV loads when first needed

        try:
            film_job, film = await assemble_jobs(
                self.store, ids, dest, audio=options.audio, trim_frames=options.trim_frames, clock=self.clock
            )
        except (AssembleError, NoVideo, StoreError, QwentuiError, OSError) as exc:
            self.notify(f"Cannot assemble: {exc}", severity="error", markup=False)
            return
        self.notify(f"Film ready: job {film_job.id}, {film.duration:.1f} s, {dest}", markup=False)
        self.select_when_seen(film_job.id)


def model_that_continues(job: Job) -> str | None:
    """The model that would continue this clip itself (None when the catalog has none for it)."""
    try:
        return target_row(job, None, continue_clip=True).model
    except ExtendError:
        return None


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
