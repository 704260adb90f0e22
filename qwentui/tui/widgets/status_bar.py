"""Two lines under the table: jobs per state; what the engine is doing, the jobs a spending cap holds, a running
batch's progress, the money spent today and this month, the drop folder, the endpoint.

The bar only displays what it is given (`show_counts`, `show_engine`, `show_batches`, `show_spend`,
`show_drops`), so the screen decides how often to ask the store and the engine, and tests can feed it fixed
values. Every part has a long and a short form; when the terminal is narrow the least important parts shorten
first (the endpoint, the drop folder, the spend, the batches, the held jobs, then the engine), so what matters
stays whole instead of being cut mid-word ("1 dupli").
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static

from qwentui.core.dropfolder.status import DropStatus
from qwentui.core.engine import Engine
from qwentui.core.pricing import money
from qwentui.core.states import JobState
from qwentui.tui.presentation import STATE_LOOK, STATE_WORDS, human_duration

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


Variants = tuple[Text, ...]  # one part of a line, from its longest form to its shortest (which may be empty)


@dataclass(frozen=True)
class EngineStatus:
    leader: bool
    starting: bool = False
    pause_reason: str | None = None
    pause_left: float = 0.0
    rate_pauses: int = 0
    rate_paused_for: float = 0.0
    errors: int = 0
    held: int = 0  # queued jobs a spending cap keeps from being sent
    held_by: str = ""  # the cap holding most of them ("the daily budget is 2.50 USD")

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
            held=report.held,
            held_by=_main_cap(engine.held().values()) if report.held else "",
        )


def _main_cap(reasons: Iterable[str]) -> str:
    """The cap named most often among the held jobs' reasons ("held: the daily budget is 2.50 USD")."""
    tally = Counter(reason.removeprefix("held: ") for reason in reasons)
    return tally.most_common(1)[0][0] if tally else ""


@dataclass(frozen=True)
class BatchProgress:
    """A batch with jobs still to run: how many of its jobs have ended, of how many."""

    batch_id: int
    ended: int
    total: int


@dataclass(frozen=True)
class Spend:
    """Money spent (actual cost of finished jobs) per currency, today and this calendar month, and the caps."""

    today: Mapping[str, float]
    month: Mapping[str, float]
    daily_cap: float | None = None
    monthly_cap: float | None = None
    currency: str | None = None  # the caps' currency (the billed region's)


def counts_text(counts: Mapping[JobState, int], words: bool = True) -> Text:
    text = Text()
    for state in COUNT_ORDER:
        n = counts.get(state, 0)
        if not n:
            continue
        glyph, style = STATE_LOOK[state]
        if text:
            text.append("  " if words else " ")
        text.append(f"{glyph} {n:,}", style=style)
        if words:
            text.append(f" {STATE_WORDS.get(state, state.value)}", style="dim")
    return text or Text("no jobs yet — press n to create one" if words else "no jobs yet", style="dim")


def engine_text(status: EngineStatus, short: bool = False) -> Text:
    if status.starting:
        return Text("starting…" if short else "engine starting…", style="dim")
    if status.pause_reason:
        text = Text(f"⏸ paused {human_duration(status.pause_left)}" + ("" if short else ": "), style="bold orange1")
        if not short:
            text.append(status.pause_reason)
    elif status.leader:
        text = Text("● engine" if short else "● engine running", style="green")
    else:
        text = Text("◌ read-only" if short else "◌ read-only: another qwentui runs the engine", style="yellow")
    if status.rate_pauses:
        text.append(f"  429×{status.rate_pauses}", style="orange1")
        if status.rate_paused_for > 0 and not short:
            text.append(f" (waiting {human_duration(status.rate_paused_for)})", style="orange1")
    if status.errors:
        text.append(f"  {status.errors} {'err' if short else 'engine error(s)'}", style="red")
    return text


def held_text(status: EngineStatus) -> Variants:
    """`⏸ 25 held: the daily budget is 2.50 USD` / `⏸ 25 held`; nothing when no job is held."""
    if not status.held:
        return (Text(""),)
    short = Text(f"⏸ {status.held:,} held", style="bold orange1")
    full = short.copy()
    if status.held_by:
        full.append(f": {status.held_by}", style="orange1")
    return full, short


def batches_text(batches: list[BatchProgress]) -> Variants:
    """`batch 3: 12/50 · +1 batch` / `b3 12/50 +1`: the newest running batch first."""
    if not batches:
        return (Text(""),)
    first, more = batches[0], len(batches) - 1
    full = Text(f"batch {first.batch_id}: {first.ended:,}/{first.total:,}", style="cyan")
    short = Text(f"b{first.batch_id} {first.ended:,}/{first.total:,}", style="cyan")
    if more:
        full.append(f" · +{more} batch{'es' if more > 1 else ''}", style="dim")
        short.append(f" +{more}", style="dim")
    return full, short


def _amounts(spent: Mapping[str, float], cap: float | None, currency: str | None) -> str:
    shown = {cur: amount for cur, amount in spent.items() if amount or cur == currency}
    if cap is not None and currency:
        shown.setdefault(currency, 0.0)
    if not shown:
        return money(0.0, currency)
    parts = []
    for cur, amount in sorted(shown.items()):
        text = money(amount, cur)
        if cap is not None and cur == currency:
            text = f"{money(amount, None)}/{money(cap, cur)}"
        parts.append(text)
    return " + ".join(parts)


def spend_text(spend: Spend | None) -> Variants:
    """`today 2.40/2.50 USD · month 7.10 USD` / `today 2.40/2.50 USD` / nothing."""
    if spend is None or not (spend.today or spend.month or spend.daily_cap is not None):
        return (Text(""),)
    today = Text(f"today {_amounts(spend.today, spend.daily_cap, spend.currency)}")
    full = today.copy()
    full.append(f" · month {_amounts(spend.month, spend.monthly_cap, spend.currency)}", style="dim")
    return full, today, Text("")


def fit(parts: list[Variants], width: int, gap: int = 0, steps: Sequence[int] = ()) -> list[int]:
    """Which form of each part to show so the line fits `width` cells. `steps` names the part that gives way
    next, one form at a time (a part may appear several times); after them, the last parts give way first.
    `gap` cells go around each shown part (padding)."""
    choice = [0] * len(parts)

    def length() -> int:
        return sum(p[c].cell_len + gap for p, c in zip(parts, choice, strict=True) if p[c].cell_len)

    planned = iter(steps)
    while length() > width:
        shorter = next((i for i in planned if choice[i] < len(parts[i]) - 1), None)
        if shorter is None:
            shorter = next((i for i in reversed(range(len(parts))) if choice[i] < len(parts[i]) - 1), None)
        if shorter is None:
            break  # the shortest forms still overflow: the widgets cut the end with an ellipsis
        choice[shorter] += 1
    return choice


# The second line's parts: engine, held, batches, spend, drop folder, endpoint. The endpoint and the drop folder
# give way first; then the details of the held jobs, the month, the batch words, the drop folder's short form,
# the engine's words; the spend and the batch vanish only when nothing else is left to shorten.
ENGINE, HELD, BATCHES, SPEND, DROPS, PLACE = range(6)
LINE_STEPS = (PLACE, PLACE, DROPS, HELD, SPEND, BATCHES, DROPS, ENGINE, SPEND, BATCHES)


class StatusBar(Vertical):
    """Two lines: the jobs per state (they need the width), then the engine, drop folder and endpoint."""

    DEFAULT_CSS = """
    StatusBar { height: 2; background: $panel; color: $text; }
    StatusBar Static { width: auto; height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    StatusBar Static.-empty { display: none; }
    StatusBar #status-counts { width: 1fr; }
    StatusBar > Horizontal { height: 1; }
    StatusBar #status-endpoint { width: 1fr; }
    """

    drop_state: reactive[str] = reactive("drop folder: off")  # the long form of the drop folder's part

    def __init__(self, endpoint: str = "", renderer: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._endpoint = endpoint
        self._renderer = renderer
        self._counts: Variants = (counts_text({}), counts_text({}, words=False))
        self._engine: Variants = tuple(engine_text(EngineStatus(leader=False, starting=True), s) for s in (False, True))
        self._drops: Variants = (Text("drop folder: off", style="dim"), Text(""))
        self._held: Variants = (Text(""),)
        self._batches: Variants = (Text(""),)
        self._spend: Variants = (Text(""),)
        self._shown: dict[str, Text] = {}

    def compose(self) -> ComposeResult:
        yield Static(self._counts[0], id="status-counts")
        with Horizontal():
            yield Static(self._engine[0], id="status-engine")
            yield Static(self._held[0], id="status-held", classes="-empty")
            yield Static(self._batches[0], id="status-batch", classes="-empty")
            yield Static(self._spend[0], id="status-spend", classes="-empty")
            yield Static(self._drops[0], id="status-drop")
            yield Static(self._place()[0], id="status-endpoint")

    def _place(self) -> Variants:
        where = Text(self._endpoint or "not connected", style="italic")
        full = where.copy()
        if self._renderer:
            full.append(f" · img {self._renderer}", style="dim")
        return full, where, Text("")

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Show the longest forms that fit the width (padding: one cell either side of every part)."""
        if not self.is_mounted:
            return
        width = self.size.width
        [counts] = fit([self._counts], width, gap=2)
        place = self._place()
        engine, held, batches, spend, drops, where = fit(
            [self._engine, self._held, self._batches, self._spend, self._drops, place], width, gap=2, steps=LINE_STEPS
        )
        for widget_id, text in (
            ("status-counts", self._counts[counts]),
            ("status-engine", self._engine[engine]),
            ("status-held", self._held[held]),
            ("status-batch", self._batches[batches]),
            ("status-spend", self._spend[spend]),
            ("status-drop", self._drops[drops]),
            ("status-endpoint", place[where]),
        ):
            old = self._shown.get(widget_id)
            if old != text:  # an unchanged part is not repainted
                self._shown[widget_id] = text
                static = self.query_one(f"#{widget_id}", Static)
                # one line each: the screen is laid out again only when a part's width changes
                static.update(text, layout=old is None or old.cell_len != text.cell_len)
                static.set_class(not text.plain, "-empty")

    def show_counts(self, counts: Mapping[JobState, int]) -> None:
        self._counts = (counts_text(counts), counts_text(counts, words=False))
        self._fit()

    def show_engine(self, status: EngineStatus) -> None:
        self._engine = (engine_text(status), engine_text(status, short=True))
        self._held = held_text(status)
        self._fit()

    def show_batches(self, batches: list[BatchProgress]) -> None:
        """The running batches, newest first (none: the part is hidden)."""
        self._batches = batches_text(batches)
        self._fit()

    def show_spend(self, spend: Spend | None) -> None:
        self._spend = spend_text(spend)
        self._fit()

    def show_drops(self, status: DropStatus) -> None:
        """The drop folder's part, long and short (the long one is also `drop_state`)."""
        self._drops = (
            Text(drop_summary(status), style="dim"),
            Text(drop_summary(status, short=True), style="dim"),
            Text(""),  # when the line is full, the drop folder gives way before the engine's words
        )
        self.drop_state = self._drops[0].plain

    def watch_drop_state(self, value: str) -> None:
        if value != self._drops[0].plain:  # set directly, not by show_drops: no short form but none at all
            self._drops = (Text(value, style="dim"), Text(""))
        self._fit()


# The drop folder's counts in the short form: a glyph per count, as the states have
DROP_COUNTS = (
    ("waiting", "waiting", "○"),
    ("in_flight", "in flight", "◑"),
    ("held", "held by the budget", "⏸"),
    ("done", "done", "✓"),
    ("failed", "failed", "✗"),
    ("duplicates", "duplicates", "="),
)


def drop_summary(status: DropStatus, short: bool = False) -> str:
    """`drop animate: watching 3 in flight, 12 done · edit: paused` — what each rule is doing, in one line;
    short: `drop animate 3◑ 12✓ · edit ⏸`."""
    if status.watcher_error:
        return "drop: error" if short else f"drop folder: {status.watcher_error}"
    parts = []
    for rule in status.rules:
        if rule.state == "disabled":
            continue
        numbers = [(getattr(rule, field), label, glyph) for field, label, glyph in DROP_COUNTS]
        if short:
            state = {"watching": "", "paused": " ⏸"}.get(rule.state, f" {rule.state}")
            counts = " ".join(f"{n}{glyph}" for n, _, glyph in numbers if n)
            parts.append(f"{rule.name}{state}" + (f" {counts}" if counts else ""))
        else:
            counts = ", ".join(f"{n} {label}" for n, label, _ in numbers if n)
            parts.append(f"{rule.name}: {rule.state}" + (f" {counts}" if counts else ""))
    if not parts:
        return "" if short else "drop folder: off"
    return "drop " + " · ".join(parts)
