"""Where log records go while the TUI owns the terminal.

A record written to stderr would be drawn over the screen (Textual does not own the stream a logging handler
holds), so for the app's lifetime the root logger writes to a file next to the database instead, and an error
is also told in a toast that names the file. Toasts come only from the app's own thread and event loop (a
worker thread's record is in the file) and the same message at most once a minute, so a loop failing every
second does not bury the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TOAST_AGAIN_AFTER = 60.0  # seconds before the same message is toasted again


class PrivateFileHandler(logging.FileHandler):
    """A log file only its user reads (0600), as the database and the outputs: a record may quote a prompt."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return io.TextIOWrapper(io.FileIO(fd, "a"), encoding=self.encoding, errors=self.errors)


class ToastErrors(logging.Handler):
    """Hands each error record's first line to `notify` (the app's), once a minute per message."""

    def __init__(self, notify: Callable[[str], None], log_file: Path, clock: Callable[[], float] = time.monotonic):
        super().__init__(level=logging.ERROR)
        self._notify = notify
        self._log_file = log_file
        self._clock = clock
        self._told: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        first = (record.getMessage().splitlines() or [""])[0][:200]
        now = self._clock()
        if now - self._told.get(first, -TOAST_AGAIN_AFTER) < TOAST_AGAIN_AFTER:
            return
        self._told[first] = now
        try:
            self._notify(f"{first} (details in {self._log_file})")
        except Exception:  # a toast must never turn a logged error into a crash
            self.handleError(record)


@contextlib.contextmanager
def logs_to_file(log_file: Path, notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Route the root logger to `log_file` (and errors to `notify`) until the block ends; then as before."""
    root = logging.getLogger()
    before = list(root.handlers)
    handlers: list[logging.Handler] = []
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file: logging.Handler = PrivateFileHandler(log_file, encoding="utf-8", delay=True)
    except OSError:
        to_file = logging.NullHandler()  # no room for a log: nothing is written anywhere, never on the screen
    to_file.setFormatter(logging.Formatter(FORMAT))
    handlers.append(to_file)
    if notify is not None:
        handlers.append(ToastErrors(notify, log_file))
    root.handlers = handlers
    try:
        yield
    finally:
        root.handlers = before
        to_file.close()
