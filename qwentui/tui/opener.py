"""Open a file or folder in the system's viewer (xdg-open on Linux and BSD, open on macOS, start on Windows);
a video in mpv when it is installed (it plays at once, whatever the desktop's file associations say)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv"})


def opener_command() -> list[str] | None:
    if sys.platform == "darwin":
        return ["open"] if shutil.which("open") else None
    if sys.platform == "win32":
        return ["cmd", "/c", "start", ""]
    found = shutil.which("xdg-open")
    return [found] if found else None


def open_in_system(path: Path) -> str | None:
    """Start the viewer for `path` in the background; None on success, else a sentence saying why not."""
    if not path.exists():
        return f"{path} does not exist (any more)"
    command = opener_command()
    if path.suffix.lower() in VIDEO_SUFFIXES and (mpv := shutil.which("mpv")):
        command = [mpv, "--really-quiet"]
    if command is None:
        return f"no system viewer found (install xdg-utils for xdg-open); the file is at {path}"
    try:
        # detached and silent: the viewer must not write over the TUI nor die with it
        subprocess.Popen(
            [*command, os.fspath(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return f"could not start {command[0]}: {exc.strerror or exc}"
    return None
