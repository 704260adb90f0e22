"""The sha256 ledger: the same bytes are submitted at most once per rule, across restarts.

The key is a sha256 of the rule's name and the dropped file's bytes (a kf2v pair: both frames' digests, in
order): the same photo dropped in `animate/` and then in `edit/` is two different jobs, not a duplicate.
A claim inserts the key (`INSERT OR IGNORE`, so two claims of the same bytes cannot both win), then the
job id is recorded once the job exists, and the outcome once it ended. The order against the file moves is
chosen so every crash point has an answer on the next start:

* renamed into `.processing/` but no ledger row: the claim is redone (hash, claim, job);
* ledger row without a job id: either the crash came before `engine.add` (create the job now) or between
  it and recording the id (the job exists: it is found by its `source_path`, never created twice);
* job id recorded: wait for that job, then move the files.

A drop that fails *before* any job exists (a bad sidecar, a request the model refuses) releases its key:
nothing was sent or billed, so the user may fix the sidecar and drop the same image again. A drop whose job
failed does not block the same bytes either: dropping them again is a new attempt (the claim takes the row
over, and says which job failed before); only a drop that is done or still in progress makes a duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable

from qwentui.core.dropfolder.claims import Claim
from qwentui.core.dropfolder.stability import file_sha256
from qwentui.core.store import Job, LedgerEntry, Store

OUTCOME_DONE = "done"
OUTCOME_FAILED = "failed"


def ledger_key(rule: str, digests: list[str]) -> str:
    """The ledger key of a drop of rule `rule` whose image(s) have these sha256 digests."""
    content = digests[0] if len(digests) == 1 else hashlib.sha256(("pair:" + ":".join(digests)).encode()).hexdigest()
    # the same formula as migrations.V7_LEDGER_RULE, which moved the keys written before the rule was part of them
    return hashlib.sha256(f"rule:{rule}:{content}".encode()).hexdigest()


def source_of(claim: Claim) -> str:
    return f"drop:{claim.rule.name}"


def source_path_of(claim: Claim) -> str:
    """The job's `source_path`: the claimed first image, which is also how a crashed claim finds its job."""
    return str(claim.images[0])


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._claiming = asyncio.Lock()  # a look at the earlier claim and the takeover are one step

    async def key_of(self, claim: Claim) -> str:
        digests = [await asyncio.to_thread(file_sha256, p) for p in claim.images]
        claim.sha = ledger_key(claim.rule.name, digests)
        return claim.sha

    async def claim(self, claim: Claim, *, recovering: bool = False) -> LedgerEntry | None:
        """Claim the drop's bytes; None when this drop now owns them, else the earlier owner (a duplicate).

        When `recovering`, a row left without a job id by a crash is taken over: its own drop is still in
        `.processing/` (this one, or another copy of the same bytes; either way one job results). A row whose
        job failed is taken over too (`claim.previous` keeps it, so the user is told): a new attempt.
        """
        sha = claim.sha
        assert sha is not None
        async with self._claiming:
            if await self.store.ledger_claim(sha, claim.rule.name, claim.label):
                return None
            earlier = await self.store.ledger_get(sha)
            if earlier is None:  # forgotten in between: try once more
                if await self.store.ledger_claim(sha, claim.rule.name, claim.label):
                    return None
                return await self.store.ledger_get(sha)
            if earlier.job_id is None and earlier.outcome is None and recovering:
                await self.store.ledger_set(sha, rule=claim.rule.name, original_name=claim.label)
                return None
            if earlier.outcome == OUTCOME_FAILED:
                # forget, then claim afresh (a new claim time: recovery looks for its job from then on)
                await self.store.ledger_forget(sha)
                if await self.store.ledger_claim(sha, claim.rule.name, claim.label):
                    claim.previous = earlier
                    return None
                return await self.store.ledger_get(sha)
            return earlier

    async def record_job(self, claim: Claim, job: Job) -> None:
        assert claim.sha is not None
        claim.job_id = job.id
        await self.store.ledger_set(claim.sha, job_id=job.id)

    async def release(self, claim: Claim) -> None:
        """Nothing was submitted for this drop: the same bytes may be dropped again."""
        if claim.sha is not None:
            await self.store.ledger_forget(claim.sha)

    async def finish(self, claim: Claim, outcome: str, path: str | None, reason: str | None) -> None:
        if claim.sha is not None and await self.store.ledger_get(claim.sha) is not None:
            fields = {"job_id": claim.job_id} if claim.job_id is not None else {}
            await self.store.ledger_set(claim.sha, outcome=outcome, outcome_path=path, reason=reason, **fields)

    async def open_entries(self) -> list[LedgerEntry]:
        return await self.store.ledger_open()

    async def jobs_by_source_path(self, since: float, rules: Iterable[str]) -> dict[str, Job]:
        """Drop jobs created since `since`, by `source_path` (finds a job whose id a crash kept unrecorded)."""
        sources = {f"drop:{r}" for r in rules}
        found: dict[str, Job] = {}
        for job in await self.store.changed_since(since - 1.0):
            if job.source in sources and job.source_path:
                found.setdefault(job.source_path, job)
        return found
