"""The drop-folder service: watch the rules' folders, submit complete images, and file away finished drops.

    service = DropFolderService.from_settings(engine, store, load_settings(paths.settings, paths.drop))
    await service.start()        # creates the folders, resumes `.processing/`, scans, watches
    service.pause("animate")     # files stay where they are until resume()
    service.status()             # DropStatus for a UI panel
    await service.stop()

It runs next to an `Engine` and only acts while that engine holds the lease: two processes on one database
would otherwise race for the same files (the rename-claim would keep them from submitting twice, but one
could file away the other's drops). A process that is not the leader waits and takes over with the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from qwentui.core.dropfolder.claims import ensure_folders
from qwentui.core.dropfolder.completion import Completion
from qwentui.core.dropfolder.counts import CountKeeper
from qwentui.core.dropfolder.intake import Intake
from qwentui.core.dropfolder.ledger import Ledger
from qwentui.core.dropfolder.recovery import recover
from qwentui.core.dropfolder.rules import DropSettings, Rule
from qwentui.core.dropfolder.status import DropStatus, RuleStatus, StatusBoard
from qwentui.core.dropfolder.submission import Submission
from qwentui.core.dropfolder.watcher import FolderWatcher
from qwentui.core.engine import Engine
from qwentui.core.store import Store

log = logging.getLogger(__name__)


class DropFolderService:
    def __init__(
        self,
        engine: Engine,
        store: Store,
        rules: list[Rule],
        *,
        quiet: float = 1.0,
        rescan: float = 60.0,
        poll: float = 0.0,
        give_up: float | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.rules = list(rules)
        self.tick = min(0.25, max(0.05, quiet / 4))
        self.board = StatusBoard(
            [
                RuleStatus(r.name, r.folder, r.mode.value, r.model, state="watching" if r.enabled else "disabled")
                for r in rules
            ]
        )
        self.ledger = Ledger(store)
        self.counts = CountKeeper(store, self.board)
        self.completion = Completion(store, self.ledger, self.board, self.rules)
        self.submission = Submission(engine, self.ledger, self.board, self.completion.follow)
        # A file that looks unfinished (empty, truncated) is given this long unchanged before it is refused.
        give_up = max(10.0, 5 * quiet) if give_up is None else give_up
        self.intake = Intake(self.rules, self.submission, self.board, quiet=quiet, give_up=give_up)
        self.intake.active = self._active
        self.watcher = FolderWatcher(
            [r.folder for r in self.rules if r.enabled], self.intake.on_paths, poll=poll, rescan=rescan
        )
        self._paused: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = asyncio.Event()  # recovery finished and the watcher runs

    @classmethod
    def from_settings(cls, engine: Engine, store: Store, settings: DropSettings, **options: Any) -> DropFolderService:
        return cls(
            engine, store, settings.rules, quiet=settings.quiet, rescan=settings.rescan, poll=settings.poll, **options
        )

    # ---- life cycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the folders and start in the background (recovery first, once this process leads)."""
        for rule in self.rules:
            if rule.enabled:
                await asyncio.to_thread(ensure_folders, rule)
        self.board.status.running = True
        self._tasks.append(asyncio.create_task(self._main(), name="drop-main"))

    async def wait_started(self, timeout: float | None = None) -> None:
        """Until start-up recovery is over and the folders are watched (tests, `qwentui drop --once`)."""
        await asyncio.wait_for(self._started.wait(), timeout)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded, as the engine's stop: a loop stuck in a slow step must not keep the app from quitting
            done, stuck = await asyncio.wait(self._tasks, timeout=5.0)
            for task in done:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
            for task in stuck:
                log.warning("drop-folder loop %s did not stop within 5 s", task.get_name())
        self._tasks.clear()
        if self.completion.changes is not None:
            self.completion.changes.close()
            with contextlib.suppress(Exception):  # the last counts; a closed store just loses them
                await self.counts.flush()
        self.board.status.running = False

    async def __aenter__(self) -> DropFolderService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _main(self) -> None:
        while not self.engine.leader:  # another process runs the engine (and its drop folders)
            await asyncio.sleep(1.0)
        self.completion.changes = self.engine.subscribe()  # before recovery follows jobs: no change is missed
        await self.counts.load()
        await recover(self.rules, self.ledger, self.submission, self.completion, self.board)
        loops: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("drop-counts", self.counts.run),
            ("drop-watch", self.watcher.run),
            ("drop-intake", self._intake_loop),
            ("drop-completion", self.completion.run),
        ]
        for name, loop in loops:
            self._tasks.append(asyncio.create_task(_guard(name, loop), name=name))
        self._started.set()

    async def _intake_loop(self) -> None:
        wake = self.intake.wake
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.tick)
            wake.clear()
            if self.engine.leader:
                await self.intake.round()
            else:
                await asyncio.sleep(1.0)

    # ---- control ------------------------------------------------------------------------------------------

    def _active(self, rule: Rule) -> bool:
        return rule.enabled and rule.name not in self._paused

    def _rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"no drop rule named {name!r}; rules: {', '.join(r.name for r in self.rules)}")

    def pause(self, name: str) -> None:
        """Stop taking new files from this rule's folder (jobs already submitted still finish)."""
        self._rule(name)
        self._paused.add(name)
        self.board.event(name, "paused")

    def resume(self, name: str) -> None:
        self._rule(name)
        self._paused.discard(name)
        self.board.event(name, "resumed")
        self.rescan()

    def rescan(self) -> None:
        """Look at every file in the folders again now (as the periodic rescan does)."""
        self.watcher.rescan_now()

    def status(self) -> DropStatus:
        leader = self.engine.leader
        for rule in self.rules:
            state = (
                "disabled"
                if not rule.enabled
                else "paused"
                if rule.name in self._paused
                else "watching"
                if leader
                else "waiting"
            )
            self.board.set(rule.name, state=state)
        held = self.engine.held()  # jobs a spending cap keeps queued: their drops say so
        per_rule = dict.fromkeys((rule.name for rule in self.rules), 0)
        for job_id, claim in list(self.completion.inflight.items()) if held else []:
            if job_id in held:
                per_rule[claim.rule.name] = per_rule.get(claim.rule.name, 0) + 1
        for name, count in per_rule.items():
            self.board.set(name, held=count)
        self.board.status.polling = self.watcher.polling
        self.board.status.watcher_error = self.watcher.error
        return self.board.snapshot()

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(rule_name)` whenever that rule's status changes (a UI refresh hook)."""
        self.board.listeners.append(listener)


async def _guard(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Run a loop forever; an unexpected error is logged and the loop restarts after a breath."""
    while True:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or a vanished folder must not stop the drop folder for good
            log.exception("drop-folder loop %s failed", name)
            await asyncio.sleep(1.0)
        else:
            await asyncio.sleep(0.1)  # a loop that returned (none should): go round again
