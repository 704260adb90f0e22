"""The composer's form: every field any catalog row takes, built once; a row shows exactly the ones it takes.

A mode, model or VACE function change calls `RequestForm.show(row, function)`, which only shows, hides and
relabels the existing widgets (and swaps a select's choices): nothing is removed or mounted, so the focus and
every key typed meanwhile stay where they were, and a value in a field that is hidden for a while comes back
with it. Widget ids are `f-<key>` with the keys of `request_form.FORM_FIELDS` (size, seed, image_1, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.strip import Strip
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Select, Static, TextArea
from textual.widgets._select import NoSelection, SelectCurrent, SelectOverlay

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


class _Current(SelectCurrent):
    """The chosen value, updated without a layout: its label is one line of a fixed width (QuickSelect's CSS),
    and a pick's layout would come before the one of the form it changes (two layouts for one mode change)."""

    def update(self, label: RenderableType | NoSelection) -> None:
        self.label = label
        self.has_value = label is not Select.NULL
        shown = self.placeholder if isinstance(label, NoSelection) else label
        self.query_one("#label", Static).update(shown, layout=False)


class QuickSelect(Select[str]):
    """A Select that keeps every key typed right after a pick: the keys that follow "enter tab tab" go where the
    focus went (with `key_order`, which sends on the printable keys that reached a widget after it lost the focus).

    Textual's Select commits a pick a few messages after the enter key, then focuses itself; a tab typed right
    after the enter has by then moved the focus to the next field, and the Select would pull it back. Its list
    also takes letters to search, which would swallow the text typed after "enter tab tab": no type-to-search."""

    DEFAULT_CSS = """
    /* one line per choice, cut with … when the JSON view leaves the form little room (never 4 wrapped lines) */
    QuickSelect SelectCurrent Static#label { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, type_to_search=False, **kwargs)

    def compose(self) -> ComposeResult:  # Select's, with a current value that never asks for a layout
        yield _Current(self.prompt)
        yield SelectOverlay(type_to_search=self._type_to_search).data_bind(compact=Select.compact)

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


LABEL_WIDTH = 18  # columns left of the field for its label (and the indent of its problem and hint lines)


_ROLES = ("field-row--label", "field-row--problem", "field-row--hint")
_BLANK = Strip([])


class SettledSize(Widget):
    """A widget whose new size asks for no second layout: the layout that gave it that size placed its children
    already (Textual lays the whole screen out again whenever a widget's virtual size changes, which a mode
    change does to the form and every row it shows, hides or relabels: one layout more after each)."""

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)


class FieldRow(SettledSize):
    """One field: its input widget, with its label drawn at its left and its problem (when it has one) and hint
    drawn under it, all by this one widget.

    The row is the form's unit of layout: a mode change shows and hides rows, so a row is one widget around its
    input (not a Horizontal of a Label and the input, with a Static each for the problem and the hint: three
    times the widgets each layout places and draws), and its height is set from what it shows (the input's
    height, then the problem and hint wrapped to the form's width) instead of measured at every layout. Only a
    change of that height asks for a layout; a new label, hint or problem of the same height is a repaint."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set(_ROLES)
    DEFAULT_CSS = f"""
    FieldRow {{ height: 3; }}
    FieldRow > .value {{ margin-left: {LABEL_WIDTH}; width: 1fr; }}
    FieldRow > TextArea.value {{ height: 5; }}
    FieldRow#row-negative_prompt > TextArea.value {{ height: 3; }}
    FieldRow.-invalid > .value {{ border: tall $error; }}
    FieldRow > .field-row--label {{ color: $text-muted; }}
    FieldRow > .field-row--problem {{ color: $error; }}
    FieldRow > .field-row--hint {{ color: $text-muted; }}
    """

    def __init__(self, key: str, widget: Widget, spec: FieldSpec | None) -> None:
        super().__init__(id=f"row-{key}")
        self.key = key
        self.widget = widget
        self._field_height = 5 if isinstance(widget, TextArea) and key != "negative_prompt" else 3
        self._label = spec.label if spec else ""
        self._hint = spec.hint if spec else ""
        self._problem: str | None = None
        self._width = 0  # the form's width, once known: problem and hint lines wrap to it
        self._lines: list[tuple[str, str]] = []  # (text, component class) of each line under the field
        self._shown = spec  # what the widgets show now (a select got its choices when it was made)
        self._styles: dict[str, Style] | None = None
        self.display = spec is not None
        self._fit()

    @property
    def problem(self) -> str | None:
        """The problem shown under the field (None when there is none)."""
        return self._problem

    @property
    def hint(self) -> str:
        return self._hint

    @property
    def label(self) -> str:
        return self._label

    def compose(self) -> ComposeResult:
        yield self.widget

    def fit(self, width: int) -> None:
        """The form is `width` columns wide: wrap the problem and the hint to it."""
        if width != self._width:
            self._width = width
            self._fit()

    def _fit(self) -> None:
        """Lay out the lines under the field; a layout only when their number changed."""
        room = self._width - LABEL_WIDTH if self._width > LABEL_WIDTH else 0
        lines = [(line, "field-row--problem") for line in _wrap(self._problem or "", room)]
        lines += [(line, "field-row--hint") for line in _wrap(self._hint, room)]
        height = self._field_height + len(lines)
        self._lines = lines
        if self.styles.height is None or self.styles.height.value != height:
            self.styles.height = height  # asks for a layout
        else:
            self.refresh()

    def notify_style_update(self) -> None:
        self._styles = None  # looked up again after a change of style (-invalid, a theme), not for every drawing
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        # Textual pads each line to the width (in the row's background): only the words are drawn here
        if self._styles is None:
            self._styles = {role: self.get_component_rich_style(role) for role in _ROLES} | {"": self.rich_style}
        if y < self._field_height:
            labels = _wrap(self._label, LABEL_WIDTH - 1)
            return Strip([Segment(labels[y - 1], self._styles[_ROLES[0]])]) if 0 < y <= len(labels) else _BLANK
        if y - self._field_height >= len(self._lines):
            return _BLANK
        text, role = self._lines[y - self._field_height]
        return Strip([Segment(" " * LABEL_WIDTH, self._styles[""]), Segment(text, self._styles[role])])

    def apply(self, spec: FieldSpec) -> None:
        """Relabel for `spec` (only what changed: every update costs a layout)."""
        old = self._shown
        self._shown = spec
        if old is not None and old == spec:
            return
        if old is None or (old.label, old.hint) != (spec.label, spec.hint):
            self._label, self._hint = spec.label, spec.hint
            self._fit()
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
        self._fit()


@lru_cache(maxsize=512)
def _wrap(text: str, width: int) -> tuple[str, ...]:
    """`text` in lines of at most `width` cells (at its own line breaks only when `width` is 0: not known yet)."""
    if not text:
        return ()
    if width <= 0:
        return tuple(text.splitlines())
    return tuple(line.plain.rstrip() for line in Text(text).wrap(_CONSOLE, width, overflow="fold"))


_CONSOLE = Console(width=1000, legacy_windows=False, color_system=None)  # measures text only: never writes


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


class RequestForm(Vertical, SettledSize):
    DEFAULT_CSS = """
    RequestForm { height: auto; }
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

    def on_resize(self, event: events.Resize) -> None:
        for field_row in self._rows.values():  # hidden rows too: they show at the right height
            field_row.fit(event.size.width)

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
