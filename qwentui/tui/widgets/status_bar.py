"""One line under the table: jobs per state, what the engine is doing, the drop folder, the endpoint.

The bar only displays what it is given (`show_counts`, `show_engine`, `drop_state`), so the screen decides
how often to ask the store and the engine, and tests can feed it fixed values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static

from qwentui.core.dropfolder.status import DropStatus
from qwentui.core.engine import Engine
from qwentui.core.states import JobState
from qwentui.tui.presentation import STATE_LOOK, STATE_WORDS

# The order counts are shown in: what needs attention first, then what is moving, then history.
COUNT_ORDER = (
    JobState.NEEDS_USER,
    JobState.UNCERTAIN,
    JobState.QUEUED,
    JobState.UPLOADING,
    JobState.SUBMITTING,
    JobState.PENDING,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.DOWNLOADING,
    JobState.DONE,
    JobState.FAILED,
    JobState.REJECTED,
    JobState.EXPIRED,
    JobState.CANCELED,
)


@dataclass(frozen=True)
class EngineStatus:
    leader: bool
    starting: bool = False
    pause_reason: str | None = None
    pause_left: float = 0.0
    rate_pauses: int = 0
    rate_paused_for: float = 0.0
    errors: int = 0

    @classmethod
    def of(cls, engine: Engine, clock: Callable[[], float] = time.time) -> EngineStatus:
        report = engine.status()
        left = report.pause_until - clock() if report.pause_until is not None else 0.0
        return cls(
            leader=report.leader,
            pause_reason=report.pause_reason if left > 0 else None,
            pause_left=max(0.0, left),
            rate_pauses=report.rate_pauses,
            rate_paused_for=report.rate_paused_for,
            errors=len(report.errors),
        )


def counts_text(counts: Mapping[JobState, int]) -> Text:
    text = Text()
    for state in COUNT_ORDER:
        n = counts.get(state, 0)
        if not n:
            continue
        glyph, style = STATE_LOOK[state]
        if text:
            text.append("  ")
        text.append(f"{glyph} {n:,}", style=style)
        text.append(f" {STATE_WORDS.get(state, state.value)}", style="dim")
    return text or Text("no jobs yet — press n to create one", style="dim")


def engine_text(status: EngineStatus) -> Text:
    if status.starting:
        return Text("engine starting…", style="dim")
    if status.pause_reason:
        text = Text(f"⏸ paused {status.pause_left:.0f}s: ", style="bold orange1")
        text.append(status.pause_reason)
    elif status.leader:
        text = Text("● engine running", style="green")
    else:
        text = Text("◌ read-only: another qwentui runs the engine", style="yellow")
    if status.rate_pauses:
        text.append(f"  429×{status.rate_pauses}", style="orange1")
        if status.rate_paused_for > 0:
            text.append(f" (waiting {status.rate_paused_for:.0f}s)", style="orange1")
    if status.errors:
        text.append(f"  {status.errors} engine error(s)", style="red")
    return text


class StatusBar(Vertical):
    """Two lines: the jobs per state (they need the width), then the engine, drop folder and endpoint."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; color: $text; }
    StatusBar Static { width: auto; height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    StatusBar #status-counts { width: 1fr; }
    StatusBar > Horizontal { height: 1; }
    StatusBar #status-endpoint { width: 1fr; }
    """

    drop_state: reactive[str] = reactive("drop folder: off")  # a drop-folder panel sets this

    def __init__(self, endpoint: str = "", renderer: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._endpoint = endpoint
        self._renderer = renderer

    def compose(self) -> ComposeResult:
        yield Static(counts_text({}), id="status-counts")
        with Horizontal():
            yield Static(engine_text(EngineStatus(leader=False, starting=True)), id="status-engine")
            yield Static(Text(self.drop_state, style="dim"), id="status-drop")
            yield Static(self._place_text(), id="status-endpoint")

    def _place_text(self) -> Text:
        text = Text(self._endpoint or "not connected", style="italic")
        if self._renderer:
            text.append(f" · img {self._renderer}", style="dim")
        return text

    def show_counts(self, counts: Mapping[JobState, int]) -> None:
        self.query_one("#status-counts", Static).update(counts_text(counts))

    def show_engine(self, status: EngineStatus) -> None:
        self.query_one("#status-engine", Static).update(engine_text(status))

    def watch_drop_state(self, value: str) -> None:
        if self.is_mounted:
            self.query_one("#status-drop", Static).update(Text(value, style="dim"))


def drop_summary(status: DropStatus) -> str:
    """`drop animate: watching 3 in flight 12 done · edit: paused` — what each rule is doing, in one line."""
    if status.watcher_error:
        return f"drop folder: {status.watcher_error}"
    parts = []
    for rule in status.rules:
        if rule.state == "disabled":
            continue
        counts = [
            f"{n} {label}"
            for n, label in (
                (rule.waiting, "waiting"),
                (rule.in_flight, "in flight"),
                (rule.done, "done"),
                (rule.failed, "failed"),
                (rule.duplicates, "duplicates"),
            )
            if n
        ]
        parts.append(f"{rule.name}: {rule.state}" + (f" {', '.join(counts)}" if counts else ""))
    return "drop " + " · ".join(parts) if parts else "drop folder: off"
