"""Which changed jobs deserve a notification, once each, and how to say it without a flood.

A thousand jobs may finish in one refresh; a thousand toasts would bury the screen, so more than a few at once
become one summary. Only endings seen while the app runs are announced (not history at start-up), and each
(job, state) only once even if the job changes again later (a download retry, a deletion). A whole batch that
ends is one more note, with its tally; where the settings allow, it also rings the bell and goes to the desktop
(`notify-send`, where it exists).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qwentui.core.states import JobState
from qwentui.core.store import Job
from qwentui.tui.presentation import one_line

ANNOUNCED = {
    JobState.DONE: ("finished", "information"),
    JobState.FAILED: ("failed", "error"),
    JobState.REJECTED: ("was refused", "error"),
    JobState.EXPIRED: ("expired", "warning"),
    JobState.NEEDS_USER: ("needs you", "warning"),
}
MAX_SINGLE = 3  # more endings than this in one refresh become one summary


@dataclass(frozen=True)
class Note:
    message: str
    severity: str  # Textual's: information | warning | error
    bell: bool


class Notifier:
    def __init__(self, since: float) -> None:
        self.since = since  # endings before this (e.g. the app's start) are history, not news
        self._seen: set[tuple[int, JobState]] = set()

    def notes(self, changed: Iterable[Job]) -> list[Note]:
        endings: list[Job] = []
        for job in changed:
            if job.state not in ANNOUNCED or job.updated_at < self.since or (job.id, job.state) in self._seen:
                continue
            self._seen.add((job.id, job.state))
            endings.append(job)
        if not endings:
            return []
        bad = any(ANNOUNCED[j.state][1] != "information" for j in endings)
        if len(endings) > MAX_SINGLE:
            counts: dict[str, int] = {}
            for job in endings:
                word = ANNOUNCED[job.state][0]
                counts[word] = counts.get(word, 0) + 1
            summary = ", ".join(f"{n} {word}" for word, n in counts.items())
            return [Note(f"{len(endings)} jobs: {summary}", "warning" if bad else "information", True)]
        notes = []
        for job in endings:
            word, severity = ANNOUNCED[job.state]
            if job.error_message and severity != "information":
                detail = f": {one_line(job.error_message, 120)}"
            elif job.prompt.strip():
                detail = f" — {one_line(job.prompt, 60)}"
            else:  # no prompt (an animation, an edit): say what it was rather than leave a dash hanging
                detail = f" ({job.mode.value}, {job.model})"
            notes.append(Note(f"Job {job.id} {word}{detail}", severity, True))
        return notes

    def batch_note(self, batch_id: int, counts: Mapping[JobState, int]) -> Note:
        """A whole batch ended: how many of its jobs finished, and how many did not (and how)."""
        total = sum(counts.values())
        others = [
            f"{n} {ANNOUNCED[state][0] if state in ANNOUNCED else state.value.lower()}"
            for state, n in sorted(counts.items(), key=lambda item: -item[1])
            if n and state is not JobState.DONE
        ]
        done = counts.get(JobState.DONE, 0)
        message = f"Batch {batch_id} is done: {done} of {total} job{'s' if total != 1 else ''} finished"
        if others:
            message += f" ({', '.join(others)})"
        return Note(message, "information" if not others else "warning", True)


async def desktop_notify(title: str, message: str) -> bool:
    """Show a desktop notification with `notify-send` when the system has it; False when it could not."""
    program = shutil.which("notify-send")
    if program is None:
        return False
    with contextlib.suppress(OSError):
        process = await asyncio.create_subprocess_exec(
            program,
            "--app-name=qwentui",
            title,
            message,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await process.wait() == 0
    return False
