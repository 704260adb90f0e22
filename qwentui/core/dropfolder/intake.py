"""From "this path may have changed" to a claimed drop: track, wait until stable, validate, pair, claim.

Paths come from the watcher (events, scans); each is tracked until it is taken, refused or gone. A round
looks at every tracked path of the active rules: a path whose size and mtime (and its sidecars') held still
for the quiet period is validated; a valid image is claimed by renaming it into `.processing/` and handed to
`Submission`. Rounds run one at a time, so a file is never taken twice by this process, and the claim is a
rename, so it cannot be taken twice by two processes either.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import claims
from qwentui.core.dropfolder.claims import PAIR_RE, drop_stem
from qwentui.core.dropfolder.rules import Rule
from qwentui.core.dropfolder.sidecar import sidecar_paths
from qwentui.core.dropfolder.stability import (
    Kind,
    Signature,
    StabilityTracker,
    Verdict,
    check_image,
    check_link,
    classify,
    signature,
)
from qwentui.core.dropfolder.status import StatusBoard
from qwentui.core.dropfolder.submission import Submission

log = logging.getLogger(__name__)

PARALLEL = 8  # drops validated and submitted at once (decoding runs in threads)


@dataclass
class Drop:
    """Files that become one job: one image, or both frames of a kf2v pair (first, then last)."""

    rule: Rule
    stem: str
    images: list[Path]
    sidecars: list[Path] = field(default_factory=list)


class Intake:
    def __init__(
        self,
        rules: list[Rule],
        submission: Submission,
        board: StatusBoard,
        *,
        quiet: float = 1.0,
        give_up: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self.submission = submission
        self.board = board
        self.give_up = give_up
        self.tracker = StabilityTracker(quiet, clock)
        self.active: Callable[[Rule], bool] = lambda rule: rule.enabled
        self._by_folder: dict[Path, Rule] = {}
        for rule in rules:
            self._by_folder[rule.folder] = rule
            self._by_folder[rule.folder.resolve()] = rule
        self._deferred: dict[Path, Signature] = {}  # looked unfinished with this signature: not re-checked
        self._limit = asyncio.Semaphore(PARALLEL)
        self.wake = asyncio.Event()
        self.rounds = 0  # rounds finished: two more mean a whole round looked at what was tracked before

    def rule_for(self, path: Path) -> Rule | None:
        return self._by_folder.get(path.parent)

    def on_paths(self, paths: set[Path]) -> None:
        """The watcher's callback: start (or restart) tracking these paths, forget the ones that are gone."""
        for path in paths:
            rule = self.rule_for(path)
            kind = classify(path.name)
            if rule is None or kind is Kind.IGNORE or (path.is_dir() and not path.is_symlink()):
                continue  # subfolders (the outcome folders, the user's own) are never taken
            if kind is Kind.SIDECAR:  # a sidecar changing restarts its image's quiet period
                for tracked in self.tracker.paths():
                    if tracked.parent == path.parent and drop_stem(rule, tracked.name) == path.stem:
                        self.tracker.touch(tracked)
            elif os.path.lexists(path):
                if path not in self.tracker:
                    self.tracker.touch(path)
            else:
                self._forget(path)
        self.wake.set()

    def _forget(self, path: Path) -> None:
        self.tracker.forget(path)
        self._deferred.pop(path, None)

    async def round(self) -> None:
        """Look at every tracked path once; take what is complete."""
        paths = [p for p in self.tracker.paths() if (r := self.rule_for(p)) is not None and self.active(r)]
        sigs = await asyncio.to_thread(_signatures, paths, self)
        ready: list[Path] = []
        for path in paths:
            sig = sigs[path]
            if sig is None:
                self._forget(path)
            elif self.tracker.look(path, sig) and not self._held(path, sig):
                ready.append(path)
        drops, refused = self._group(ready)
        jobs = [self._refuse(rule, path, reason) for rule, path, reason in refused]
        jobs += [self._take(drop) for drop in drops]
        self._count_waiting(exclude={p for d in drops for p in d.images} | {p for _, p, _ in refused})
        await asyncio.gather(*jobs)
        self._count_waiting()
        self.rounds += 1

    def _held(self, path: Path, sig: Signature) -> bool:
        """Still deferred: it looked unfinished and has not changed, nor been still for the give-up time."""
        held = self._deferred.get(path)
        if held is None:
            return False
        if held != sig:
            del self._deferred[path]
            return False
        return self.tracker.quiet_for(path) < self.give_up

    def _group(self, ready: list[Path]) -> tuple[list[Drop], list[tuple[Rule, Path, str]]]:
        drops: list[Drop] = []
        refused: list[tuple[Rule, Path, str]] = []
        halves: dict[tuple[Path, str], dict[int, Path]] = {}
        for path in sorted(ready):
            rule = self.rule_for(path)
            assert rule is not None
            if classify(path.name) is Kind.OTHER:
                refused.append((rule, path, check_image(path, rule).reason or "not an image"))
                continue
            stem = drop_stem(rule, path.name)
            if stem is None:
                refused.append(
                    (rule, path, "a first + last frame folder takes pairs named NAME_first.<ext> and NAME_last.<ext>")
                )
            elif rule.mode is Mode.KF2V:
                match = PAIR_RE.match(os.path.splitext(path.name)[0])
                which = 0 if match and match["which"].lower() == "first" else 1
                halves.setdefault((path.parent, stem), {}).setdefault(which, path)
            else:
                drops.append(Drop(rule, stem, [path]))
        for (folder, stem), pair in halves.items():
            if len(pair) == 2:  # a half waits (counted as waiting) until its partner is complete too
                rule = self._by_folder[folder]
                drops.append(Drop(rule, stem, [pair[0], pair[1]]))
        for drop in drops:
            drop.sidecars = [p for p in sidecar_paths(drop.images[0].parent, drop.stem) if p.is_file()]
        return drops, refused

    async def _refuse(self, rule: Rule, path: Path, reason: str) -> None:
        self._forget(path)
        stem = os.path.splitext(path.name)[0]
        try:
            await asyncio.to_thread(claims.refuse, rule, [path], stem, "failed", reason)
        except OSError as exc:
            log.warning("cannot move %s to failed/: %s", path, exc)
            return
        self.board.event(rule.name, f"{path.name}: failed: {reason}", failed=1)

    async def _take(self, drop: Drop) -> None:
        async with self._limit:
            checked = [_stat(p) for p in drop.images]
            verdicts = [await asyncio.to_thread(_verdict, p, drop.rule) for p in drop.images]
            for path, verdict in zip(drop.images, verdicts, strict=True):
                if verdict.ok:
                    continue
                quiet = self.tracker.quiet_for(path)
                if verdict.unfinished and quiet < self.give_up:
                    sig = self._signature(path)
                    if sig is not None:
                        self._deferred[path] = sig  # maybe still arriving; look again when it changes
                    return
                for p in drop.images:
                    self._forget(p)
                await self._refuse_drop(drop, path, verdict.reason or "the image cannot be used")
                return
            targets = {p: p.resolve() for p in drop.images if p.is_symlink()}
            for p in drop.images:
                self._forget(p)
            try:
                claim = await asyncio.to_thread(claims.claim, drop.rule, drop.stem, drop.images, drop.sidecars)
            except FileNotFoundError:
                return  # removed by the user (or claimed by another process) between the look and now
            except OSError as exc:
                log.warning("cannot claim %s: %s", drop.images[0], exc)
                return
            for claimed, original in zip(claim.images, drop.images, strict=True):
                if original in targets:
                    await asyncio.to_thread(claims.materialise_link, claimed, targets[original])
            # Written to between the check and the rename (a copy that paused longer than the quiet period):
            # check the claimed bytes again rather than trust the earlier verdict.
            changed = any(_stat(p) != c for p, c in zip(claim.images, checked, strict=True)) and not targets
            await self.submission.submit(claim, verified=not changed)

    def _signature(self, path: Path) -> Signature | None:
        rule = self.rule_for(path)
        return signature(_watched(path, rule)) if rule else None

    async def _refuse_drop(self, drop: Drop, bad: Path, reason: str) -> None:
        label = f"{bad.name}: {reason}" if len(drop.images) > 1 else reason
        try:
            await asyncio.to_thread(
                claims.refuse, drop.rule, [*drop.images, *drop.sidecars], drop.stem, "failed", label
            )
        except OSError as exc:
            log.warning("cannot move %s to failed/: %s", bad, exc)
            return
        self.board.event(drop.rule.name, f"{bad.name}: failed: {reason}", failed=1)

    def _count_waiting(self, exclude: set[Path] | None = None) -> None:
        counts = dict.fromkeys((r.name for r in self.rules), 0)
        for path in self.tracker.paths():
            rule = self.rule_for(path)
            if rule is not None and not (exclude and path in exclude):
                counts[rule.name] += 1
        for name, n in counts.items():
            self.board.set(name, waiting=n)


def _watched(path: Path, rule: Rule) -> list[Path]:
    """The image and the sidecars that would travel with it: a change to any restarts the quiet period."""
    stem = drop_stem(rule, path.name)
    return [path, *(sidecar_paths(path.parent, stem) if stem else [])]


def _signatures(paths: list[Path], intake: Intake) -> dict[Path, Signature | None]:
    out: dict[Path, Signature | None] = {}
    for path in paths:
        rule = intake.rule_for(path)
        out[path] = signature(_watched(path, rule)) if rule else None
    return out


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _verdict(path: Path, rule: Rule) -> Verdict:
    why = check_link(path, rule.folder)
    return Verdict(why) if why else check_image(path, rule)
