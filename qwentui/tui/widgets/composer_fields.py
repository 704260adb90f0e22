"""The composer's form: exactly the fields one catalog row takes, each with its own problem line.

A `RequestForm` is built for one (model, mode) row and one VACE function; when the user picks another, the
screen builds a new form from the old one's values, so nothing typed is lost and no hidden field lingers.
Widget ids are `f-<key>` with the keys of `request_form` (size, seed, image_1, vace_video_url, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static, TextArea

from qwentui.core.catalog import SHOT_TYPES, VACE_FUNCTIONS, Field, Mode, ModelMode
from qwentui.core.requests import CONTROL_CONDITIONS, Problem, is_remote
from qwentui.tui.request_form import field_of, image_slots, vace_fields


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


class FieldRow(Vertical):
    """A label, the input widget, and a line for its problem (empty when there is none)."""

    DEFAULT_CSS = """
    FieldRow { height: auto; }
    FieldRow > Horizontal { height: auto; }
    FieldRow > Horizontal > Label { width: 18; padding: 1 1 0 0; color: $text-muted; }
    FieldRow > Horizontal > .value { width: 1fr; }
    FieldRow > .problem { color: $error; padding-left: 18; height: auto; display: none; }
    FieldRow.-invalid > .problem { display: block; }
    FieldRow.-invalid > Horizontal > .value { border: tall $error; }
    """

    def __init__(self, key: str, label: str, widget: Widget, hint: str = "") -> None:
        super().__init__(id=f"row-{key}")
        self.key = key
        self._problem: str | None = None
        self._label = label
        self._widget = widget
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self._label)
            yield self._widget
        yield Static("", classes="problem", markup=False)
        if self._hint:
            yield Static(self._hint, classes="hint", markup=False)

    def show_problem(self, message: str | None) -> None:
        if message == self._problem:
            return  # validation runs on every pause in typing; an unchanged row must not relayout the form
        self._problem = message
        self.set_class(message is not None, "-invalid")
        self.query_one(".problem", Static).update(message or "")


def _select(key: str, options: Iterable[tuple[str, str]], value: Any, blank: str) -> Select[str]:
    choices = list(options)
    current = value if any(v == value for _, v in choices) else Select.NULL
    return Select(choices, prompt=blank, value=current, id=f"f-{key}", classes="value", allow_blank=True)


def _input(
    key: str, value: Any, placeholder: str, *, restrict: str | None = None, suggester: Suggester | None = None
) -> Input:
    return Input(
        str(value or ""),
        placeholder=placeholder,
        id=f"f-{key}",
        classes="value",
        restrict=restrict,
        suggester=suggester,
    )


class RequestForm(Vertical):
    DEFAULT_CSS = """
    RequestForm { height: auto; }
    RequestForm TextArea { height: 5; }
    RequestForm #f-negative_prompt { height: 3; }
    RequestForm .hint { color: $text-muted; padding-left: 18; }
    """

    def __init__(self, row: ModelMode, values: Mapping[str, Any], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row = row
        self.function = str(values.get("function") or "") or None if row.mode is Mode.VACE else None
        self._initial = dict(values)

    def compose(self) -> ComposeResult:
        row, v = self.row, self._initial
        prompt_label = "prompt" if row.prompt_required else "prompt (optional)"
        yield FieldRow(
            "prompt",
            prompt_label,
            TextArea(str(v.get("prompt", "")), id="f-prompt", classes="value", soft_wrap=True, tab_behavior="focus"),
        )
        if row.takes(Field.NEGATIVE_PROMPT):
            yield FieldRow(
                "negative_prompt",
                "negative prompt",
                TextArea(
                    str(v.get("negative_prompt", "")),
                    id="f-negative_prompt",
                    classes="value",
                    soft_wrap=True,
                    tab_behavior="focus",
                ),
            )
        if row.mode is Mode.VACE:
            yield FieldRow(
                "function", "function", _select("function", ((f, f) for f in VACE_FUNCTIONS), self.function, "choose…")
            )
        yield from self._image_rows()
        yield from self._option_rows()
        if row.mode is Mode.VACE:
            yield from self._vace_rows()

    def _image_rows(self) -> Iterable[FieldRow]:
        slots = image_slots(self.row, self.function)
        rule = self.row.images
        suggester = PathSuggester()
        for i, label in enumerate(slots, start=1):
            hint = ""
            if i == len(slots) and self.row.mode is not Mode.VACE:
                count = (
                    str(rule.max_count) if rule.min_count == rule.max_count else f"{rule.min_count}-{rule.max_count}"
                )
                hint = (
                    f"{count} {'image' if rule.max_count == 1 else 'images'}: https:// or oss:// URL, or a local "
                    f"file ({', '.join(rule.formats)}, {rule.min_side}-{rule.max_side} px); F4 picks a file"
                )
            yield FieldRow(
                f"image_{i}",
                label,
                _input(f"image_{i}", self._initial.get(f"image_{i}"), "URL or local path", suggester=suggester),
                hint,
            )

    def _option_rows(self) -> Iterable[FieldRow]:
        row, v = self.row, self._initial
        if row.takes(Field.SIZE) and row.size is not None:
            default = f"default ({row.default_size})" if row.default_size else "default"
            yield FieldRow("size", "size", _select("size", ((c, c) for c in row.size.choices), v.get("size"), default))
            if row.size.free_form:
                lo, hi = round((row.size.min_pixels or 0) ** 0.5), round((row.size.max_pixels or 0) ** 0.5)
                yield FieldRow(
                    "size_custom",
                    "or W*H",
                    _input("size_custom", v.get("size_custom"), f"free size, {lo}*{lo} to {hi}*{hi} pixels"),
                )
        if row.takes(Field.N) and row.n_range[0] != row.n_range[1]:
            lo, hi = row.n_range
            yield FieldRow(
                "n",
                "images (n)",
                _select("n", ((str(i), str(i)) for i in range(lo, hi + 1)), v.get("n"), f"default ({row.default_n})"),
            )
        if row.takes(Field.MAX_IMAGES):
            lo, hi = row.max_images_range
            yield FieldRow(
                "max_images",
                "max images",
                _select(
                    "max_images", ((str(i), str(i)) for i in range(lo, hi + 1)), v.get("max_images"), f"default ({hi})"
                ),
            )
        if row.takes(Field.DURATION) and row.durations:
            yield FieldRow(
                "duration",
                "duration (s)",
                _select(
                    "duration",
                    ((str(d), str(d)) for d in row.durations),
                    v.get("duration"),
                    f"default ({row.default_duration})",
                ),
            )
        if row.takes(Field.RESOLUTION) and row.resolutions:
            yield FieldRow(
                "resolution",
                "resolution",
                _select(
                    "resolution",
                    ((r, r) for r in row.resolutions),
                    v.get("resolution"),
                    f"default ({row.default_resolution})",
                ),
            )
        if row.takes(Field.SHOT_TYPE):
            yield FieldRow(
                "shot_type",
                "shot type",
                _select("shot_type", ((s, s) for s in SHOT_TYPES), v.get("shot_type"), "default"),
            )
        if row.takes(Field.SEED):
            yield FieldRow("seed", "seed", _input("seed", v.get("seed"), "random", restrict=r"[0-9]*"))
        if row.takes(Field.AUDIO_URL):
            yield FieldRow(
                "audio_url",
                "audio",
                _input(
                    "audio_url",
                    v.get("audio_url"),
                    "optional audio URL or local file (wav/mp3)",
                    suggester=PathSuggester(),
                ),
            )
        if row.takes(Field.TEMPLATE):
            yield FieldRow("template", "template", _input("template", v.get("template"), "optional effect template"))
        if row.takes(Field.AUDIO):
            yield FieldRow(
                "silent", "", Checkbox("silent video (no audio)", bool(v.get("silent")), id="f-silent", classes="value")
            )
        if row.takes(Field.PROMPT_EXTEND):
            yield FieldRow(
                "prompt_extend",
                "",
                Checkbox(
                    "prompt extend (let the service enrich the prompt)",
                    v.get("prompt_extend", True) is not False,
                    id="f-prompt_extend",
                    classes="value",
                ),
            )
        if row.takes(Field.WATERMARK):
            yield FieldRow(
                "watermark", "", Checkbox("watermark", bool(v.get("watermark")), id="f-watermark", classes="value")
            )

    def _vace_rows(self) -> Iterable[FieldRow]:
        v = self._initial
        hints = {
            "obj_or_bg": "comma list, one per reference image: obj or bg",
            "strength": "0 to 1",
            "mask_frame_id": "frame number from 1",
        }
        for key in vace_fields(self.function):
            form_key = f"vace_{key}"
            if key == "control_condition":
                widget: Widget = _select(form_key, ((c, c) for c in CONTROL_CONDITIONS), v.get(form_key), "choose…")
            else:
                url = key.endswith("_url")
                widget = _input(
                    form_key,
                    v.get(form_key),
                    hints.get(key, "URL or local file" if url else ""),
                    suggester=PathSuggester() if url else None,
                )
            yield FieldRow(form_key, key.replace("_", " "), widget)

    # ---- reading and marking --------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """What the user has in every field of this form, by key (untouched selects are empty strings)."""
        out: dict[str, Any] = {}
        for widget in self.query(".value"):
            key = (widget.id or "")[2:]
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
        filled = [i for i in range(1, 6) if str(values.get(f"image_{i}") or "").strip()]
        for problem in problems:
            key = field_of(problem, filled)
            if key == "size" and str(values.get("size_custom") or "").strip():
                key = "size_custom"  # the free W*H overrides the list, so its value is the one at fault
            by_key.setdefault(key, []).append(problem.message)
        orphans: list[str] = []
        rows = {r.key: r for r in self.query(FieldRow)}
        for key, messages in by_key.items():
            if key not in rows:
                orphans += [f"{key}: {m}" for m in messages]
        for key, field_row in rows.items():
            found = by_key.get(key) if reveal(key, values.get(key)) else None
            field_row.show_problem("; ".join(found) if found else None)
        return orphans

    def first_invalid(self) -> Widget | None:
        for field_row in self.query(FieldRow):
            if field_row.has_class("-invalid"):
                return field_row.query_one(".value")
        return None
