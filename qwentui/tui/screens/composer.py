"""The composer: choose a mode and a model, fill exactly the fields that model takes, see the request, send it.

Every edit re-validates with the catalog's own rules (`validate`) after a short pause, shows each problem under
its field, and refreshes the JSON body that would be sent (`build(req).body`). Submitting with problems sends
nothing and moves the focus to the first bad field. The screen returns the new job's id, or None.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from qwentui.core.catalog import DEFAULT_MODEL, Mode, lookup, rows_for_mode
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest, InvalidRequest, Problem, build, validate
from qwentui.core.store import Store
from qwentui.tui import keymap
from qwentui.tui.request_form import from_request, to_request
from qwentui.tui.screens.pickers import FilePicker, PromptPicker
from qwentui.tui.widgets.composer_fields import RequestForm
from qwentui.tui.widgets.key_bar import KeyBar

VALIDATE_DEBOUNCE = 0.15  # seconds: validation (which may probe local images) runs once typing pauses
RECENT_PROMPTS = 200  # jobs read to collect recent distinct prompts


class ComposerScreen(Screen[int | None]):
    BINDINGS = keymap.bindings("composer")
    DEFAULT_CSS = """
    ComposerScreen #composer-body { height: 1fr; }
    ComposerScreen #composer-form { width: 1fr; padding: 0 1; }
    ComposerScreen #composer-side { width: 45%; border-left: vkey $panel-lighten-2; padding: 0 1; }
    ComposerScreen #composer-side.-hidden { display: none; }
    ComposerScreen #composer-top { height: auto; }
    ComposerScreen #composer-top Select { width: 1fr; }
    ComposerScreen #composer-top Label { padding: 1 1 0 0; }
    ComposerScreen #model-summary { color: $text-muted; padding: 0 0 1 0; }
    ComposerScreen #composer-summary { height: auto; max-height: 6; padding: 0 1; }
    ComposerScreen #composer-summary.-ok { color: $success; }
    ComposerScreen #composer-summary.-bad { color: $error; }
    ComposerScreen #composer-title { background: $primary; color: $text; padding: 0 1; height: 1; }
    """

    def __init__(
        self, engine: Engine, store: Store, initial: GenerationRequest | None = None, title: str = "New job"
    ) -> None:
        super().__init__()
        self.engine = engine
        self.store = store
        self._title = title
        request = initial or GenerationRequest(mode=Mode.T2I)
        self._mode = request.mode
        self._model = request.model_name
        self._initial_values = from_request(request)
        self._debounce: Timer | None = None
        self._problems: list[Problem] = []
        self._request: GenerationRequest | None = None
        self._summary_text = ""
        # A field shows its problem once the user has been there (or filled it, or tried to submit): a new form
        # that greets the user with "is required" under every empty field is noise, not guidance.
        self._touched: set[str] = set()
        self._reveal_all = False
        self._json_shown: tuple[str, str] = ("", "")
        self._generation = 0  # validations started; only the latest one's result is shown

    # ---- layout -------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(
            Text(f"{self._title} — ctrl+s or ctrl+j submits, F2 JSON, F3 recent prompts, esc closes"),
            id="composer-title",
        )
        with Horizontal(id="composer-body"):
            with VerticalScroll(id="composer-form"):
                with Horizontal(id="composer-top"):
                    yield Label("mode")
                    yield Select(
                        [(f"{m.label} ({m.value})", m.value) for m in Mode],
                        value=self._mode.value,
                        allow_blank=False,
                        id="pick-mode",
                    )
                    yield Label("model")
                    yield Select(self._model_options(self._mode), value=self._model, allow_blank=False, id="pick-model")
                yield Static(self._summary_of_model(), id="model-summary", markup=False)
                yield RequestForm(lookup(self._model, self._mode), self._initial_values, id="request-form")
            with VerticalScroll(id="composer-side"):
                yield Static("", id="composer-json")
        yield Static("", id="composer-summary", markup=False)
        yield KeyBar()

    async def on_mount(self) -> None:
        prompt = self.query_one("#f-prompt", TextArea)
        prompt.move_cursor(prompt.document.end)  # a duplicated prompt is edited at its end, not its start
        prompt.focus()
        if self.app.size.width < 120:  # the JSON view would squeeze the form; F2 shows it
            self.query_one("#composer-side").add_class("-hidden")
        await self._validate_now()

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

    # ---- mode, model and VACE function change the set of fields ------------------------------------------

    @on(Select.Changed, "#pick-mode")
    async def _mode_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, str) or event.value == self._mode.value:
            return
        self._mode = Mode(event.value)
        self._model = DEFAULT_MODEL[self._mode]
        picker = self.query_one("#pick-model", Select)
        with picker.prevent(Select.Changed):
            picker.set_options(self._model_options(self._mode))
            picker.value = self._model
        await self._rebuild_form()

    @on(Select.Changed, "#pick-model")
    async def _model_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, str) or event.value == self._model:
            return
        self._model = event.value
        await self._rebuild_form()

    @on(Select.Changed, "#f-function")
    async def _function_changed(self, event: Select.Changed) -> None:
        event.stop()
        if (event.value if isinstance(event.value, str) else None) != self.form.function:
            await self._rebuild_form()

    async def _rebuild_form(self) -> None:
        """A new form for the new row, carrying over every value the user typed."""
        old = self.form
        values = {**self._initial_values, **old.values()}
        self._initial_values = values
        focused_key = (self.focused.id or "") if self.focused is not None else ""
        await old.remove()
        form = RequestForm(lookup(self._model, self._mode), values, id="request-form")
        await self.query_one("#composer-form", VerticalScroll).mount(form)
        self.query_one("#model-summary", Static).update(self._summary_of_model())
        if focused_key == "f-function":
            form.query_one("#f-function").focus()
        await self._validate_now()

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
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(VALIDATE_DEBOUNCE, self._validate_now)

    def current(self) -> tuple[GenerationRequest, list[Problem]]:
        """The request the form describes and every reason it cannot be sent (validated right here)."""
        form = self.form
        request, problems = to_request(self._mode, self._model, form.values(), form.row)
        return request, problems + validate(request)

    async def _validate_now(self) -> None:
        if not self.is_mounted:
            return
        self._generation += 1
        generation = self._generation
        form = self.form
        request, problems = to_request(self._mode, self._model, form.values(), form.row)
        # validate() probes local images with Pillow: off the event loop, so typing never stutters on a big file
        problems += await asyncio.to_thread(validate, request)
        if generation != self._generation or not self.is_mounted:
            return  # a newer edit has been validated (or is being): its result is the one to show
        self._request, self._problems = request, problems
        orphans = self.form.show_problems(problems, reveal=self._reveal)
        if problems:
            lines = [f"✗ not ready ({len(problems)}): {problems[0]}"]
            text = "\n".join(lines + [f"  {o}" for o in orphans if o != str(problems[0])])
        else:
            text = "✓ ready to submit"
        if text != self._summary_text:  # every update re-lays the screen out: only when it changed
            self._summary_text = text
            summary = self.query_one("#composer-summary", Static)
            summary.update(text)
            summary.set_class(bool(problems), "-bad")
            summary.set_class(not problems, "-ok")
        self._show_json(request, problems)

    def _show_json(self, request: GenerationRequest, problems: list[Problem]) -> None:
        view = self.query_one("#composer-json", Static)
        if problems:
            body = json.dumps(request.to_dict(), indent=2, ensure_ascii=False)
            header = "request so far (not valid yet):\n"
        else:
            wire = build(request, check_files=False)  # just validated, files included
            body = json.dumps(wire.body, indent=2, ensure_ascii=False)
            header = f"POST {wire.route.value}\n"
            if wire.local_files:
                header += f"{len(wire.local_files)} local file(s) are uploaded first and replaced by oss:// URLs\n"
        if (header, body) != self._json_shown:
            self._json_shown = (header, body)
            view.update(_json_view(header, body))

    # ---- actions ------------------------------------------------------------------------------------------

    def _reveal(self, key: str, value: object) -> bool:
        return self._reveal_all or key in self._touched or bool(str(value or "").strip())

    async def action_submit(self) -> None:
        self._reveal_all = True
        if self._debounce is not None:
            self._debounce.stop()
        await self._validate_now()
        if self._problems or self._request is None:
            first = self.form.first_invalid()
            if first is not None:
                first.focus()
            self.notify(
                f"Not sent: {self._problems[0]}" if self._problems else "Not sent", severity="error", markup=False
            )
            return
        try:
            job = await self.engine.add(self._request, source="tui")
        except InvalidRequest as exc:
            self.form.show_problems(exc.problems, reveal=self._reveal)
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        except QwentuiError as exc:
            self.notify(f"Not sent: {exc}", severity="error", markup=False)
            return
        self.notify(f"Job {job.id} queued: {self._request.model_name}", markup=False)
        self.dismiss(job.id)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_json(self) -> None:
        self.query_one("#composer-side").toggle_class("-hidden")

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
        start = (
            Path(target.value).expanduser().parent
            if target.value and not target.value.startswith(("http://", "https://", "oss://"))
            else Path.cwd()
        )
        chosen = await self.app.push_screen_wait(FilePicker(start if start.is_dir() else Path.cwd()))
        if chosen is not None:
            target.value = str(chosen)
            target.focus()

    def _path_input(self) -> Input | None:
        focused = self.focused
        if (
            isinstance(focused, Input)
            and focused.id
            and (focused.id.startswith("f-image_") or focused.id.endswith("_url"))
        ):
            return focused
        inputs = [i for i in self.form.query(Input) if i.id and i.id.startswith("f-image_")]
        empty = [i for i in inputs if not i.value.strip()]
        return (empty or inputs)[0] if inputs else None


def _json_view(header: str, body: str) -> Text:
    text = Text(header, style="bold")
    syntax = Syntax(body, "json", word_wrap=True, background_color="default")
    text.append_text(syntax.highlight(body))
    return text
