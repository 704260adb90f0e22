"""While the TUI runs, log records go to a file and errors to a toast, never to the terminal it draws on."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from qwentui.tui.log_sink import TOAST_AGAIN_AFTER, ToastErrors, logs_to_file


async def test_records_go_to_the_file_and_errors_to_one_toast_a_minute(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "data" / "qwentui.log"
    toasts: list[str] = []
    root = logging.getLogger()
    before = list(root.handlers)
    log = logging.getLogger("qwentui.core.engine")
    with logs_to_file(log_file, toasts.append):
        log.warning("drop folders not started: no such folder")
        for _ in range(3):
            log.error("engine loop track failed\nTraceback (most recent call last): ...")
        in_a_thread = threading.Thread(target=log.error, args=("a worker thread's error",))
        in_a_thread.start()
        in_a_thread.join()
    assert root.handlers == before  # as it was once the app is gone
    written = log_file.read_text(encoding="utf-8")
    assert log_file.stat().st_mode & 0o777 == 0o600  # private, as the database is: a record may quote a prompt
    assert "WARNING qwentui.core.engine: drop folders not started" in written
    assert written.count("engine loop track failed") == 3 and "a worker thread's error" in written
    assert toasts == [f"engine loop track failed (details in {log_file})"]  # the first line, once
    assert capfd.readouterr().err == ""  # nothing drawn over the screen


async def test_the_same_error_is_toasted_again_after_a_minute() -> None:
    now = [0.0]
    toasts: list[str] = []
    handler = ToastErrors(toasts.append, Path("qwentui.log"), clock=lambda: now[0])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "the store is busy", None, None)
    handler.handle(record)
    now[0] = TOAST_AGAIN_AFTER - 1
    handler.handle(record)
    now[0] = TOAST_AGAIN_AFTER + 1
    handler.handle(record)
    assert toasts == ["the store is busy (details in qwentui.log)"] * 2
