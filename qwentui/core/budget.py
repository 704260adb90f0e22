"""Spending caps: a job that would cross one is not sent; it waits, with the reason, until the cap is raised or the
period turns.

    [budget]            # in the settings file; amounts in the billed region's currency (USD or CNY)
    daily = 5.0         # per local day
    monthly = 60.0      # per calendar month

and the per-batch cap of `qwentui batch --max-cost` (kept on the batch). What counts against a cap is what was
sent in the period: the actual cost of a finished job, the estimate of one still running (failed: 0). A job whose
price is unknown cannot be checked and is not held. The settings file is read again when it changes, so raising a
cap releases the held jobs at their next look (within `RECHECK` seconds), as does the turn of the day or month.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from qwentui.core.pricing import money
from qwentui.core.store import Job, Store

RECHECK = 30.0  # seconds between two looks at a held job (a raised cap is noticed within this)
CACHE = 1.0  # seconds a period's spend is reused; the jobs released meanwhile are added to it


@dataclass(frozen=True)
class Budget:
    daily: float | None = None
    monthly: float | None = None
    problems: tuple[str, ...] = ()


def load_budget(settings: Path | None) -> Budget:
    """The `[budget]` table (no caps when absent; a bad value is a problem and no cap)."""
    if settings is None or not settings.is_file():
        return Budget()
    try:
        data = tomllib.loads(settings.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Budget(problems=(f"{settings}: {exc}; no spending caps",))
    table = data.get("budget", {})
    if not isinstance(table, dict):
        return Budget(problems=("[budget] must be a table: daily = 5.0, monthly = 60.0",))
    caps: dict[str, float | None] = {}
    problems = []
    for key in ("daily", "monthly"):
        value = table.get(key)
        if value is None:
            caps[key] = None
        elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            caps[key] = float(value)
        else:
            caps[key] = None
            problems.append(f"[budget] {key} must be an amount >= 0, not {value!r}; no {key} cap")
    unknown = sorted(set(table) - {"daily", "monthly"})
    problems += [f"[budget] {key!r} is not a setting (daily, monthly)" for key in unknown]
    return Budget(caps["daily"], caps["monthly"], tuple(problems))


def day_start(now: float) -> float:
    local = datetime.fromtimestamp(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def month_start(now: float) -> float:
    local = datetime.fromtimestamp(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def next_turn(now: float) -> float:
    """The start of the next local day (a month always turns at a day's turn)."""
    return (datetime.fromtimestamp(day_start(now)) + timedelta(days=1, hours=1)).replace(hour=0).timestamp()


class BudgetGuard:
    """Says whether a job may be sent now under the caps, and why not. One per engine."""

    def __init__(
        self,
        store: Store,
        settings: Path | None,
        currency: str | None,
        clock: Callable[[], float] = time.time,
        budget: Budget | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.currency = currency
        self.clock = clock
        self._fixed = budget  # given directly (tests, callers without a settings file): never re-read
        self._budget = budget or Budget()
        self._stamp: int | None = None  # the settings file's mtime when it was read
        # what was sent, per period start or ("batch", id): (read at, amount + the estimates let through since)
        self._spent: dict[object, float] = {}
        self._read_at: dict[object, float] = {}
        # jobs let through that the store may not count yet (not SUBMITTING yet): id -> (estimate, batch id)
        self._sending: dict[int, tuple[float, int | None]] = {}
        self.recheck = RECHECK
        self._lock = asyncio.Lock()  # the submit workers ask at once: one answer at a time, or all would pass
        self._caps: dict[int, float | None] = {}  # batch id -> its --max-cost (set once, when it is queued)

    def budget(self) -> Budget:
        if self._fixed is not None or self.settings is None:
            return self._budget
        try:
            stamp: int | None = self.settings.stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            self._budget = load_budget(self.settings)
        return self._budget

    async def _spent_in(self, key: object, now: float) -> float:
        """Sent in the period (a float: its start) or batch (("batch", id)), with the jobs let through since."""
        if key not in self._spent or now - self._read_at[key] > CACHE:
            if self._sending:
                counted = await self.store.sent_among(list(self._sending))
                self._sending = {i: v for i, v in self._sending.items() if i not in counted}
            if isinstance(key, tuple):
                amount = await self.store.committed_cost(batch_id=key[1], currency=self.currency or "")
                amount += sum(price for price, batch in self._sending.values() if batch == key[1])
            else:
                assert isinstance(key, float)
                amount = await self.store.committed_cost(since=key, currency=self.currency or "")
                amount += sum(price for price, _ in self._sending.values())
            self._spent[key], self._read_at[key] = amount, now
        return self._spent[key]

    async def hold_reason(self, job: Job) -> str | None:
        """Why `job` must wait (a cap it would cross), or None to send it (its estimate is then counted)."""
        async with self._lock:
            return await self._hold_reason(job)

    async def _hold_reason(self, job: Job) -> str | None:
        budget = self.budget()
        price = job.cost_estimate
        if price is None or (job.cost_currency and self.currency and job.cost_currency != self.currency):
            return None
        now = self.clock()
        cur = self.currency
        keys: list[object] = []
        for cap, start, name, period in (
            (budget.daily, day_start(now), "daily", "day"),
            (budget.monthly, month_start(now), "monthly", "month"),
        ):
            if cap is None:
                continue
            keys.append(start)
            spent = await self._spent_in(start, now)
            if spent + price > cap + 1e-9:
                return (
                    f"held: the {name} budget is {money(cap, cur)}, {money(spent, cur)} is spent or running this "
                    f"{period} and this job is est. {money(price, cur)}; raise [budget] {name} in the settings "
                    f"file, or it is sent when the {period} turns"
                )
        if job.batch_id is not None:
            cap = await self._batch_cap(job.batch_id)
            if cap is not None:
                keys.append(("batch", job.batch_id))
                spent = await self._spent_in(keys[-1], now)
                if spent + price > cap + 1e-9:
                    return (
                        f"held: batch {job.batch_id} may cost at most {money(cap, cur)}, {money(spent, cur)} is "
                        f"spent or running and this job is est. {money(price, cur)}"
                    )
        if job.id not in self._sending:
            for key in keys:
                self._spent[key] += price
        self._sending[job.id] = (price, job.batch_id)  # counted here until the store counts it
        return None

    async def _batch_cap(self, batch_id: int) -> float | None:
        if batch_id not in self._caps:
            batch = await self.store.get_batch(batch_id)
            self._caps[batch_id] = batch.max_cost if batch is not None else None
        return self._caps[batch_id]

    def next_look(self) -> float:
        now = self.clock()
        return min(now + self.recheck, next_turn(now))
