"""Telling the service which drop-folder paths may have changed: a scan, OS events, and periodic rescans.

Events only say "look at this path"; they never mean "this file is complete" (a slow copy sends `added` after
its first kilobyte). Three sources feed the same callback, and the service treats them alike:

* a scan at start-up, for files that arrived while qwentui was not running;
* watchfiles `awatch` events, batched (`debounce`/`step`), non-recursive, so moves into `.processing/`,
  `done/`, `failed/` and `duplicates/` do not echo back;
* a full rescan every `rescan` seconds and after any watcher error, because inotify can overflow and a
  watcher restart leaves a gap (paperless-ngx #13011).

Network mounts (NFS, SMB, FUSE, 9p, WSL drvfs) deliver no events for changes made by other machines, so
polling (`force_polling=True`) is used for them, or for every folder when `poll` > 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from qwentui.core.config import private_dir
from qwentui.core.dropfolder.stability import Kind, classify

log = logging.getLogger(__name__)

NETWORK_FS = ("nfs", "nfs4", "cifs", "smb", "smbfs", "smb3", "9p", "drvfs", "afpfs", "sshfs", "davfs")
DEFAULT_POLL = 2.0  # seconds between polls when a network mount forces polling


def network_filesystem(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The filesystem type of `path` when it is a network or FUSE mount (no inotify events), else None."""
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
        target = str(path.resolve())
    except OSError:
        return None
    best, fstype = "", ""
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, fstype = point, parts[2]
    # fuse.* (sshfs, rclone, gvfs...) may be remote; fuseblk (local NTFS/exFAT) and fusectl are not.
    if fstype.startswith(NETWORK_FS) or (fstype.startswith("fuse.") and fstype != "fusectl"):
        return fstype
    return None


def scan(folders: list[Path]) -> set[Path]:
    """Every non-ignored regular file or link directly in `folders` (subfolders are never entered)."""
    found: set[Path] = set()
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if classify(entry.name) is Kind.IGNORE:
                        continue
                    if entry.is_symlink() or entry.is_file(follow_symlinks=False):
                        found.add(Path(entry.path))
        except OSError as exc:  # a folder removed or unreadable: the next rescan tries again
            log.warning("cannot scan drop folder %s: %s", folder, exc)
    return found


class FolderWatcher:
    """Calls `on_paths` with sets of paths to look at, until cancelled."""

    def __init__(
        self,
        folders: list[Path],
        on_paths: Callable[[set[Path]], None],
        *,
        poll: float = 0.0,
        rescan: float = 60.0,
        debounce_ms: int = 400,
        step_ms: int = 50,
    ) -> None:
        self.folders = list(folders)
        self.on_paths = on_paths
        self.poll = poll
        self.rescan = rescan
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.polling = poll > 0
        self.error: str | None = None  # the last watcher error, for the status panel
        # When the last full scan handed to `on_paths` began (monotonic): every file in the folders by then was
        # listed. Lets a caller (a test) know that files written before some moment have been looked for.
        self.last_scan = -math.inf
        self._parents = {f.resolve() for f in self.folders} | set(self.folders)
        self._kick = asyncio.Event()

    def rescan_now(self) -> None:
        self._kick.set()

    async def run(self) -> None:
        poll = self.poll
        if not poll:
            for folder in self.folders:
                fstype = network_filesystem(folder)
                if fstype:
                    log.info("drop folder %s is on %s: polling every %ss", folder, fstype, DEFAULT_POLL)
                    poll = DEFAULT_POLL
        self.polling = poll > 0
        began = time.monotonic()
        self._scanned(began, scan(self.folders))
        rescans = asyncio.create_task(self._rescan_loop(), name="drop-rescan")
        try:
            await self._watch_loop(poll)
        finally:
            rescans.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rescans

    async def _rescan_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.rescan or None)
            self._kick.clear()
            began = time.monotonic()
            self._scanned(began, await asyncio.to_thread(scan, self.folders))

    def _scanned(self, began: float, paths: set[Path]) -> None:
        self.on_paths(paths)
        self.last_scan = began

    async def _watch_loop(self, poll: float) -> None:
        while True:
            for folder in self.folders:  # a folder deleted by the user comes back (as on first use)
                with contextlib.suppress(OSError):
                    private_dir(folder)
            folders = [f for f in self.folders if f.is_dir()]
            try:
                if folders:
                    async for changes in awatch(
                        *folders,
                        watch_filter=self._filter,
                        recursive=False,
                        debounce=self.debounce_ms,
                        step=self.step_ms,
                        force_polling=poll > 0 or None,
                        poll_delay_ms=int(poll * 1000) or 300,
                        ignore_permission_denied=True,
                    ):
                        self.on_paths({Path(p) for _, p in changes})
                self.error = None if folders else "no drop folder exists"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a folder deleted under the watcher, inotify limits: retry, rescan
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("drop-folder watcher stopped (%s); restarting", self.error)
            self.rescan_now()  # events may have been missed while the watcher was down
            await asyncio.sleep(1.0)

    def _filter(self, change: Change, path: str) -> bool:
        return self._wanted(change, path)  # looked up per call, so a test can make the watcher deaf

    def _wanted(self, change: Change, path: str) -> bool:
        p = Path(path)
        return p.parent in self._parents and classify(p.name) is not Kind.IGNORE
