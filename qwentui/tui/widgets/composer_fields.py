"""The composer's form: every field any catalog row takes, built once; a row shows exactly the ones it takes.

A mode, model or VACE function change calls `RequestForm.show(row, function)`, which only shows, hides and
relabels the existing widgets (and swaps a select's choices): nothing is removed or mounted, so the focus and
every key typed meanwhile stay where they were, and a value in a field that is hidden for a while comes back
with it. Widget ids are `f-<key>` with the keys of `request_form.FORM_FIELDS` (size, seed, image_1, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea
from textual.widgets._select import SelectOverlay

from qwentui.core.catalog import Mode, ModelMode
from qwentui.core.requests import Problem, is_remote
from qwentui.tui.request_form import (
    CHECK_LABELS,
    FORM_FIELDS,
    MAX_IMAGE_SLOTS,
    MEDIA_TYPES,
    FieldSpec,
    Kind,
    blank_values,
    field_of,
    field_specs,
)


class PathSuggester(Suggester):
    """Completes local paths from the file system as they are typed (URLs are left alone)."""

    def __init__(self) -> None:
        super().__init__(use_cache=True, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or is_remote(value) or "://" in value:
            return None
        typed = Path(value).expanduser()
        folder, stem = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(
                p.name + ("/" if p.is_dir() else "")
                for p in folder.iterdir()
                if p.name.startswith(stem) and not p.name.startswith(".")
            )
        except OSError:
            return None
        if not names:
            return None
        return value + names[0][len(stem) :]


class QuickSelect(Select[str]):
    """A Select that keeps every key typed right after a pick: the keys that follow "enter tab tab" go where the
    focus went (with `key_order`, which sends on the printable keys that reached a widget after it lost the focus).

    Textual's Select commits a pick a few messages after the enter key, then focuses itself; a tab typed right
    after the enter has by then moved the focus to the next field, and the Select would pull it back. Its list
    also takes letters to search, which would swallow the text typed after "enter tab tab": no type-to-search."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, type_to_search=False, **kwargs)

    @on(SelectOverlay.UpdateSelection)
    def _commit_pick(self, event: SelectOverlay.UpdateSelection) -> None:
        event.stop()
        event.prevent_default()  # instead of Select's own handler, which always refocuses
        value = self._options[event.option_index][1]
        if value != self.value:
            self.value = value
        focused = self.screen.focused
        if focused is None or focused is self or self in focused.ancestors:
            self.focus()
        self.expanded = False


class FieldRow(Vertical):
    """A label, the input widget, a line for its problem (empty when there is none) and an optional hint."""

    DEFAULT_CSS = """
    FieldRow { height: auto; }
    /* a fixed height (the widget's own): a mode change shows and hides rows, and a row of height auto made each
       layout measure every field inside it again */
    FieldRow > Horizontal { height: 3; }
    FieldRow > Horizontal.-text { height: 5; }
    FieldRow#row-negative_prompt > Horizontal { height: 3; }
    FieldRow > Horizontal > Label { width: 18; padding: 1 1 0 0; color: $text-muted; }
    FieldRow > Horizontal > .value { width: 1fr; }
    FieldRow > .problem { color: $error; padding-left: 18; height: auto; display: none; }
    FieldRow.-invalid > .problem { display: block; }
    FieldRow.-invalid > Horizontal > .value { border: tall $error; }
    FieldRow > .hint { color: $text-muted; padding-left: 18; }
    """

    def __init__(self, key: str, widget: Widget, spec: FieldSpec | None) -> None:
        super().__init__(id=f"row-{key}")
        self.key = key
        self.widget = widget
        self._problem: str | None = None
        self._label = Label(spec.label if spec else "")
        self._hint = Static(spec.hint if spec else "", classes="hint", markup=False)
        self._hint.display = bool(spec and spec.hint)
        self._shown = spec  # what the widgets show now (a select got its choices when it was made)
        self.display = spec is not None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="-text" if isinstance(self.widget, TextArea) else ""):
            yield self._label
            yield self.widget
        yield Static("", classes="problem", markup=False)
        yield self._hint

    def apply(self, spec: FieldSpec) -> None:
        """Relabel for `spec` (only what changed: every update costs a layout)."""
        old = self._shown
        self._shown = spec
        if old is not None and old == spec:
            return
        if old is None or old.label != spec.label:
            self._label.update(spec.label)
        if old is None or old.hint != spec.hint:
            self._hint.update(spec.hint)
            self._hint.display = bool(spec.hint)
        widget = self.widget
        if isinstance(widget, Input) and (old is None or old.placeholder != spec.placeholder):
            widget.placeholder = spec.placeholder
        elif isinstance(widget, Select) and (
            old is None or (old.options, old.placeholder) != (spec.options, spec.placeholder)
        ):
            keep = widget.value
            with widget.prevent(Select.Changed):
                widget.prompt = spec.placeholder
                if old is None or old.options != spec.options:
                    widget.set_options(spec.options)
                    if any(v == keep for _, v in spec.options):
                        widget.value = keep

    def show_problem(self, message: str | None) -> None:
        if message == self._problem:
            return  # validation runs on every pause in typing; an unchanged row must not relayout the form
        self._problem = message
        self.set_class(message is not None, "-invalid")
        self.query_one(".problem", Static).update(message or "")


def _widget(key: str, kind: Kind, value: Any, spec: FieldSpec | None) -> Widget:
    if kind == "text":
        return TextArea(str(value or ""), id=f"f-{key}", classes="value", soft_wrap=True, tab_behavior="focus")
    if kind == "check":
        return Checkbox(CHECK_LABELS[key], bool(value), id=f"f-{key}", classes="value")
    if kind == "select":
        options = spec.options if spec else ()
        current = value if any(v == value for _, v in options) else Select.NULL
        prompt = spec.placeholder if spec else ""
        return QuickSelect(options, prompt=prompt, value=current, id=f"f-{key}", classes="value", allow_blank=True)
    return Input(
        str(value or ""),
        placeholder=spec.placeholder if spec else "",
        id=f"f-{key}",
        classes="value",
        restrict=r"[0-9]*" if kind == "digits" else None,
        suggester=PathSuggester() if kind == "path" else None,
    )


class RequestForm(Vertical):
    DEFAULT_CSS = """
    RequestForm { height: auto; }
    RequestForm TextArea { height: 5; }
    RequestForm #f-negative_prompt { height: 3; }
    """

    def __init__(self, row: ModelMode, values: Mapping[str, Any], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row = row
        self.function = _function(row, values)
        self._initial = {**blank_values(), **values}
        self._rows: dict[str, FieldRow] = {}

    def compose(self) -> ComposeResult:
        initial = self._initial
        specs = field_specs(
            self.row, self.function, sets=bool(initial.get("enable_sequential")), batch=bool(initial.get("batch"))
        )
        for key, kind in FORM_FIELDS.items():
            spec = specs.get(key)
            field_row = FieldRow(key, _widget(key, kind, self._initial.get(key), spec), spec)
            self._rows[key] = field_row
            yield field_row

    # ---- showing a row ----------------------------------------------------------------------------------

    def show(self, row: ModelMode, function: str | None = None) -> None:
        """Show exactly the fields `row` takes (with VACE `function`, and as the image-set and several-prompts
        switches say), labelled for it; hide the others."""
        self.row = row
        self.function = function if row.mode is Mode.VACE else None
        specs = field_specs(row, self.function, sets=self.switched_on("enable_sequential"), batch=self.several_prompts)
        for key, field_row in self._rows.items():
            spec = specs.get(key)
            if spec is not None:
                field_row.apply(spec)
            if field_row.display != (spec is not None):
                field_row.display = spec is not None
                if spec is None:
                    field_row.show_problem(None)

    def fill(self, values: Mapping[str, Any]) -> None:
        """Put `values` in every field (absent keys: empty), without announcing each as an edit."""
        full = {**blank_values(), **values}
        with self.prevent(Input.Changed, TextArea.Changed, Checkbox.Changed, Select.Changed):
            for key, field_row in self._rows.items():
                widget, value = field_row.widget, full.get(key)
                if isinstance(widget, TextArea):
                    if widget.text != str(value or ""):
                        widget.text = str(value or "")
                elif isinstance(widget, Checkbox):
                    widget.value = bool(value)
                elif isinstance(widget, Input):
                    widget.value = str(value or "")
            # the switches just set (image set, several prompts) show other fields and other choices (n up to
            # 12): shown before the selects are set, so a set's n of 8 finds its choice
            self.show(self.row, self.function)
            self._set_selects(full)
            for field_row in self._rows.values():
                field_row.show_problem(None)

    def _set_selects(self, values: Mapping[str, Any]) -> None:
        for key, field_row in self._rows.items():
            widget = field_row.widget
            if isinstance(widget, Select):
                value = str(values.get(key) or "")
                with widget.prevent(Select.Changed):
                    if any(v == value for _, v in widget._options):
                        widget.value = value
                    elif not widget.is_blank():
                        widget.clear()

    # ---- reading and marking --------------------------------------------------------------------------

    def switched_on(self, key: str) -> bool:
        """Whether the check box `key` is ticked (before the form is composed: in the values it was made with)."""
        field_row = self._rows.get(key)
        if field_row is None:
            return bool(self._initial.get(key))
        return isinstance(field_row.widget, Checkbox) and field_row.widget.value

    @property
    def several_prompts(self) -> bool:
        """Whether the prompt box holds several prompts (one per line)."""
        return self.switched_on("batch")

    def _shown_rows(self) -> dict[str, FieldRow]:
        return {key: r for key, r in self._rows.items() if r.display}

    def values(self, *, hidden: bool = False) -> dict[str, Any]:
        """What the user has in every shown field (with `hidden`, in every field), by key (untouched selects are
        empty strings)."""
        out: dict[str, Any] = {}
        for key, field_row in (self._rows if hidden else self._shown_rows()).items():
            widget = field_row.widget
            if isinstance(widget, TextArea):
                out[key] = widget.text
            elif isinstance(widget, Input | Checkbox):
                out[key] = widget.value
            elif isinstance(widget, Select):
                out[key] = widget.value if isinstance(widget.value, str) else ""
        return out

    def show_problems(
        self, problems: list[Problem], reveal: Callable[[str, object], bool] = lambda k, v: True
    ) -> list[str]:
        """Put each problem under its field, where `reveal(key, value)` allows; returns the problems no field
        can show (for the summary)."""
        by_key: dict[str, list[str]] = {}
        values = self.values()
        filled = [i for i in range(1, MAX_IMAGE_SLOTS + 1) if str(values.get(f"image_{i}") or "").strip()]
        media = [kind for kind in MEDIA_TYPES if str(values.get(f"media_{kind}") or "").strip()]
        for problem in problems:
            key = field_of(problem, filled, media)
            if key == "size" and str(values.get("size_custom") or "").strip():
                key = "size_custom"  # the free W*H overrides the list, so its value is the one at fault
            by_key.setdefault(key, []).append(problem.message)
        orphans: list[str] = []
        rows = self._shown_rows()
        for key, messages in by_key.items():
            if key not in rows:
                orphans += [f"{key}: {m}" for m in messages]
        for key, field_row in rows.items():
            found = by_key.get(key) if reveal(key, values.get(key)) else None
            field_row.show_problem("; ".join(found) if found else None)
        return orphans

    def chosen_function(self) -> str | None:
        """The VACE function picked in its select (None when none is)."""
        value = self._rows["function"].widget
        return value.value if isinstance(value, Select) and isinstance(value.value, str) else None

    def path_inputs(self) -> list[Input]:
        """The file fields (images, media, audio, VACE videos) the current row shows, in order."""
        return [
            r.widget
            for key, r in self._shown_rows().items()
            if FORM_FIELDS[key] == "path" and isinstance(r.widget, Input)
        ]

    def is_path_input(self, widget: Widget | None) -> bool:
        """Whether `widget` is one of the form's file fields (F4 fills it)."""
        return any(r.widget is widget and FORM_FIELDS[key] == "path" for key, r in self._rows.items())

    def first_invalid(self) -> Widget | None:
        for field_row in self._shown_rows().values():
            if field_row.has_class("-invalid"):
                return field_row.widget
        return None


def _function(row: ModelMode, values: Mapping[str, Any]) -> str | None:
    return str(values.get("function") or "") or None if row.mode is Mode.VACE else None
