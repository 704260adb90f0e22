"""The status board's running totals (taken, done, failed, duplicates per rule), kept in the store so that they
survive a restart.

The board counts synchronously, where things happen; this keeps the increments it has not written yet (one
number per rule and counter, so it stays small whatever the rate) and writes them in one transaction soon
after, and once more when the service stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from qwentui.core.dropfolder.status import StatusBoard
from qwentui.core.store import Store, StoreError

log = logging.getLogger(__name__)

KEPT = ("taken", "done", "failed", "duplicates")  # totals; the others (waiting, in flight) are live states


class CountKeeper:
    def __init__(self, store: Store, board: StatusBoard) -> None:
        self.store = store
        self.board = board
        self._unsaved: dict[tuple[str, str], int] = {}
        self._dirty = asyncio.Event()
        self._saving: asyncio.Future[None] | None = None
        board.count_listeners.append(self._counted)

    async def load(self) -> None:
        """Start the board from the totals in the store (what the rules did before this run)."""
        stored = await self.store.drop_counts()
        for rule in self.board.status.rules:
            kept = stored.get(rule.name, {})
            self.board.set(rule.name, **{c: kept.get(c, 0) + self._unsaved.get((rule.name, c), 0) for c in KEPT})

    def _counted(self, rule: str, counts: dict[str, int]) -> None:
        for counter, delta in counts.items():
            if counter in KEPT and delta:
                key = (rule, counter)
                self._unsaved[key] = self._unsaved.get(key, 0) + delta
                self._dirty.set()

    async def run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            # Shielded: the service stops this loop by cancelling it, and a save cut half-way would lose the
            # increments it had taken out of `_unsaved`. `flush` waits for it instead.
            self._saving = asyncio.ensure_future(self.save())
            await asyncio.shield(self._saving)

    async def flush(self) -> None:
        """Write every increment: after the save in progress (if any), the ones counted since."""
        if self._saving is not None and not self._saving.done():
            with contextlib.suppress(Exception):  # it logged its own failure and kept its increments
                await self._saving
        await self.save()

    async def save(self) -> None:
        unsaved, self._unsaved = self._unsaved, {}
        try:
            await self.store.add_drop_counts(unsaved)
        except StoreError as exc:  # busy or full: keep them for the next write
            log.warning("cannot save the drop-folder counts: %s", exc)
            for key, delta in unsaved.items():
                self._unsaved[key] = self._unsaved.get(key, 0) + delta
