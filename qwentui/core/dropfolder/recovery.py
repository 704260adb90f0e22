"""Start-up: finish the drops a crash (or a kill -9) left in `.processing/`, without submitting anything twice.

For each drop found there (grouped by its claim token) the ledger is asked by sha256:

* it names a job whose input is this very file: follow that job (it may even be over already);
* it names a job for another file with the same bytes: this one is a duplicate;
* it has no job id, or there is no row: the crash came before the job was recorded. A job created just
  before the crash is found by its `source_path` and adopted; otherwise the job is created now.

Drops whose job was found are handled first, so a second copy of the same bytes sees the recorded job and
becomes a duplicate instead of a second job. Ledger rows left open whose files are gone are closed: followed
to their job's end when they have one, released when nothing was ever sent.
"""

from __future__ import annotations

import asyncio
import logging

from qwentui.core.dropfolder.claims import Claim, processing_groups
from qwentui.core.dropfolder.completion import Completion
from qwentui.core.dropfolder.ledger import Ledger, source_path_of
from qwentui.core.dropfolder.rules import Rule
from qwentui.core.dropfolder.status import StatusBoard
from qwentui.core.dropfolder.submission import Submission
from qwentui.core.store import Job, LedgerEntry

log = logging.getLogger(__name__)


async def recover(
    rules: list[Rule], ledger: Ledger, submission: Submission, completion: Completion, board: StatusBoard
) -> int:
    """Resume every drop in the rules' `.processing/` folders; returns how many were found."""
    groups = [g for rule in rules for g in await asyncio.to_thread(processing_groups, rule)]
    entries = [e for e in await ledger.open_entries() if e.rule in {r.name for r in rules}]
    unrecorded = [e.claimed_at for e in entries if e.job_id is None]
    existing = await ledger.jobs_by_source_path(min(unrecorded), [r.name for r in rules]) if unrecorded else {}
    groups.sort(key=lambda g: source_path_of(g) not in existing)
    seen: set[str] = set()
    for claim in groups:
        try:
            key = await ledger.key_of(claim)
        except OSError:
            key = ""
        seen.add(key)
        entry = await ledger.store.ledger_get(key) if key else None
        job = await ledger.store.get_job(entry.job_id) if entry and entry.job_id is not None else None
        if job is not None and job.source_path == source_path_of(claim):
            _follow(claim, job, completion, board)
        else:
            await submission.submit(claim, verified=False, recovering=True, existing=existing)
    for entry in entries:
        if entry.sha256 not in seen:
            await _orphan(entry, rules, ledger, completion)
    if groups:
        log.info("drop folder: resumed %d drop(s) left in .processing/", len(groups))
    return len(groups)


def _follow(claim: Claim, job: Job, completion: Completion, board: StatusBoard) -> None:
    claim.job_id = job.id
    board.event(claim.rule.name, f"{claim.label}: resumed, following job {job.id}", in_flight=1)
    completion.follow(claim)


async def _orphan(entry: LedgerEntry, rules: list[Rule], ledger: Ledger, completion: Completion) -> None:
    """An open ledger row whose files left `.processing/` (moved by the user)."""
    rule = next(r for r in rules if r.name == entry.rule)
    if entry.job_id is None:
        await ledger.store.ledger_forget(entry.sha256)  # nothing was sent: the bytes may come again
        return
    claim = Claim(rule, "", entry.original_name, [], sha=entry.sha256, job_id=entry.job_id)
    completion.board.event(rule.name, f"{entry.original_name}: file gone, following job {entry.job_id}", in_flight=1)
    completion.follow(claim)
