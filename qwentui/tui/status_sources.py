"""What the status bar shows beyond the counts, read from the store only when the change feed says it changed:
the running batches' progress (a changed job of a batch: its counts again) and the money spent today and this
month (a job's actual cost appeared or changed). Time alone changes the spend only when the day turns, and the
caps only when the settings file changes: the tick looks at those two, which costs no query.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from qwentui.core.budget import Budget, day_start, month_start
from qwentui.core.engine import Engine
from qwentui.core.states import ACTIVE, TERMINAL, JobState
from qwentui.core.store import Job, Store
from qwentui.tui.widgets.status_bar import BatchProgress, Spend

RECENT_BATCHES = 20  # at start-up, the newest batches looked at for one still running
REMEMBERED_COSTS = 10_000  # jobs whose last seen cost is kept, so a change of another field reads nothing


@dataclass(frozen=True)
class FinishedBatch:
    batch_id: int
    counts: dict[JobState, int]


class StatusSources:
    def __init__(self, store: Store, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.since = time.time()  # batches made before this and ending in one refresh are history, not news
        self._running: dict[int, BatchProgress] = {}
        self._costs: OrderedDict[int, float | None] = OrderedDict()
        self._day = 0.0
        self._budget: Budget | None = None

    # ---- batches ----------------------------------------------------------------------------------------

    async def load_batches(self) -> list[BatchProgress]:
        for batch in await self.store.batches(limit=RECENT_BATCHES):
            counts = await self.store.batch_counts(batch.id)
            if any(counts.get(state, 0) for state in ACTIVE):
                self._running[batch.id] = _progress(batch.id, counts)
        return self.batches()

    def batches(self) -> list[BatchProgress]:
        """The running batches, newest first."""
        return [self._running[i] for i in sorted(self._running, reverse=True)]

    async def batch_changes(self, changed: list[Job]) -> tuple[bool, list[FinishedBatch]]:
        """Read again the batches these jobs belong to: (whether the progress shown changed, batches that just
        ended: seen running, or made while the app runs and ended within one refresh)."""
        touched: dict[int, list[Job]] = {}
        for job in changed:
            if job.batch_id is not None:
                touched.setdefault(job.batch_id, []).append(job)
        if not touched:
            return False, []
        finished: list[FinishedBatch] = []
        before = self.batches()
        for batch_id, jobs in touched.items():
            counts = await self.store.batch_counts(batch_id)
            if any(counts.get(state, 0) for state in ACTIVE):
                self._running[batch_id] = _progress(batch_id, counts)
            elif self._running.pop(batch_id, None) is not None or any(
                job.created_at >= self.since and job.state in TERMINAL and not job.deleted for job in jobs
            ):
                finished.append(FinishedBatch(batch_id, counts))
        return self.batches() != before, finished

    # ---- spend ------------------------------------------------------------------------------------------

    def cost_changed(self, changed: list[Job]) -> bool:
        """Whether one of these jobs got (or changed) its actual cost since it was last seen."""
        news = False
        for job in changed:
            if job.cost_actual is None and job.id not in self._costs:
                continue
            if self._costs.get(job.id) != job.cost_actual or job.id not in self._costs:
                news = True
            self._costs[job.id] = job.cost_actual
            self._costs.move_to_end(job.id)
            if len(self._costs) > REMEMBERED_COSTS:
                self._costs.popitem(last=False)
        return news

    def period_or_caps_changed(self) -> bool:
        """The day turned or the settings file's caps changed since the spend was last read (no query)."""
        return day_start(self.clock()) != self._day or self.engine.budget.budget() != self._budget

    async def spend(self) -> Spend:
        now = self.clock()
        self._day = day_start(now)
        self._budget = self.engine.budget.budget()
        today: dict[str, float] = {}
        month: dict[str, float] = {}
        for total in await self.store.spend(since=month_start(now)):
            month[total.currency] = month.get(total.currency, 0.0) + total.actual
        for total in await self.store.spend(since=self._day):
            today[total.currency] = today.get(total.currency, 0.0) + total.actual
        return Spend(
            today=today,
            month=month,
            daily_cap=self._budget.daily,
            monthly_cap=self._budget.monthly,
            currency=self.engine.budget.currency,
        )


def _progress(batch_id: int, counts: dict[JobState, int]) -> BatchProgress:
    total = sum(counts.values())
    return BatchProgress(batch_id, total - sum(counts.get(state, 0) for state in ACTIVE), total)
