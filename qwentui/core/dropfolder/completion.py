"""Finishing drops: when a drop's job ends, move its files out of `.processing/` and place the results.

DONE -> `done/` with the results linked or copied beside the original (per rule); REJECTED, FAILED,
CANCELED, EXPIRED -> `failed/` with the job's error as the reason. NEEDS_USER leaves the files in
`.processing/` (the job may still be resubmitted or adopted) and is shown as such.

A drop in `failed/` whose job the user retried (a new job with the failed one as its parent, reading the
image from `failed/`) moves on to `done/` with its result once that retry is done, its old reason gone.

It learns of job changes from the engine's change feed only (which carries every transition, whoever made
it); a newly followed drop is looked up once by its job id, since its job may have ended long ago.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from qwentui.core.dropfolder import claims
from qwentui.core.dropfolder.claims import FAILED, Claim, drop_stem
from qwentui.core.dropfolder.ledger import OUTCOME_DONE, OUTCOME_FAILED, Ledger
from qwentui.core.dropfolder.rules import Rule
from qwentui.core.dropfolder.sidecar import sidecar_paths
from qwentui.core.dropfolder.status import StatusBoard
from qwentui.core.feed import Subscription
from qwentui.core.states import TERMINAL, JobState, describe
from qwentui.core.store import Job, Store

log = logging.getLogger(__name__)
ANCESTORS = 50  # how far up a chain of retries a drop's job is looked for


class Completion:
    def __init__(self, store: Store, ledger: Ledger, board: StatusBoard, rules: list[Rule] | None = None) -> None:
        self.store = store
        self.ledger = ledger
        self.board = board
        self.rules = list(rules or [])
        self.inflight: dict[int, Claim] = {}
        self._needs_user: set[int] = set()
        self._fresh: list[int] = []  # followed since the last round: looked up by id once
        self._wake = asyncio.Event()
        self.changes: Subscription | None = None  # the engine's change feed; set before the first follow()

    def follow(self, claim: Claim) -> None:
        assert claim.job_id is not None
        self.inflight[claim.job_id] = claim
        self._fresh.append(claim.job_id)
        self._wake.set()  # the job may already be over (recovery after a long stop)

    async def run(self) -> None:
        assert self.changes is not None, "subscribe to the change feed first"
        while True:
            await self.changes.wait(self._wake)
            self._wake.clear()
            await self.round()

    async def round(self) -> None:
        """Look at every followed job the feed says changed, and at newly followed ones."""
        for job in self.changes.take() if self.changes is not None else []:
            if job.id in self.inflight:
                await self._check(job.id, job)
            elif job.state in TERMINAL and job.parent_id is not None and not job.deleted:
                await self._retried(job)
        fresh, self._fresh = self._fresh, []
        for job_id in fresh:
            await self._check(job_id, await self.store.get_job(job_id))

    async def _check(self, job_id: int, job: Job | None) -> None:
        claim = self.inflight.get(job_id)
        if claim is None:
            return
        name = claim.rule.name
        if job is None or (job.deleted and job.state not in TERMINAL):
            await self._finish(claim, None, f"job {job_id} was deleted before it finished")
            return
        if job.state is JobState.NEEDS_USER:
            if job_id not in self._needs_user:
                self._needs_user.add(job_id)
                self.board.event(name, f"{claim.label}: job {job_id} needs your decision", needs_user=1)
            return
        if job_id in self._needs_user:
            self._needs_user.discard(job_id)
            self.board.event(name, f"{claim.label}: job {job_id} is {job.state.value} again", needs_user=-1)
        if job.state in TERMINAL:
            await self._finish(claim, job, None)

    async def _finish(self, claim: Claim, job: Job | None, reason: str | None) -> None:
        job_id = claim.job_id
        assert job_id is not None
        done = job is not None and job.state is JobState.DONE
        try:
            if not claim.files:  # its files were moved away by hand: only the ledger learns the outcome
                moved: dict[Path, Path] = {}
                reason = None if done else reason or _why(job)
            elif done:
                assert job is not None
                outputs = [Path(a.path) for a in await self.store.assets(job.id) if a.path and a.kind != "text"]
                moved = await asyncio.to_thread(claims.settle, claim, "done", None, outputs)
            else:
                reason = reason or _why(job)
                moved = await asyncio.to_thread(claims.settle, claim, "failed", reason)
        except OSError as exc:  # the folder went away or filled up: keep following, try again next round
            log.warning("cannot move %s out of .processing: %s", claim.label, exc)
            return
        self.inflight.pop(job_id, None)
        extra = {"needs_user": -1} if job_id in self._needs_user else {}
        self._needs_user.discard(job_id)
        if job is not None and moved:
            await _point_job_at(self.store, job, moved)
        final = moved.get(claim.images[0]) if claim.images else None
        await self.ledger.finish(claim, OUTCOME_DONE if done else OUTCOME_FAILED, str(final) if final else None, reason)
        text = f"{claim.label}: done (job {job_id})" if done else f"{claim.label}: failed: {reason}"
        self.board.event(claim.rule.name, text, in_flight=-1, **extra, **({"done": 1} if done else {"failed": 1}))

    async def _retried(self, job: Job) -> None:
        """A job retried from a failed drop (its images are that drop's, in `failed/`) ended: when it is done, the
        drop moves to `done/` with its result; when it failed too, the drop's reason says so."""
        images = [Path(p) for p in job.request.get("images") or [] if isinstance(p, str) and "://" not in p]
        rule = next((r for r in self.rules if images and all(p.parent == r.folder / FAILED for p in images)), None)
        if rule is None or not all(p.is_file() for p in images):
            return  # not a drop's, or already moved on
        stem = drop_stem(rule, images[0].name) or os.path.splitext(images[0].name)[0]
        sidecars = [p for p in sidecar_paths(images[0].parent, stem) if p.is_file()]
        claim = Claim(rule, "", stem, images, sidecars)
        try:
            key = await self.ledger.key_of(claim)
        except OSError:
            return
        entry = await self.store.ledger_get(key)
        if entry is None or entry.outcome != OUTCOME_FAILED or entry.job_id is None:
            return
        if not await self._descends(job, entry.job_id):
            return  # the same bytes, but not a retry of that drop's job (or this very one, told already)
        if job.state is not JobState.DONE:
            reason = f"{_why(job)} (retried from job {entry.job_id})"
            try:
                await asyncio.to_thread(claims.write_reason, claims.reason_path(claim), reason)
            except OSError as exc:
                log.warning("cannot write the reason of %s: %s", claim.label, exc)
            await self.store.ledger_set(key, job_id=job.id, reason=reason)
            self.board.event(rule.name, f"{claim.label}: the retry failed too: {reason}")
            return
        claim.job_id = job.id
        outputs = [Path(a.path) for a in await self.store.assets(job.id) if a.path and a.kind != "text"]
        old_reason = claims.reason_path(claim)
        try:
            # the reason first: once the image shows in done/, nothing in failed/ may still say it failed
            await asyncio.to_thread(old_reason.unlink, missing_ok=True)
            moved = await asyncio.to_thread(claims.settle, claim, "done", None, outputs)
        except OSError as exc:
            log.warning("cannot move %s from failed/ to done/: %s", claim.label, exc)
            return
        if moved:
            await _point_job_at(self.store, job, moved)
        final = moved.get(images[0])
        await self.ledger.finish(claim, OUTCOME_DONE, str(final) if final else None, None)
        self.board.event(
            rule.name, f"{claim.label}: done on retry (job {job.id}), moved from failed/ to done/", failed=-1, done=1
        )

    async def _descends(self, job: Job, ancestor: int) -> bool:
        parent = job.parent_id
        for _ in range(ANCESTORS):
            if parent is None:
                return False
            if parent == ancestor:
                return True
            found = await self.store.get_job(parent)
            parent = found.parent_id if found is not None else None
        return False


def _why(job: Job | None) -> str:
    if job is None:
        return "its job is gone"
    text = f"job {job.id} {describe(job.state)}"
    if job.error_message:
        text += f": {job.error_message}"
    elif job.error_code:
        text += f" ({job.error_code})"
    return text


async def _point_job_at(store: Store, job: Job, moved: dict[Path, Path]) -> None:
    """The job's input files left `.processing/`: record where they are now, so a retry finds them."""
    paths = {str(old): str(new) for old, new in moved.items()}
    images = [paths.get(i, i) for i in job.request.get("images", [])]
    source = paths.get(job.source_path or "", job.source_path)
    try:
        await store.update_fields(job.id, request={**job.request, "images": images}, source_path=source)
    except Exception as exc:  # a convenience only: never worth failing the drop over
        log.warning("cannot update the input paths of job %s: %s", job.id, exc)
