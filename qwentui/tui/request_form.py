"""The composer's form values <-> a `GenerationRequest`, without any widget.

The form holds what the user typed, as strings and booleans keyed by field name; this module turns them into a
request (plus the problems of text that is not even a number, which `validate()` cannot see) and back (to fill
the form from a job being duplicated). Keeping it pure keeps the composer screen about layout and keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwentui.core.catalog import Field, Mode, ModelMode
from qwentui.core.requests import VACE_INPUTS, VACE_PARAMS, GenerationRequest, Problem

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
