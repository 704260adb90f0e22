"""The filter bar above the job table and the gallery: state, mode, model, culling marks, and a full-text search
over prompts; "show family" narrows it to one job's family, and "show batch" to one batch, until the filters
are cleared."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Select, Static

from qwentui.core.catalog import Mode, models
from qwentui.core.states import JobState
from qwentui.tui.job_filter import MARK_CHOICES, STATE_GROUPS, JobFilter

SEARCH_DEBOUNCE = 0.3  # seconds of quiet typing before the search runs


def _state_options() -> list[tuple[str, str]]:
    groups = [(name, f"group:{name}") for name in STATE_GROUPS]
    singles = [(s.value.replace("_", " "), f"state:{s.value}") for s in JobState]
    return groups + singles


class FilterBar(Horizontal):
    DEFAULT_CSS = """
    FilterBar { height: 3; }
    FilterBar Select, FilterBar .filter-slot { width: 1fr; max-width: 26; min-width: 12; }
    FilterBar Input { width: 2fr; min-width: 16; }
    """

    class Changed(Message):
        def __init__(self, job_filter: JobFilter) -> None:
            super().__init__()
            self.job_filter = job_filter

    def __init__(self, *, id: str | None = None, selects_later: bool = False) -> None:
        """`selects_later`: the owner calls `mount_selects()` once its first frame is up (else: after the first
        refresh)."""
        super().__init__(id=id)
        self._selects_later = selects_later
        self._debounce: Timer | None = None
        self._last: JobFilter = JobFilter()
        self._family: tuple[int, frozenset[int]] | None = None
        self._batch: int | None = None

    def compose(self) -> ComposeResult:
        # The search box comes at once (`/` typed during start-up lands in it); the four Selects and their lists
        # (~30 % of the first frame's CPU) are mounted after the first paint, in their places before it.
        # their places are kept meanwhile, so the search box does not move when they come
        for _ in range(4):
            yield Static(classes="filter-slot")
        yield Input(placeholder="search prompts (/)", id="filter-text")

    def on_mount(self) -> None:
        if not self._selects_later:
            self.call_after_refresh(self.mount_selects)

    def mount_selects(self) -> None:
        if not self.is_attached or self.query("#filter-state"):
            return
        # the prompts stand for "no filter"; short, so the bar fits 80 columns
        selects = [
            Select(_state_options(), prompt="state", id="filter-state"),
            Select([(f"{m.value} · {m.label}", m.value) for m in Mode], prompt="mode", id="filter-mode"),
            Select([(m, m) for m in models()], prompt="model", id="filter-model"),
            Select([(label, value) for value, (label, _) in MARK_CHOICES.items()], prompt="marks", id="filter-marks"),
        ]
        with self.app.batch_update():
            self.query(".filter-slot").remove()
            self.mount_all(selects, before=self.query_one("#filter-text", Input))

    @property
    def selects_ready(self) -> bool:
        """The Selects are mounted (they come after the first paint)."""
        return bool(self.query("#filter-marks"))

    def _select_value(self, select_id: str) -> object:
        try:
            return self.query_one(f"#{select_id}", Select).value
        except NoMatches:  # not mounted yet: no filter chosen in it
            return Select.BLANK

    @property
    def value(self) -> JobFilter:
        state = self._select_value("filter-state")
        mode = self._select_value("filter-mode")
        model = self._select_value("filter-model")
        marks = self._select_value("filter-marks")
        states: frozenset[JobState] | None = None
        if isinstance(state, str):
            kind, _, name = state.partition(":")
            states = STATE_GROUPS[name] if kind == "group" else frozenset({JobState(name)})
        return JobFilter(
            states=states,
            modes=frozenset({mode}) if isinstance(mode, str) else None,
            models=frozenset({model}) if isinstance(model, str) else None,
            text=self.query_one("#filter-text", Input).value.strip(),
            marks=MARK_CHOICES[marks][1] if isinstance(marks, str) else None,
            family_of=self._family[0] if self._family else None,
            ids=self._family[1] if self._family else None,
            batch_id=self._batch,
        )

    def show_family(self, job_id: int, ids: frozenset[int]) -> None:
        """Only this job's family, on top of the other filters (clearing the filters ends it)."""
        self._family = (job_id, ids)
        self._announce()

    def show_batch(self, batch_id: int) -> None:
        """Only this batch's jobs, on top of the other filters (clearing the filters ends it)."""
        self._batch = batch_id
        self._announce()

    def clear(self) -> None:
        """Back to every job."""
        if self.value.is_empty:
            return
        self._family = None
        self._batch = None
        for select in self.query(Select):
            select.clear()
        self.query_one("#filter-text", Input).value = ""
        self._announce()

    def focus_search(self) -> None:
        self.query_one("#filter-text", Input).focus()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._announce()

    @on(Input.Changed, "#filter-text")
    def _text_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(SEARCH_DEBOUNCE, self._announce)

    @on(Input.Submitted, "#filter-text")
    def _text_submitted(self, event: Input.Submitted) -> None:
        self._announce()  # at once, without the typing pause; the event goes on up (the screen moves the focus)

    def _announce(self) -> None:
        current = self.value
        if current != self._last:  # several widgets may report one user change; the table reloads once
            self._last = current
            self.post_message(self.Changed(current))
