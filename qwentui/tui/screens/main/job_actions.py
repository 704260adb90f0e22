"""What can be done to the selected job: the actions behind the main screen's keys and the command palette.

A mixin of the main screen, so one implementation serves a key press, a palette command and a test. Each action
reports its outcome in a notification; a refusal from the engine (canceling a running job, deleting an active
one) is a message, never an exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from textual import work
from textual.screen import Screen

from qwentui.core.catalog import LOCAL_MODES, Mode
from qwentui.core.download import redact_url
from qwentui.core.engine import Engine, EngineError
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest, InvalidRequest
from qwentui.core.reuse import NothingToReuse, image_to_reuse, outputs, refresh_references
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Asset, Job, Store, StoreError
from qwentui.tui.opener import open_in_system
from qwentui.tui.widgets.filters import FilterBar
from qwentui.tui.widgets.job_table import JobTable
from qwentui.tui.widgets.preview import PreviewPane, Shown

T = TypeVar("T")
COMPOSER = "composer"  # the app's one composer screen, installed under this name


class JobActions(Screen[None]):
    """The actions; the main screen provides the table, preview, engine and store."""

    engine: Engine
    store: Store
    clock: Callable[[], float]

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    @property
    def preview(self) -> PreviewPane:
        return self.query_one(PreviewPane)

    def _selected(self) -> Job | None:
        job = self.table.selected
        if job is None:
            self.notify("No job selected", severity="warning")
        return job

    def _picture(self, job: Job) -> Shown | None:
        """The picture the preview shows for this job (the preview follows the selection; None until it has)."""
        if self.preview.job is not None and self.preview.job.id == job.id:
            return self.preview.current
        return None

    async def _engine_call(self, what: str, call: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
        """(True, result), or (False, None) after telling the user why the engine refused."""
        try:
            return True, await call()
        except (EngineError, InvalidRequest, StoreError, QwentuiError) as exc:
            self.notify(f"Cannot {what}: {exc}", severity="error", markup=False)
            return False, None

    # ---- actions ------------------------------------------------------------------------------------------

    def action_new_job(self) -> None:
        self._open_composer(None, "New job")

    async def action_cancel_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        ok, _ = await self._engine_call(f"cancel job {job.id}", lambda: self.engine.cancel(job.id))
        if ok:
            self.notify(f"Job {job.id} canceled")

    async def action_retry_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        _, new = await self._engine_call(f"retry job {job.id}", lambda: self.engine.retry(job.id))
        if new is not None:
            self.notify(f"Job {new.id} queued (retry of job {job.id})")
            self.select_when_seen(new.id)

    async def action_duplicate_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        try:
            request = GenerationRequest.from_dict(job.request)
        except (InvalidRequest, ValueError, TypeError) as exc:
            self.notify(f"Cannot duplicate job {job.id}: {exc}", severity="error", markup=False)
            return
        if request.mode in LOCAL_MODES:
            self.notify(
                f"Job {job.id} was put together here ({request.mode.value}), not generated: the composer "
                "cannot make it again",
                severity="warning",
            )
            return
        # an input that was another job's result URL may have expired since: that job's file stands in for it
        sources: list[tuple[Job, list[Asset]]] = []
        parent = await self.store.get_job(job.parent_id) if job.parent_id else None
        if parent is not None:
            sources.append((parent, await self.store.assets(parent.id)))
        now = self.clock()
        request = replace(
            request,
            images=refresh_references(request.images, sources, now),
            media=[
                {**item, "url": refresh_references([item["url"]], sources, now)[0]} if item.get("url") else item
                for item in request.media
            ],
        )
        self._open_composer(request, f"Duplicate of job {job.id}", parent_id=job.id, source="duplicate")

    async def action_animate_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        assets = await self.store.assets(job.id)
        picture = self._picture(job)  # the image the preview shows is the one animated
        prefer = None
        if picture is not None:
            prefer = next(
                (
                    o.idx
                    for o in outputs(job, assets)
                    if (picture.url and o.url == picture.url) or (picture.path and o.path == picture.path)
                ),
                None,
            )
        try:
            ref = image_to_reuse(job, assets, self.clock(), prefer=prefer)
        except NothingToReuse as exc:
            self.notify(f"Cannot animate: {exc}", severity="warning", markup=False)
            return
        # the image's prompt describes what moves, as `qwentui animate` keeps it: a start to edit, not a blank
        request = GenerationRequest(mode=Mode.I2V, images=[ref], prompt=job.prompt or "")
        self._open_composer(request, f"Animate job {job.id} (image to video)", parent_id=job.id, source="animate")

    @work(exclusive=True, group="delete")
    async def action_delete_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        if job.state not in TERMINAL and job.state is not JobState.NEEDS_USER:
            self.notify(f"Job {job.id} is still {job.state.value}; cancel it or wait until it ends", severity="warning")
            return
        from qwentui.tui.screens.pickers import Confirm  # the screens load on first use: start-up stays light

        if not await self.app.push_screen_wait(Confirm(f"Delete job {job.id} from the list? Its files stay.")):
            return
        ok, _ = await self._engine_call(f"delete job {job.id}", lambda: self.engine.delete(job.id))
        if ok:
            self.table.forget(job.id)
            self.notify(f"Job {job.id} deleted from the list")

    @work(exclusive=True, group="resubmit")
    async def action_resubmit_job(self) -> None:
        job = self._selected()
        if job is None:
            return
        if job.state is not JobState.NEEDS_USER:
            self.notify(
                f"Job {job.id} is {job.state.value}; only a job that needs you can be resubmitted "
                "(r retries any job as a new one)",
                severity="warning",
            )
            return
        from qwentui.tui.screens.pickers import Confirm

        question = f"Job {job.id} may already have run on the service, and been billed. Send it again anyway?"
        if not await self.app.push_screen_wait(Confirm(question)):
            return
        ok, _ = await self._engine_call(f"resubmit job {job.id}", lambda: self.engine.resubmit(job.id))
        if ok:
            self.notify(f"Job {job.id} queued again")

    def action_show_details(self) -> None:
        job = self._selected()
        if job is not None:
            from qwentui.tui.screens.details import DetailsScreen

            self.app.push_screen(DetailsScreen(self.store, job.id, clock=self.clock))

    def action_open_file(self) -> None:
        self._open(folder=False)

    def action_open_folder(self) -> None:
        self._open(folder=True)

    def _open(self, folder: bool) -> None:
        job = self._selected()
        if job is None:
            return
        picture = self._picture(job)
        path = Path(picture.path) if picture is not None and picture.path else None
        if path is None and folder:
            path = Path(job.output_dir) if job.output_dir else self.engine.config.output_dir
        if path is None:
            self.notify(f"Job {job.id} has no downloaded file yet", severity="warning")
            return
        target = path.parent if folder and path.is_file() else path
        problem = open_in_system(target)
        if problem:
            self.notify(problem, severity="warning", markup=False)
        else:
            self.notify(f"Opening {target.name or target}", markup=False)

    def action_copy_url(self) -> None:
        job = self._selected()
        if job is None:
            return
        picture = self._picture(job)
        url = picture.url if picture is not None else None
        if not url:
            self.notify(f"Job {job.id} has no result URL", severity="warning")
            return
        if job.results_expire_at is not None and job.results_expire_at <= self.clock():
            self.notify("Copied, but this URL has expired (24 h); copy the local path instead", severity="warning")
        else:
            self.notify(f"Copied {redact_url(url)}", markup=False)
        self.app.copy_to_clipboard(url)

    def action_copy_path(self) -> None:
        job = self._selected()
        if job is None:
            return
        picture = self._picture(job)
        if picture is None or not picture.path:
            self.notify(f"Job {job.id} has no downloaded file yet", severity="warning")
            return
        self.app.copy_to_clipboard(picture.path)
        self.notify(f"Copied {picture.path}", markup=False)

    def action_prev_image(self) -> None:
        self.preview.page(-1)

    def action_next_image(self) -> None:
        self.preview.page(+1)

    def action_resume_engine(self) -> None:
        if not self.engine.status().paused:
            self.notify("The engine is not paused")
            return
        self.engine.resume()
        self.notify("Engine resumed")

    # ---- the composer -------------------------------------------------------------------------------------

    def _open_composer(
        self, request: GenerationRequest | None, title: str, *, parent_id: int | None = None, source: str = "tui"
    ) -> None:
        """Show the app's one composer (built on first use, kept for the next), for a new job or `request`."""
        from qwentui.tui.screens.composer import ComposerScreen

        app = self.app
        if not app.is_screen_installed(COMPOSER):
            app.install_screen(ComposerScreen(self.engine, self.store, clock=self.clock), COMPOSER)
        composer = app.get_screen(COMPOSER)
        assert isinstance(composer, ComposerScreen)
        if request is None:
            composer.new_job()
        else:
            composer.start(request, title, parent_id=parent_id, source=source)

        def done(job_id: int | None) -> None:
            if job_id is not None:
                self.select_when_seen(job_id)

        app.push_screen(composer, done)

    def select_when_seen(self, job_id: int) -> None:
        """Put the cursor on a job as soon as the table shows it (it arrives with the next refresh)."""
        raise NotImplementedError

    # ---- batches (qwentui batch): the palette acts on the selected job's batch -----------------------------

    def selected_batch(self) -> int | None:
        """The batch the palette's batch commands act on: the one shown by the filter, else the selected job's."""
        shown = self.table.job_filter.batch_id
        if shown is not None:
            return shown
        job = self.table.selected
        return job.batch_id if job is not None else None

    def show_batch(self, batch_id: int) -> None:
        self.query_one(FilterBar).show_batch(batch_id)
        self.table.focus()

    @work(exclusive=True, group="batch")
    async def cancel_batch(self, batch_id: int) -> None:
        from qwentui.tui.screens.pickers import Confirm

        question = f"Cancel every job of batch {batch_id} that has not run yet? The finished ones stay."
        if not await self.app.push_screen_wait(Confirm(question)):
            return
        _, result = await self._engine_call(f"cancel batch {batch_id}", lambda: self.engine.cancel_batch(batch_id))
        if result is None:
            return
        canceled, refused = result
        message = f"Batch {batch_id}: {len(canceled)} job(s) canceled"
        if refused:  # running ones cannot be stopped: say how many, and the first reason
            message += f"; {len(refused)} could not be ({refused[0]})"
        self.notify(message, severity="warning" if refused else "information", markup=False)

    @work(exclusive=True, group="batch")
    async def retry_batch(self, batch_id: int) -> None:
        _, ids = await self._engine_call(f"retry batch {batch_id}", lambda: self.engine.retry_batch(batch_id))
        if ids is None:
            return
        if ids:
            self.notify(f"Batch {batch_id}: {len(ids)} job(s) queued again (retries of those that did not finish)")
        else:
            self.notify(f"Batch {batch_id}: nothing to retry (no job failed, was refused, canceled or expired)")
