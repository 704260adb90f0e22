"""The composer's form values <-> a `GenerationRequest`, without any widget.

The form holds what the user typed, as strings and booleans keyed by field name; this module turns them into a
request (plus the problems of text that is not even a number, which `validate()` cannot see) and back (to fill
the form from a job being duplicated). Keeping it pure keeps the composer screen about layout and keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from qwentui.core.catalog import SHOT_TYPES, VACE_FUNCTIONS, Field, Mode, ModelMode
from qwentui.core.requests import CONTROL_CONDITIONS, VACE_INPUTS, VACE_PARAMS, GenerationRequest, Problem

MAX_IMAGE_SLOTS = 5
VACE_FIELDS: dict[str, tuple[str, ...]] = {
    "image_reference": ("obj_or_bg",),
    "video_repainting": ("video_url", "control_condition", "strength"),
    "video_edit": ("video_url", "mask_image_url", "mask_video_url", "mask_frame_id"),
    "video_extension": ("first_clip_url", "last_clip_url"),
    "video_outpainting": ("video_url", "top_scale", "bottom_scale", "left_scale", "right_scale"),
}
VACE_INT = frozenset({"mask_frame_id"})
VACE_FLOAT = frozenset({"strength", "expand_ratio", "top_scale", "bottom_scale", "left_scale", "right_scale"})
_INT_FIELDS = ("n", "seed", "duration", "max_images")
_TEXT_FIELDS = ("negative_prompt", "size", "resolution", "audio_url", "shot_type", "template", "function")


def image_slots(row: ModelMode, function: str | None = None) -> list[str]:
    """A label per image input the row takes, in request order."""
    if row.mode is Mode.VACE:
        return [f"reference image {i}" for i in range(1, 4)] if function == "image_reference" else []
    count = min(row.images.max_count, MAX_IMAGE_SLOTS)
    if row.mode is Mode.I2V:
        return ["first frame"]
    if row.mode is Mode.KF2V:
        return ["first frame", "last frame"][:count]
    if row.mode is Mode.R2V:
        return [f"reference {i} (image or video)" for i in range(1, count + 1)]
    return [f"reference image {i}" for i in range(1, count + 1)]


def vace_fields(function: str | None) -> tuple[str, ...]:
    return VACE_FIELDS.get(function or "", ())


Kind = Literal["text", "select", "input", "path", "digits", "check"]
_VACE_KEYS = tuple(dict.fromkeys(key for keys in VACE_FIELDS.values() for key in keys))
# Every field the form can show, in screen order, with its kind of widget. The composer builds one widget per
# key once; a mode, model or VACE function change only shows, hides and relabels them (`field_specs`).
FORM_FIELDS: dict[str, Kind] = {
    "prompt": "text",
    "negative_prompt": "text",
    "function": "select",
    **{f"image_{i}": "path" for i in range(1, MAX_IMAGE_SLOTS + 1)},
    "size": "select",
    "size_custom": "input",
    "n": "select",
    "max_images": "select",
    "duration": "select",
    "resolution": "select",
    "shot_type": "select",
    "seed": "digits",
    "audio_url": "path",
    "template": "input",
    "silent": "check",
    "prompt_extend": "check",
    "watermark": "check",
    **{
        f"vace_{key}": ("select" if key == "control_condition" else "path" if key.endswith("_url") else "input")
        for key in _VACE_KEYS
    },
}
CHECK_LABELS = {
    "silent": "silent video (no audio)",
    "prompt_extend": "prompt extend (let the service enrich the prompt)",
    "watermark": "watermark",
}
_VACE_HINTS = {
    "obj_or_bg": "comma list, one per reference image: obj or bg",
    "strength": "0 to 1",
    "mask_frame_id": "frame number from 1",
}


@dataclass(frozen=True)
class FieldSpec:
    """How one field looks for one catalog row: its label, and its choices (selects) or placeholder (inputs)."""

    label: str
    placeholder: str = ""
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""


def _choices(values: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(v), str(v)) for v in values)


def field_specs(row: ModelMode, function: str | None = None) -> dict[str, FieldSpec]:
    """The fields `row` takes (with VACE `function`), by key of FORM_FIELDS; a key that is absent is hidden.

    For a select, `placeholder` is its blank choice ("default (1280*720)")."""
    specs: dict[str, FieldSpec] = {"prompt": FieldSpec("prompt" if row.prompt_required else "prompt (optional)")}
    if row.takes(Field.NEGATIVE_PROMPT):
        specs["negative_prompt"] = FieldSpec("negative prompt")
    if row.mode is Mode.VACE:
        specs["function"] = FieldSpec("function", "choose…", _choices(VACE_FUNCTIONS))
    slots = image_slots(row, function)
    rule = row.images
    for i, label in enumerate(slots, start=1):
        hint = ""
        if i == len(slots) and row.mode is not Mode.VACE:
            count = str(rule.max_count) if rule.min_count == rule.max_count else f"{rule.min_count}-{rule.max_count}"
            hint = (
                f"{count} {'image' if rule.max_count == 1 else 'images'}: https:// or oss:// URL, or a local "
                f"file ({', '.join(rule.formats)}, {rule.min_side}-{rule.max_side} px); F4 picks a file"
            )
        specs[f"image_{i}"] = FieldSpec(label, "URL or local path", hint=hint)
    if row.takes(Field.SIZE) and row.size is not None:
        default = f"default ({row.default_size})" if row.default_size else "default"
        specs["size"] = FieldSpec("size", default, _choices(row.size.choices))
        if row.size.free_form:
            lo, hi = round((row.size.min_pixels or 0) ** 0.5), round((row.size.max_pixels or 0) ** 0.5)
            specs["size_custom"] = FieldSpec("or W*H", f"free size, {lo}*{lo} to {hi}*{hi} pixels")
    if row.takes(Field.N) and row.n_range[0] != row.n_range[1]:
        lo, hi = row.n_range
        specs["n"] = FieldSpec("images (n)", f"default ({row.default_n})", _choices(range(lo, hi + 1)))
    if row.takes(Field.MAX_IMAGES):
        lo, hi = row.max_images_range
        specs["max_images"] = FieldSpec("max images", f"default ({hi})", _choices(range(lo, hi + 1)))
    if row.takes(Field.DURATION) and row.durations:
        specs["duration"] = FieldSpec("duration (s)", f"default ({row.default_duration})", _choices(row.durations))
    if row.takes(Field.RESOLUTION) and row.resolutions:
        specs["resolution"] = FieldSpec("resolution", f"default ({row.default_resolution})", _choices(row.resolutions))
    if row.takes(Field.SHOT_TYPE):
        specs["shot_type"] = FieldSpec("shot type", "default", _choices(SHOT_TYPES))
    if row.takes(Field.SEED):
        specs["seed"] = FieldSpec("seed", "random")
    if row.takes(Field.AUDIO_URL):
        specs["audio_url"] = FieldSpec("audio", "optional audio URL or local file (wav/mp3)")
    if row.takes(Field.TEMPLATE):
        specs["template"] = FieldSpec("template", "optional effect template")
    for key, field in (("silent", Field.AUDIO), ("prompt_extend", Field.PROMPT_EXTEND), ("watermark", Field.WATERMARK)):
        if row.takes(field):
            specs[key] = FieldSpec("")
    if row.mode is Mode.VACE:
        for key in vace_fields(function):
            if key == "control_condition":
                spec = FieldSpec(key.replace("_", " "), "choose…", _choices(CONTROL_CONDITIONS))
            else:
                placeholder = _VACE_HINTS.get(key, "URL or local file" if key.endswith("_url") else "")
                spec = FieldSpec(key.replace("_", " "), placeholder)
            specs[f"vace_{key}"] = spec
    return specs


def blank_values() -> dict[str, Any]:
    """What an empty form holds (prompt extend is on unless the user turns it off)."""
    return {key: (key == "prompt_extend") if kind == "check" else "" for key, kind in FORM_FIELDS.items()}


def to_request(
    mode: Mode, model: str, values: Mapping[str, Any], row: ModelMode
) -> tuple[GenerationRequest, list[Problem]]:
    """The request the form describes, and the problems of values that are not even of the right type.

    Only fields the row takes are copied: a value left in a hidden field (from another model) is not sent.
    """
    problems: list[Problem] = []
    kwargs: dict[str, Any] = {"prompt": str(values.get("prompt", ""))}
    for name in _TEXT_FIELDS:
        raw = str(values.get(name) or "").strip()
        if raw and Field(name) in row.fields:
            kwargs[name] = raw
    custom = str(values.get("size_custom") or "").strip()
    if custom and Field.SIZE in row.fields:
        kwargs["size"] = custom
    for name in _INT_FIELDS:
        raw = str(values.get(name) or "").strip()
        if not raw or Field(name) not in row.fields:
            continue
        try:
            kwargs[name] = int(raw)
        except ValueError:
            problems.append(Problem(name, f"{raw!r} is not a whole number"))
    if Field.PROMPT_EXTEND in row.fields and values.get("prompt_extend") is False:
        kwargs["prompt_extend"] = False
    if Field.WATERMARK in row.fields and values.get("watermark"):
        kwargs["watermark"] = True
    if Field.AUDIO in row.fields and values.get("silent"):
        kwargs["audio"] = False
    slots = image_slots(row, kwargs.get("function"))
    kwargs["images"] = [str(values.get(f"image_{i}") or "").strip() for i in range(1, len(slots) + 1)]
    kwargs["images"] = [ref for ref in kwargs["images"] if ref]
    if mode is Mode.VACE:
        vace, vace_problems = _vace(kwargs.get("function"), values)
        kwargs["vace"] = vace
        problems += vace_problems
    return GenerationRequest(mode=mode, model=model, **kwargs), problems


def _vace(function: str | None, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    vace: dict[str, Any] = {}
    problems: list[Problem] = []
    for key in vace_fields(function):
        raw = str(values.get(f"vace_{key}") or "").strip()
        if not raw:
            continue
        if key == "obj_or_bg":
            vace[key] = [part.strip() for part in raw.split(",") if part.strip()]
        elif key in VACE_INT:
            try:
                vace[key] = int(raw)
            except ValueError:
                problems.append(Problem(key, f"{raw!r} is not a whole number"))
        elif key in VACE_FLOAT:
            try:
                vace[key] = float(raw)
            except ValueError:
                problems.append(Problem(key, f"{raw!r} is not a number"))
        else:
            vace[key] = raw
    return vace, problems


def from_request(req: GenerationRequest) -> dict[str, Any]:
    """Form values that describe `req` (the reverse of `to_request`)."""
    values: dict[str, Any] = {"prompt": req.prompt or ""}
    for name in _TEXT_FIELDS:
        value = getattr(req, name)
        if value is not None:
            values[name] = str(value)
    for name in _INT_FIELDS:
        value = getattr(req, name)
        if value is not None:
            values[name] = str(value)
    if req.prompt_extend is not None:
        values["prompt_extend"] = req.prompt_extend
    if req.watermark is not None:
        values["watermark"] = req.watermark
    if req.audio is False:
        values["silent"] = True
    for i, ref in enumerate(req.images[:MAX_IMAGE_SLOTS], start=1):
        values[f"image_{i}"] = ref
    for key, value in req.vace.items():
        if key in VACE_PARAMS or key in VACE_INPUTS:
            values[f"vace_{key}"] = ",".join(value) if isinstance(value, list) else str(value)
    return values


def field_of(problem: Problem, images_given: list[int]) -> str:
    """The form key a problem points at: `images[2]` is the second *filled* image slot, not slot 2."""
    name = problem.field
    if name.startswith("images[") and name.endswith("]"):
        index = int(name[7:-1]) - 1
        if 0 <= index < len(images_given):
            return f"image_{images_given[index]}"
        return "image_1"
    if name == "images":
        return "image_1"
    if name in VACE_PARAMS or name in VACE_INPUTS:
        return f"vace_{name}"
    return name
