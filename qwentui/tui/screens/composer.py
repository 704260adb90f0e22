"""The composer: choose a mode and a model, fill exactly the fields that model takes, see the request, send it.

One composer per app, built once and shown again each time (`JobActions` installs it): the form holds a widget
for every field any model takes, and a mode or model change only shows and hides them, so it is instant and
never loses the focus or a key typed meanwhile. It reopens in the mode last used; `new_job()` brings back a
draft the user kept, `start()` fills it from a request (duplicate, animate), ctrl+o from the request a qwentui output
or its sidecar carries (`core/provenance.py`). Esc on a typed draft asks first.

Every edit re-validates with the catalog's own rules (`validate`) after a short pause, shows each problem under
its field, and refreshes the JSON body that would be sent (`build(req).body`). Submitting with problems sends
nothing and moves the focus to the first bad field. The screen returns the new job's id, or None.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.visual import VisualType
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from qwentui.core import provenance
from qwentui.core.catalog import DEFAULT_MODEL, LOCAL_MODES, Mode, lookup, rows_for_mode
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.pricing import Estimate, Pricing, Total, money, shipped_table
from qwentui.core.requests import GenerationRequest, InvalidRequest, Problem, build, validate
from qwentui.core.reuse import expired_references
from qwentui.core.store import Store
from qwentui.tui import keymap
from qwentui.tui.request_form import from_request, to_batch, to_request
from qwentui.tui.screens.pickers import RECORD_SUFFIXES, DraftChoice, FilePicker, PromptPicker
from qwentui.tui.widgets.composer_fields import QuickSelect, RequestForm, SettledSize
from qwentui.tui.widgets.key_bar import KeyBar

VALIDATE_DEBOUNCE = 0.15  # seconds: validation (which may probe local images) runs once typing pauses
RECENT_PROMPTS = 200  # jobs read to collect recent distinct prompts
COMPOSABLE = [m for m in Mode if m not in LOCAL_MODES]  # modes the service runs (a film is assembled elsewhere)
RESTORE_KEY = "restore-request"  # the keymap id of ctrl+o
NARROW = 120  # columns: below this the JSON view starts hidden (it would squeeze the form); F2 shows it


@dataclass(frozen=True)
class Draft:
    """What the composer edits: the mode and model, the form's values, and where the job comes from."""

    mode: Mode
    model: str
    values: Mapping[str, Any] = field(default_factory=dict)
    title: str = "New job"
    parent_id: int | None = None  # the job this one duplicates or animates
    source: str = "tui"  # the job's source: tui, duplicate, animate

    @classmethod
    def of(cls, request: GenerationRequest, title: str, parent_id: int | None = None, source: str = "tui") -> Draft:
        return cls(request.mode, request.model_name, from_request(request), title, parent_id, source)


class ComposerScreen(Screen[int | None]):
    BINDINGS = keymap.bindings("composer")
    AUTO_FOCUS = "#f-prompt"
    DEFAULT_CSS = """
    ComposerScreen #composer-body { height: 1fr; }
    /* the scroll bar is always there: one appearing when a mode's form grows past the screen (or going) narrowed
       every field, or at least cost a second layout */
    ComposerScreen #composer-form { width: 1fr; padding: 0 1; overflow-y: scroll; }
    ComposerScreen #composer-side { width: 45%; border-left: vkey $panel-lighten-2; padding: 0 1; }
    ComposerScreen #composer-side.-hidden { display: none; }
    ComposerScreen #composer-top { height: 3; }
    ComposerScreen #composer-top Select { width: 1fr; }
    ComposerScreen #composer-top Label { padding: 1 1 0 0; }
    ComposerScreen #model-summary { color: $text-muted; padding: 0 0 1 0; }
    ComposerScreen #composer-summary { height: auto; max-height: 6; padding: 0 1; }
    ComposerScreen #composer-cost { height: 1; padding: 0 1; color: $text-muted; }
    ComposerScreen #composer-cost { text-wrap: nowrap; text-overflow: ellipsis; }
    ComposerScreen #composer-summary.-ok { color: $success; }
    ComposerScreen #composer-summary.-bad { color: $error; }
    ComposerScreen #composer-title { background: $primary; color: $text; padding: 0 1; height: 1; }
    """

    def __init__(
        self,
        engine: Engine,
        store: Store,
        initial: GenerationRequest | None = None,
        title: str = "New job",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.store = store
        self.clock = clock
        self._draft = Draft.of(initial, title) if initial else Draft(Mode.T2I, DEFAULT_MODEL[Mode.T2I], title=title)
        self._mode = self._draft.mode
        self._model = self._draft.model
        self._kept: Draft | None = None  # a draft the user closed with "keep for later": the next new job
        self._baseline: dict[str, Any] = {}  # the form's values when the draft was loaded: a change is typed text
        self.last_folder: Path | None = None  # where the file picker was last
        self.restore_folder: Path | None = None  # where ctrl+o's picker was last (outputs live elsewhere than inputs)
        self._debounce: Timer | None = None
        self._problems: list[Problem] = []
        self._request: GenerationRequest | None = None
        self._batch: list[GenerationRequest] = []  # several prompts: every job they make (when valid)
        self._cost_text = ""
        # what the estimate is made with: the engine's prices (the billed region, the user's overrides), else the
        # shipped table, so the cost is shown even where jobs record no estimate
        self.pricing: Pricing = engine.config.prices or Pricing(shipped_table())
        self._summary_text = ""
        # A field shows its problem once the user has been there (or filled it, or tried to submit): a new form
        # that greets the user with "is required" under every empty field is noise, not guidance.
        self._touched: set[str] = set()
        self._reveal_all = False
        self._json_shown: tuple[str, str] = ("", "")
        self._generation = 0  # validations started; only the latest one's result is shown
        self._styled_for: tuple[str, int] | None = None  # (theme, stylesheet sources) when last restyled

    # ---- layout -------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title_text(), id="composer-title")
        with Horizontal(id="composer-body"):
            # not focusable themselves: focusing a container restyles all it holds (every field), and tab would stop
            # on it on its way to the fields
            with FormScroll(id="composer-form", can_focus=False):
                with Horizontal(id="composer-top"):
                    yield Label("mode")
                    yield QuickSelect(
                        [(f"{m.label} ({m.value})", m.value) for m in COMPOSABLE],
                        value=self._mode.value,
                        allow_blank=False,
                        id="pick-mode",
                    )
                    yield Label("model")
                    yield QuickSelect(
                        self._model_options(self._mode), value=self._model, allow_blank=False, id="pick-model"
                    )
                yield FittedText(self._summary_of_model(), id="model-summary", markup=False)
                yield RequestForm(lookup(self._model, self._mode), self._draft.values, id="request-form")
            with VerticalScroll(id="composer-side", can_focus=False):
                yield FittedText("", id="composer-json")
        yield Static("", id="composer-cost", markup=False)
        yield FittedText("", id="composer-summary", markup=False)
        yield KeyBar()

    def _title_text(self) -> Text:
        # the keys the key bar leaves out (and ctrl+j, for a terminal that takes ctrl+s)
        return Text(f"{self._draft.title} — ctrl+s or ctrl+j submits, F3 recent prompts, esc closes")

    def on_mount(self) -> None:
        self._baseline = self.form.values(hidden=True)
        if self.app.size.width < NARROW:
            self.query_one("#composer-side").add_class("-hidden")

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """Runs before Textual's own handler, which restyles every widget of a screen it shows again (for a theme
        or stylesheet change while it was hidden): most of the cost of showing the composer again, for nothing
        when neither changed."""
        styled_for = (self.app.theme, len(self.app.stylesheet.source))
        if styled_for == self._styled_for:
            event.refresh_styles = False
        self._styled_for = styled_for
        # Textual calls one handler per class, `_on_screen_resume` before `on_screen_resume`: defining this one
        # hid that one, so the prompt lost the focus on every showing after the first. Called from here.
        self._resumed()

    def _resumed(self) -> None:
        """Every time the composer is shown: the prompt has the focus, with the cursor at its end (a duplicated
        prompt is edited at its end, not its start)."""
        prompt = self.query_one("#f-prompt", TextArea)
        prompt.move_cursor(prompt.document.end)
        prompt.focus()
        self._validate_soon(0)

    @staticmethod
    def _model_options(mode: Mode) -> list[tuple[str, str]]:
        return [(row.model + (" ★" if row.recommended else ""), row.model) for row in rows_for_mode(mode)]

    def _summary_of_model(self) -> str:
        row = lookup(self._model, self._mode)
        kind = "async" if row.is_async else "sync"
        return f"{row.summary} · {kind} · usually {row.typical_seconds[0]}-{row.typical_seconds[1]} s"

    @property
    def form(self) -> RequestForm:
        return self.query_one(RequestForm)

    @property
    def mode(self) -> Mode:
        return self._mode

    # ---- what is being edited -----------------------------------------------------------------------------

    def new_job(self) -> None:
        """Edit a new job: the draft kept for later if there is one, else an empty form in the last mode."""
        self._load(self._kept or Draft(self._mode, self._model))

    def start(self, request: GenerationRequest, title: str, *, parent_id: int | None = None, source: str) -> None:
        """Edit a new job filled from `request` (a duplicate, an animation of a result)."""
        self._load(Draft.of(request, title, parent_id, source))

    def _load(self, draft: Draft) -> None:
        self._draft = draft
        if not self.is_mounted:  # the first showing composes the form from the draft
            self._mode, self._model = draft.mode, draft.model
            return
        self._switch(draft.mode, draft.model, function=str(draft.values.get("function") or "") or None)
        self.form.fill(draft.values)
        self._baseline = self.form.values(hidden=True)
        self._touched.clear()
        self._reveal_all = False
        self.query_one("#composer-title", Static).update(self._title_text())

    def has_draft(self) -> bool:
        """Whether the user typed (or picked) anything since the draft was loaded."""
        return self.form.values(hidden=True) != self._baseline

    # ---- mode, model and VACE function change which fields are shown ---------------------------------------

    def _switch(self, mode: Mode, model: str, function: str | None = None) -> None:
        """Show the fields of (model, mode): toggles and relabels the built widgets, never mounts any."""
        self._mode, self._model = mode, model
        with self.prevent(Select.Changed):
            mode_picker = self.query_one("#pick-mode", Select)
            if mode_picker.value != mode.value:
                mode_picker.value = mode.value
            model_picker = self.query_one("#pick-model", Select)
            options = self._model_options(mode)
            if [v for _, v in model_picker._options] != [v for _, v in options]:
                model_picker.set_options(options)
            if model_picker.value != model:
                model_picker.value = model
        self.form.show(lookup(model, mode), function)
        self.query_one("#model-summary", FittedText).show(self._summary_of_model())
        self._validate_soon(0)

    @on(Select.Changed, "#pick-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self._mode.value:
            mode = Mode(event.value)
            self._switch(mode, DEFAULT_MODEL[mode], self.form.chosen_function())

    @on(Select.Changed, "#pick-model")
    def _model_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self._model:
            self._switch(self._mode, event.value, self.form.chosen_function())

    @on(Select.Changed, "#f-function")
    def _function_changed(self, event: Select.Changed) -> None:
        if self.form.chosen_function() != self.form.function:
            self.form.show(self.form.row, self.form.chosen_function())

    @on(Checkbox.Changed, "#f-enable_sequential, #f-batch")
    def _switch_changed(self, event: Checkbox.Changed) -> None:
        """An image set and several prompts show other fields (n up to 12, no palette; the variables)."""
        self.form.show(self.form.row, self.form.function)

    def action_toggle_batch(self) -> None:
        """Several prompts on or off, from wherever the focus is (it stays there)."""
        box = self.query_one("#f-batch", Checkbox)
        box.value = not box.value
        self.notify(
            "Several prompts: one per line, {name} takes each value of its variable"
            if box.value
            else "One prompt (the whole box)",
            markup=False,
        )

    # ---- validation as you type --------------------------------------------------------------------------

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _edited(self, event: Input.Changed | TextArea.Changed | Checkbox.Changed | Select.Changed) -> None:
        widget = (
            event.control
            if isinstance(event, Checkbox.Changed | Select.Changed)
            else (event.input if isinstance(event, Input.Changed) else event.text_area)
        )
        if widget is not None and widget.id and widget.id.startswith("f-"):
            self._touched.add(widget.id[2:])
        self._validate_soon(VALIDATE_DEBOUNCE)

    def _validate_soon(self, delay: float) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        # never 0: Textual's timer divides by its delay when it wakes late (a hidden composer's timer does)
        self._debounce = self.set_timer(max(delay, 0.001), self._validate_now)

    def _check(self) -> tuple[GenerationRequest, list[Problem]]:
        """The request the form describes and the problems that need no file read (types, stale URLs)."""
        form = self.form
        request, problems = to_request(self._mode, self._model, form.values(), form.row)
        return request, problems + expired_references(request.images, self.clock())

    def current(self) -> tuple[GenerationRequest, list[Problem]]:
        """The request the form describes and every reason it cannot be sent (validated right here)."""
        request, problems = self._check()
        return request, problems + validate(request)

    async def _validate_now(self) -> bool:
        """Validate the form as it is now and show the result; False when a newer edit's validation started
        meanwhile (its result is the one shown), or the composer is gone."""
        if not self.is_mounted:
            return False
        self._generation += 1
        generation = self._generation
        request, problems = self._check()
        batch: list[GenerationRequest] = []
        if self.form.several_prompts:
            form = self.form
            values = form.values()
            # every line times every value: expanded and validated off the event loop (files are probed)
            batch, batch_problems = await asyncio.to_thread(to_batch, self._mode, self._model, values, form.row)
            # to_batch reads the form too: its type problems are already in `problems` (said once)
            problems = list(dict.fromkeys([p for p in problems if p.field != "prompt"] + batch_problems))
            if batch:
                request = batch[0]
        else:
            # validate() probes local images with Pillow: off the event loop, so typing never stutters on a big file
            problems += await asyncio.to_thread(validate, request)
        if generation != self._generation or not self.is_mounted:
            return False  # a newer edit has been validated (or is being): its result is the one to show
        self._request, self._problems, self._batch = request, problems, batch
        self._show_cost(request, batch)
        orphans = self.form.show_problems(problems, reveal=self._reveal)
        if problems:
            lines = [f"✗ not ready ({len(problems)}): {problems[0]}"]
            text = "\n".join(lines + [f"  {o}" for o in orphans if o != str(problems[0])])
        else:
            text = f"✓ ready to submit {len(batch)} jobs as one batch" if batch else "✓ ready to submit"
        if text != self._summary_text:  # only when it changed: even a repaint costs
            self._summary_text = text
            summary = self.query_one("#composer-summary", FittedText)
            summary.show(text)
            summary.set_class(bool(problems), "-bad")
            summary.set_class(not problems, "-ok")
        self._show_json(request, problems)
        return True

    def _show_cost(self, request: GenerationRequest, batch: list[GenerationRequest]) -> None:
        """What it will cost: the estimate of the one request, or "N jobs, est. COST" of the batch."""
        if self.form.several_prompts:
            if batch:
                total = Total.of(self.pricing.estimate(req) for req in batch)
                text = f"{len(batch)} job{'s' if len(batch) != 1 else ''}, {total.text}"
            else:
                text = "several prompts: the job count and cost show once every line is valid"
        else:
            text = cost_text(self.pricing.estimate(request))
        if text != self._cost_text:
            self._cost_text = text
            self.query_one("#composer-cost", Static).update(text, layout=False)  # one line, cut with …

    def _show_json(self, request: GenerationRequest, problems: list[Problem]) -> None:
        view = self.query_one("#composer-json", FittedText)
        if problems:
            body = json.dumps(request.to_dict(), indent=2, ensure_ascii=False)
            header = "request so far (not valid yet):\n"
        else:
            wire = build(request, check_files=False)  # just validated, files included
            body = json.dumps(wire.body, indent=2, ensure_ascii=False)
            header = f"POST {wire.route.value}\n"
            if len(self._batch) > 1:
                header = f"job 1 of {len(self._batch)}: {header}"
            if wire.local_files:
                header += f"{len(wire.local_files)} local file(s) are uploaded first and replaced by oss:// URLs\n"
        if (header, body) != self._json_shown:
            self._json_shown = (header, body)
            view.show(_json_view(header, body))

    # ---- actions ------------------------------------------------------------------------------------------

    def _reveal(self, key: str, value: object) -> bool:
        return self._reveal_all or key in self._touched or bool(str(value or "").strip())

    async def action_submit(self) -> None:
        self._reveal_all = True
        if self._debounce is not None:
            self._debounce.stop()
        # What is sent is the form as it is at the submit: when an edit that arrived meanwhile started a newer
        # validation, this one's result was dropped and `_request` may still be the one before that edit (an
        # image set's n picked just before ctrl+s was once sent without its n).
        while not await self._validate_now():
            if not self.is_mounted:
                return
        if self._problems or self._request is None:
            first = self.form.first_invalid()
            if first is not None:
                first.focus()
            self.notify(
                f"Not sent: {self._problems[0]}" if self._problems else "Not sent", severity="error", markup=False
            )
            return
        draft = self._draft
        if self._batch:
            await self._submit_batch(self._batch)
            return
        try:
            job = await self.engine.add(self._request, source=draft.source, parent_id=draft.parent_id)
        except InvalidRequest as exc:
            self.form.show_problems(exc.problems, reveal=self._reveal)
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        except QwentuiError as exc:
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        if draft is self._kept:
            self._kept = None  # sent: nothing left to keep
        self.notify(f"Job {job.id} queued: {self._request.model_name}", markup=False)
        self.dismiss(job.id)

    async def _submit_batch(self, requests: list[GenerationRequest]) -> None:
        """Queue every job of the several prompts as one batch, in one transaction (all or nothing)."""
        first = requests[0].prompt.strip().splitlines()[0] if requests[0].prompt.strip() else requests[0].model_name
        name = f"composer: {first[:40]}{'…' if len(first) > 40 else ''} ({len(requests)} jobs)"
        total = Total.of(self.pricing.estimate(req) for req in requests)
        currency = self.pricing.table.currency(self.pricing.region)
        try:
            batch_id, ids = await self.engine.add_batch(
                requests, name=name, source=self._draft.source, currency=currency
            )
        except QwentuiError as exc:
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        if self._draft is self._kept:
            self._kept = None
        self.notify(f"Batch {batch_id}: {len(ids)} jobs queued, {total.text}", markup=False)
        self.dismiss(ids[0])

    @work(exclusive=True, group="close")
    async def action_close(self) -> None:
        if self.has_draft():
            answer = await self.app.push_screen_wait(DraftChoice())
            if answer == "edit":
                return
            self._kept = self._snapshot() if answer == "keep" else None
        self.dismiss(None)

    def _snapshot(self) -> Draft:
        d = self._draft
        return Draft(self._mode, self._model, self.form.values(hidden=True), d.title, d.parent_id, d.source)

    def action_toggle_json(self) -> None:
        side = self.query_one("#composer-side")
        side.toggle_class("-hidden")
        if not side.has_class("-hidden"):  # updated without a layout while hidden: measured again now
            self.query_one("#composer-json").refresh(layout=True)

    @work(exclusive=True, group="recall")
    async def action_recall_prompt(self) -> None:
        jobs = await self.store.list_jobs(limit=RECENT_PROMPTS)
        prompts = list(dict.fromkeys(j.prompt for j in jobs if j.prompt and j.prompt.strip()))
        if not prompts:
            self.notify("No earlier prompts yet")
            return
        chosen = await self.app.push_screen_wait(PromptPicker(prompts))
        if chosen is not None:
            area = self.query_one("#f-prompt", TextArea)
            area.text = chosen
            area.move_cursor(area.document.end)
            area.focus()

    @work(exclusive=True, group="pick")
    async def action_pick_file(self) -> None:
        target = self._path_input()
        if target is None:
            self.notify("This model takes no files", severity="warning")
            return
        typed = target.value.strip()
        # a frame or a clip to continue is most often a result: those start in the output folder
        results = self.engine.config.output_dir if target.id and target.id.startswith("f-media_") else None
        start = (
            Path(typed).expanduser().parent
            if typed and not typed.startswith(("http://", "https://", "oss://"))
            else self.last_folder or (results if results is not None and results.is_dir() else Path.cwd())
        )
        picker = FilePicker(start if start.is_dir() else Path.cwd())
        chosen = await self.app.push_screen_wait(picker)
        self.last_folder = picker.folder
        if chosen is not None:
            target.value = str(chosen)
            target.focus()
            await self._offer_restore(chosen)

    async def _offer_restore(self, path: Path) -> None:
        """A file picked for a slot that carries the request that made it: say that ctrl+o can fill the form from it
        (said, not done: a result is most often picked to be used as it is, an input to animate or edit)."""
        if path.suffix.lower() not in RECORD_SUFFIXES:
            return
        try:
            record = await asyncio.to_thread(provenance.read, path)
        except provenance.ProvenanceError:
            return  # not a qwentui output: nothing to offer
        key = next(  # the key as the user's keymap has it
            (self.app.get_key_display(b.binding) for b in self.active_bindings.values() if b.binding.id == RESTORE_KEY),
            "^o",
        )
        self.notify(
            f"{path.name} carries the request that made it (job {record.job_id}, {record.model}): "
            f"{key} and pick it to fill the whole form from it",
            markup=False,
        )

    @work(exclusive=True, group="pick")
    async def action_restore_request(self) -> None:
        """Pick a qwentui output (PNG, JPEG, WebP, MP4) or its .json sidecar: the form is filled from its request."""
        output = self.engine.config.output_dir
        start = self.restore_folder or (output if output.is_dir() else Path.cwd())
        picker = FilePicker(
            start if start.is_dir() else Path.cwd(),
            what="Restore the request from a qwentui output or its .json sidecar",
            suffixes=RECORD_SUFFIXES,
        )
        chosen = await self.app.push_screen_wait(picker)
        self.restore_folder = picker.folder
        if chosen is not None:
            await self.restore_from(chosen)

    async def restore_from(self, path: Path) -> bool:
        """Fill the form (mode, model, prompt, every option) from the request recorded in `path`, ready to edit and
        send; a file without a usable record leaves the form as it was and says why."""
        try:
            record = await asyncio.to_thread(provenance.read, path)  # an MP4 is opened with PyAV: off the loop
            request = record.to_request()
            if request.mode in LOCAL_MODES:
                raise provenance.ProvenanceError(
                    f"{path.name} was assembled from clips ({request.mode.value}), not generated: "
                    "nothing to send again from the composer"
                )
            lookup(request.model_name, request.mode)
        except provenance.ProvenanceError as exc:
            self.notify(f"Nothing restored: {exc}", severity="error", markup=False)
            return False
        except LookupError:
            self.notify(
                f"Nothing restored: {path.name} was made with {request.model_name} ({request.mode.value}), "
                "which this qwentui does not know",
                severity="error",
                markup=False,
            )
            return False
        if not self.is_mounted:
            return False
        self._load(Draft.of(request, f"From {path.name} (job {record.job_id})"))
        self.query_one("#f-prompt", TextArea).focus()
        self.notify(f"Restored the request of job {record.job_id} from {path.name}: edit it, then send", markup=False)
        return True

    def _path_input(self) -> Input | None:
        focused = self.focused
        if isinstance(focused, Input) and self.form.is_path_input(focused):
            return focused
        inputs = self.form.path_inputs()
        empty = [i for i in inputs if not i.value.strip()]
        return (empty or inputs)[0] if inputs else None


class FormScroll(VerticalScroll, SettledSize):
    """The form's scroll view: its content growing or shrinking with a mode change updates the scroll bar without
    laying the screen out a second time."""


class FittedText(Static, SettledSize):
    """A Static whose new text asks for a layout only when it needs another height (measured as a layout would,
    at the width it has): the summary and the JSON view change on every validation, mostly not in height, and a
    layout places and draws the whole composer again."""

    def show(self, content: VisualType) -> None:
        width = self.size.width
        if not width:  # not laid out yet (or hidden since it was built): measured by the layout that shows it
            self.update(content, layout=False)
            return
        before = self.get_content_height(self.size, self.size, width)
        self.update(content, layout=False)
        if self.get_content_height(self.size, self.size, width) != before:
            self.refresh(layout=True)


def cost_text(estimate: Estimate) -> str:
    """One line: "est. 0.75 USD · 5 s x 0.15 USD/s (wan2.7-i2v 1080P) · prices as of 2026-12-01"."""
    if not estimate.known:
        basis = estimate.basis
        return f"est.: {basis}" if basis.startswith("no price known") else f"est.: no price known ({basis})"
    parts = [f"est. {money(estimate.amount, estimate.currency)}", estimate.basis, estimate.note, estimate.dated]
    return " · ".join(part for part in parts if part)


def _json_view(header: str, body: str) -> Text:
    text = Text(header, style="bold")
    syntax = Syntax(body, "json", word_wrap=True, background_color="default")
    text.append_text(syntax.highlight(body))
    return text
