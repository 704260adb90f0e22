"""How a job looks in a cell: state glyph and colour, ages, elapsed/expected time, a progress bar.

Pure functions of a job and the time `now` (passed in, never read here), so the table, the preview and the
snapshots agree and a frozen clock gives frozen text. Every string that came from a user or a server goes into
a `rich.text.Text` as plain text: a prompt like "[red]hi" must show as typed, not be read as markup.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from qwentui.core.download import redact_url
from qwentui.core.states import JobState
from qwentui.core.store import Job
from qwentui.core.timefmt import duration
from qwentui.core.tracker import TASK_UNKNOWN

# One glyph of width 1 per state (no emoji: their width differs between terminals) and a colour that groups
# them: blue in flight, green done, red failed, yellow waiting for someone.
STATE_LOOK: dict[JobState, tuple[str, str]] = {
    JobState.QUEUED: ("○", "grey70"),
    JobState.UPLOADING: ("↑", "cyan"),
    JobState.SUBMITTING: ("↗", "cyan"),
    JobState.PENDING: ("◔", "dodger_blue1"),
    JobState.RUNNING: ("◑", "dodger_blue1"),
    JobState.SUCCEEDED: ("◕", "green3"),
    JobState.DOWNLOADING: ("↓", "green3"),
    JobState.DONE: ("✓", "green"),
    JobState.FAILED: ("✗", "red"),
    JobState.REJECTED: ("⊘", "red"),
    JobState.EXPIRED: ("∅", "magenta"),
    JobState.CANCELED: ("■", "grey50"),
    JobState.UNCERTAIN: ("?", "orange1"),
    JobState.NEEDS_USER: ("!", "bold orange1"),
}

# Short words for narrow columns (at most 9 letters); the preview and details say more (states.describe).
STATE_WORDS: dict[JobState, str] = {
    JobState.SUBMITTING: "sending",
    JobState.SUCCEEDED: "succeeded",
    JobState.DOWNLOADING: "saving",
    JobState.NEEDS_USER: "needs you",
}

# States whose job is being worked on: their elapsed time and progress move, so the table refreshes them.
IN_FLIGHT = frozenset(
    {
        JobState.UPLOADING,
        JobState.SUBMITTING,
        JobState.PENDING,
        JobState.RUNNING,
        JobState.SUCCEEDED,
        JobState.DOWNLOADING,
        JobState.UNCERTAIN,
    }
)
BAR_CELLS = 6


def state_text(state: JobState) -> Text:
    glyph, style = STATE_LOOK.get(state, ("·", ""))
    return Text(f"{glyph} {STATE_WORDS.get(state, state.value)}", style=style)


def short_duration(seconds: float) -> str:
    """5s, 3m, 2h, 4d: coarse on purpose, so the text changes rarely and the table repaints little."""
    return duration(seconds, "coarse")


def human_duration(seconds: float) -> str:
    """45s, 3m 05s, 59m 49s, 1h 02m, 2d 3h: two units at most, for a wait a person reads (a pause, a retry)."""
    return duration(seconds, "two_units")


def clock_duration(seconds: float) -> str:
    """0:42, 3:05, 1:02:03: precise, for elapsed times that are watched while they run."""
    return duration(seconds, "clock")


def elapsed(job: Job, now: float) -> float | None:
    """Seconds since the job was sent (or created, while queued), up to when it ended."""
    start = job.submitted_at or job.created_at
    end = job.finished_at if job.finished_at else now
    if job.state is JobState.QUEUED:
        return None
    return max(0.0, end - start)


def elapsed_text(job: Job, now: float, expected: float | None) -> str:
    spent = elapsed(job, now)
    if spent is None:
        return "—"
    if job.state in IN_FLIGHT and expected:
        # rounded up: a demo task expected in 0.6 s should not read "~0:00"
        return f"{clock_duration(spent)}/~{clock_duration(math.ceil(expected))}"
    return clock_duration(spent)


def progress(job: Job, now: float, expected: float | None) -> float | None:
    """A fraction 0..1, estimated from the expected duration while running; None when it means nothing."""
    if job.state is JobState.DONE:
        return 1.0
    if job.state in (JobState.SUCCEEDED, JobState.DOWNLOADING):
        return 0.97
    if job.state in (JobState.PENDING, JobState.RUNNING) and expected and job.error_code != TASK_UNKNOWN:
        spent = elapsed(job, now) or 0.0
        # never show "full" for an estimate: a task that runs late stays at 95 % until it really ends
        return min(0.95, spent / expected)
    return None


def progress_text(job: Job, now: float, expected: float | None) -> Text:
    fraction = progress(job, now, expected)
    if fraction is None:
        return Text("")
    style = STATE_LOOK.get(job.state, ("", ""))[1]
    filled = round(fraction * BAR_CELLS)
    bar = Text("█" * filled, style=style)
    bar.append("░" * (BAR_CELLS - filled), style="grey35")
    bar.append(f" {round(fraction * 100):>3}%")
    return bar


def one_line(text: str, limit: int = 200) -> str:
    """A prompt for a table cell: line breaks folded, long text cut (the preview shows it whole)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def prompt_text(prompt: str, limit: int = 200) -> Text:
    return Text(one_line(prompt, limit))


def redact_urls(value: Any) -> Any:
    """`value` with every http(s) URL's query removed: signed result URLs act as credentials until they expire,
    so views that show stored requests and responses hide the signature (the copy key gives the full URL)."""
    if isinstance(value, str):
        return redact_url(value) if value.startswith(("http://", "https://")) else value
    if isinstance(value, dict):
        return {k: redact_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_urls(v) for v in value]
    return value
