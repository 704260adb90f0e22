"""Turning a claimed drop into a job: verify, hash, claim the bytes in the ledger, read sidecars, `engine.add`.

Used for fresh drops and for drops a crash left in `.processing/`, so both follow one path. Whatever goes
wrong before a job exists ends the drop in `failed/` with one sentence why, and the ledger key is released
(nothing was sent, so the same image may come again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from qwentui.core.dropfolder import claims
from qwentui.core.dropfolder.claims import Claim
from qwentui.core.dropfolder.ledger import Ledger, source_of, source_path_of
from qwentui.core.dropfolder.sidecar import SidecarError, build_request, read_overrides
from qwentui.core.dropfolder.stability import check_image
from qwentui.core.dropfolder.status import StatusBoard
from qwentui.core.engine import Engine
from qwentui.core.requests import InvalidRequest
from qwentui.core.store import Job, LedgerEntry

log = logging.getLogger(__name__)


class Submission:
    def __init__(self, engine: Engine, ledger: Ledger, board: StatusBoard, on_job: Callable[[Claim], None]) -> None:
        self.engine = engine
        self.ledger = ledger
        self.board = board
        self.on_job = on_job  # the claim now has a job to follow

    async def submit(
        self, claim: Claim, *, verified: bool = True, recovering: bool = False, existing: dict[str, Job] | None = None
    ) -> None:
        """Take a claimed drop to a queued job (or to failed/ / duplicates/)."""
        name = claim.rule.name
        if not verified:
            for path in claim.images:
                verdict = await asyncio.to_thread(check_image, path, claim.rule)
                if not verdict.ok:
                    await self.fail(claim, verdict.reason or "the image cannot be used")
                    return
        try:
            await self.ledger.key_of(claim)
        except OSError as exc:
            await self.fail(claim, f"the file cannot be read ({exc.strerror or exc})")
            return
        earlier = await self.ledger.claim(claim, recovering=recovering)
        if earlier is not None:
            await self._duplicate(claim, earlier)
            return
        job = (existing or {}).get(source_path_of(claim))
        if job is None:
            job = await self._add(claim)
            if job is None:
                return
        await self.ledger.record_job(claim, job)
        text = f"{claim.label}: submitted as job {job.id}"
        if claim.previous is not None:
            text += f" (a new attempt: job {claim.previous.job_id} failed with these bytes before)"
        self.board.event(name, text, taken=1, in_flight=1)
        self.on_job(claim)

    async def _add(self, claim: Claim) -> Job | None:
        try:
            overrides = read_overrides(claim.sidecars)
            request = build_request(claim.rule, [str(p) for p in claim.images], overrides)
            return await self.engine.add(request, source=source_of(claim), source_path=source_path_of(claim))
        except SidecarError as exc:
            reason = str(exc)
        except InvalidRequest as exc:
            reason = "the request cannot be sent: " + "; ".join(str(p) for p in exc.problems)
        except (TypeError, ValueError) as exc:  # a sidecar value of the wrong type for a request field
            reason = f"the request cannot be built: {exc}"
        await self.ledger.release(claim)
        await self.fail(claim, reason)
        return None

    async def fail(self, claim: Claim, reason: str) -> None:
        await asyncio.to_thread(claims.settle, claim, "failed", reason)
        self.board.event(claim.rule.name, f"{claim.label}: failed: {reason}", failed=1)

    async def _duplicate(self, claim: Claim, earlier: LedgerEntry) -> None:
        if earlier.job_id is not None:
            how = f"as job {earlier.job_id}" + (f" ({earlier.outcome})" if earlier.outcome else "")
            hint = f"; `qwentui retry {earlier.job_id}` runs it again"
        else:
            how, hint = "and is still being processed", ""
        reason = f"the same image was already submitted {how}, from {earlier.rule}/{earlier.original_name}{hint}"
        await asyncio.to_thread(claims.settle, claim, "duplicates", reason)
        self.board.event(claim.rule.name, f"{claim.label}: duplicate", duplicates=1)
