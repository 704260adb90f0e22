"""The change feed: every committed change to a job, whoever made it, handed to every subscriber as batches of Jobs.

Where changes come from, and how the feed hears of them:

* this process (the engine's loops, the user's actions, the drop folder): the store calls the feed after each
  committed write that changed a job, so the feed wakes at once and no call site has to announce anything;
* another process writing the same database: the reader connection's `PRAGMA data_version` moves when another
  connection commits; the feed asks about once a second (`poll`), which reads no rows.

Either way the feed then reads `store.changed_since(last stamp)` once and offers that batch to every
subscription. Nothing reads a job row while nothing changes.

A subscription keeps at most one pending Job per job id (the newest version replaces the older one), so a slow
subscriber costs memory bounded by the number of distinct jobs that changed, never by the number of changes;
it still sees every job's latest state, and a job's last change always comes after its earlier ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from types import TracebackType

from qwentui.core.store import Job, Store, StoreClosed, StoreError

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between two looks at data_version (changes made by other processes)
PAGE = 5000  # jobs read per query; a larger burst is read in several
GAP = 0.05  # seconds at least between two reads: a burst of commits (100 jobs a second) is read in a few batches


class Subscription:
    """What one consumer has not taken yet, newest version per job, in the order of their last change."""

    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._pending: dict[int, Job] = {}
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._pending.pop(job.id, None)  # re-insert: the dict's order is the order of the last change
            self._pending[job.id] = job
        if self._pending:
            self._ready.set()

    def take(self) -> list[Job]:
        """What is pending now (possibly nothing), without waiting."""
        jobs = list(self._pending.values())
        self._pending.clear()
        self._ready.clear()
        return jobs

    async def get(self, timeout: float | None = None) -> list[Job]:
        """The next batch; an empty list when `timeout` passed first or the subscription was closed."""
        if not self._pending and not self.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
        return self.take()

    async def wait(self, *also: asyncio.Event) -> None:
        """Until a batch is pending (or the subscription closed), or one of `also` is set (a consumer's own
        wake-ups, e.g. "a new job to follow"). Takes nothing."""
        if self._pending or self.closed or any(e.is_set() for e in also):
            return
        waits = [asyncio.ensure_future(e.wait()) for e in (self._ready, *also)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def close(self) -> None:
        self.closed = True
        self._ready.set()  # a consumer waiting in get() returns
        self._feed.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[list[Job]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[list[Job]]:
        while not self.closed:
            batch = await self.get()
            if batch:
                yield batch

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChangeFeed:
    """`start()` it once (the engine does), `subscribe()` as often as wanted, `stop()` at the end."""

    def __init__(self, store: Store, *, poll: float = POLL, gap: float = GAP) -> None:
        self.store = store
        self.poll = poll
        self.gap = gap
        self._subscriptions: list[Subscription] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one read at a time: the stamp moves in order
        self._stamp: float | None = None
        self.started_at: float | None = None  # the stamp the feed started from: earlier changes are history
        self._version: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self.looks = 0  # how many times the feed asked whether another process wrote (no rows read)
        self.reads = 0  # how many times job rows were read (tests: nothing is read while nothing changes)

    # ---- life cycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:  # idempotent, also for a second caller while the first is still starting
            return
        self._started = True
        self._version = await self.store.data_version()
        self._stamp = self.started_at = await self.store.latest_stamp()
        self.store.add_listener(self._wake.set)
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def stop(self) -> None:
        self._started = False
        self.store.remove_listener(self._wake.set)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sub in list(self._subscriptions):
            sub.close()

    async def __aenter__(self) -> ChangeFeed:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def subscribe(self) -> Subscription:
        """A new subscription: it receives every change committed from now on."""
        sub = Subscription(self)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    # ---- reading ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()
            try:
                if not self._wake.is_set():
                    self.looks += 1
                if self._wake.is_set() or await self.store.data_version() != self._version:
                    await self.flush()
                    await asyncio.sleep(self.gap)  # what commits meanwhile waits a moment and comes as one batch
            except StoreClosed:
                return
            except StoreError as exc:  # busy or damaged: look again at the next poll
                log.warning("change feed: %s", exc)

    async def flush(self) -> int:
        """Read what was committed until now and hand it out; returns how many jobs. After it returns, every
        change committed before the call is in every subscription (a consumer about to stop calls this)."""
        async with self._lock:
            self._wake.clear()
            # the version first: a commit landing during the read moves it again, so it is read next time; kept
            # only once the read succeeded, so a failed read (a busy database) is tried again at the next look
            version = await self.store.data_version()
            if self._stamp is None:
                self._stamp = await self.store.latest_stamp()
            total = 0
            while True:
                self.reads += 1
                jobs = await self.store.changed_since(self._stamp, limit=PAGE)
                if not jobs:
                    break
                self._stamp = jobs[-1].updated_at
                total += len(jobs)
                for sub in list(self._subscriptions):
                    sub.offer(jobs)
                if len(jobs) < PAGE:
                    break
            self._version = version
            return total
