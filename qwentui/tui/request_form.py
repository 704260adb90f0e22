"""The composer's form values <-> a `GenerationRequest`, without any widget.

The form holds what the user typed, as strings and booleans keyed by field name; this module turns them into a
request (plus the problems of text that is not even a number, which `validate()` cannot see) and back (to fill
the form from a job being duplicated). Keeping it pure keeps the composer screen about layout and keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from qwentui.core.batchfile import BatchError, expand, parse_vars, read_rows
from qwentui.core.catalog import CATALOG, SHOT_TYPES, VACE_FUNCTIONS, Field, MediaSlot, Mode, ModelMode
from qwentui.core.requests import (
    CONTROL_CONDITIONS,
    VACE_INPUTS,
    VACE_PARAMS,
    GenerationRequest,
    Problem,
    n_range,
    size_rule,
    validate,
)

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
_TEXT_FIELDS = ("negative_prompt", "size", "resolution", "ratio", "audio_url", "shot_type", "template", "function")
# wan2.7-i2v's input.media[] types, in the catalog's order: one path field each (`media_first_frame`, ...)
MEDIA_TYPES: tuple[str, ...] = tuple(dict.fromkeys(slot.type for row in CATALOG for slot in row.media))
_BOX = re.compile(r"\d+")


def image_slots(row: ModelMode, function: str | None = None) -> list[str]:
    """A label per image input the row takes, in request order."""
    if row.mode is Mode.VACE:
        return [f"reference image {i}" for i in range(1, 4)] if function == "image_reference" else []
    if row.takes(Field.MEDIA):
        return []  # its frames, clip and audio are media slots (`media_slots`)
    count = min(row.images.max_count, MAX_IMAGE_SLOTS)
    if row.mode is Mode.I2V:
        return ["first frame"]
    if row.mode is Mode.KF2V:
        return ["first frame", "last frame"][:count]
    if row.mode is Mode.R2V:
        return [f"reference {i} (image or video)" for i in range(1, count + 1)]
    return [f"reference image {i}" for i in range(1, count + 1)]


def media_slots(row: ModelMode) -> list[MediaSlot]:
    """The media[] inputs the row takes (wan2.7-i2v), in the form's order."""
    return [slot for slot in row.media] if row.takes(Field.MEDIA) else []


def vace_fields(function: str | None) -> tuple[str, ...]:
    return VACE_FIELDS.get(function or "", ())


Kind = Literal["text", "select", "input", "path", "digits", "check"]
_VACE_KEYS = tuple(dict.fromkeys(key for keys in VACE_FIELDS.values() for key in keys))
# Every field the form can show, in screen order, with its kind of widget. The composer builds one widget per
# key once; a mode, model or VACE function change only shows, hides and relabels them (`field_specs`).
FORM_FIELDS: dict[str, Kind] = {
    "prompt": "text",
    "batch": "check",  # the composer's own switch: one prompt per line, with {variables}; not a request field
    "variables": "input",
    "negative_prompt": "text",
    "function": "select",
    **{f"image_{i}": "path" for i in range(1, MAX_IMAGE_SLOTS + 1)},
    **{f"media_{kind}": "path" for kind in MEDIA_TYPES},
    "bbox_list": "input",
    "enable_sequential": "check",
    "size": "select",
    "size_custom": "input",
    "ratio": "select",
    "n": "select",
    "max_images": "select",
    "duration": "select",
    "resolution": "select",
    "shot_type": "select",
    "seed": "digits",
    "audio_url": "path",
    "template": "input",
    "silent": "check",
    "thinking_mode": "check",
    "color_palette": "input",
    "prompt_extend": "check",
    "watermark": "check",
    **{
        f"vace_{key}": ("select" if key == "control_condition" else "path" if key.endswith("_url") else "input")
        for key in _VACE_KEYS
    },
}
# Fields of the composer, not of a request: `to_request` never reads them.
FORM_ONLY = frozenset({"batch", "variables"})
CHECK_LABELS = {
    "batch": "several prompts: one per line, {name} takes each value of a variable (F5)",
    "enable_sequential": "image set (a coherent series: n up to 12)",
    "thinking_mode": "thinking mode (slower, better text-to-image)",
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


def field_specs(
    row: ModelMode, function: str | None = None, *, sets: bool = False, batch: bool = False
) -> dict[str, FieldSpec]:
    """The fields `row` takes (with VACE `function`; `sets`: an image set is asked for; `batch`: several prompts),
    by key of FORM_FIELDS; a key that is absent is hidden.

    For a select, `placeholder` is its blank choice ("default (1280*720)")."""
    sets = sets and row.sequential is not None and row.takes(Field.ENABLE_SEQUENTIAL)
    label = "prompt" if row.prompt_required else "prompt (optional)"
    specs: dict[str, FieldSpec] = {"prompt": FieldSpec("prompts, one per line" if batch else label)}
    specs["batch"] = FieldSpec("")
    if batch:
        specs["variables"] = FieldSpec(
            "variables", "subject=cat,dog; style=ink,oil", hint="{subject} in a prompt takes each value in turn"
        )
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
            if rule.max_count > MAX_IMAGE_SLOTS:
                hint += f"; the composer has {MAX_IMAGE_SLOTS} slots"
        specs[f"image_{i}"] = FieldSpec(label, "URL or local path", hint=hint)
    slots_of_media = media_slots(row)
    for i, slot in enumerate(slots_of_media, start=1):
        hint = _media_hint(slot)
        if i == len(slots_of_media):
            hint += "\ntakes: " + "; ".join(_combo_text(row, combo) for combo in row.media_combos)
        specs[f"media_{slot.type}"] = FieldSpec(slot.label, "URL or local file (F4 picks one)", hint=hint)
    if row.takes(Field.BBOX_LIST) and not sets:
        specs["bbox_list"] = FieldSpec(
            "region boxes",
            "x1,y1,x2,y2 in pixels",
            hint="boxes to edit, per reference image in order, | between images (10,10,300,200 | 0,0,50,50 "
            "60,60,90,90); an image left out has no regions",
        )
    if row.takes(Field.ENABLE_SEQUENTIAL) and row.sequential is not None:
        specs["enable_sequential"] = FieldSpec("")
    if row.takes(Field.SIZE) and row.size is not None:
        default = f"default ({row.default_size})" if row.default_size else "default"
        rule_of_size = size_rule(row, sets)
        named = [c for c in rule_of_size.choices if not parse_wh(c)]
        hint = (
            f"{', '.join(named)}: a pixel budget, the model picks the shape (the result shows its real size)"
            if named
            else ""
        )
        specs["size"] = FieldSpec("size", default, _choices(rule_of_size.choices), hint=hint)
        if rule_of_size.free_form:
            lo, hi = round((rule_of_size.min_pixels or 0) ** 0.5), round((rule_of_size.max_pixels or 0) ** 0.5)
            specs["size_custom"] = FieldSpec("or W*H", f"free size, {lo}*{lo} to {hi}*{hi} pixels")
    if row.takes(Field.RATIO) and row.ratios:
        specs["ratio"] = FieldSpec("aspect ratio", f"default ({row.default_ratio})", _choices(row.ratios))
    lo, hi = n_range(row, sets)
    if row.takes(Field.N) and lo != hi:
        default_n = row.sequential.default_n if sets and row.sequential else row.default_n
        specs["n"] = FieldSpec("images (n)", f"default ({default_n})", _choices(range(lo, hi + 1)))
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
    if row.takes(Field.THINKING_MODE) and not sets:  # it only acts on single text-to-image requests
        specs["thinking_mode"] = FieldSpec("")
    if row.takes(Field.COLOR_PALETTE) and not sets:
        specs["color_palette"] = FieldSpec(
            "colour palette", "#C2D1E6 40%, #2B3A55 35%, #F2A541 25%", hint="3-10 colours whose shares add up to 100%"
        )
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
    return {key: specs[key] for key in FORM_FIELDS if key in specs}  # in the form's order


def _media_hint(slot: MediaSlot) -> str:
    if slot.clip is not None:
        clip = slot.clip
        return (
            f"{clip.kind}: {'/'.join(clip.formats)}, {clip.min_seconds:g}-{clip.max_seconds:g} s, "
            f"at most {clip.max_bytes // (1024 * 1024)} MB"
        )
    if slot.image is not None:
        return f"image: {', '.join(slot.image.formats)}, at most {slot.image.max_bytes // (1024 * 1024)} MB"
    return ""


def _combo_text(row: ModelMode, combo: frozenset[str]) -> str:
    return " + ".join(slot.label for slot in row.media if slot.type in combo)


def parse_wh(size: str) -> bool:
    """Whether `size` is a W*H size (not a named one like "2K")."""
    return bool(re.fullmatch(r"\d+[*x]\d+", size))


# The service's defaults for these are on: the box is ticked, and only unticking sends something (false).
CHECKED_BY_DEFAULT = frozenset({"prompt_extend", "thinking_mode"})


def blank_values() -> dict[str, Any]:
    """What an empty form holds (prompt extend and thinking mode are on unless the user turns them off)."""
    return {key: (key in CHECKED_BY_DEFAULT) if kind == "check" else "" for key, kind in FORM_FIELDS.items()}


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
    sets = bool(values.get("enable_sequential")) and row.takes(Field.ENABLE_SEQUENTIAL) and row.sequential is not None
    if sets:
        kwargs["enable_sequential"] = True
    if row.takes(Field.THINKING_MODE) and not sets and values.get("thinking_mode") is False:
        kwargs["thinking_mode"] = False
    slots = image_slots(row, kwargs.get("function"))
    kwargs["images"] = [str(values.get(f"image_{i}") or "").strip() for i in range(1, len(slots) + 1)]
    kwargs["images"] = [ref for ref in kwargs["images"] if ref]
    media = [(slot.type, str(values.get(f"media_{slot.type}") or "").strip()) for slot in media_slots(row)]
    kwargs["media"] = [{"type": kind, "url": url} for kind, url in media if url]
    raw = str(values.get("color_palette") or "").strip()
    if raw and row.takes(Field.COLOR_PALETTE) and not sets:
        palette, why = parse_palette(raw)
        if why:
            problems.append(Problem("color_palette", why))
        else:
            kwargs["color_palette"] = palette
    raw = str(values.get("bbox_list") or "").strip()
    if raw and row.takes(Field.BBOX_LIST) and not sets:
        boxes, why = parse_boxes(raw, len(kwargs["images"]))
        if why:
            problems.append(Problem("bbox_list", why))
        else:
            kwargs["bbox_list"] = boxes
    if mode is Mode.VACE:
        vace, vace_problems = _vace(kwargs.get("function"), values)
        kwargs["vace"] = vace
        problems += vace_problems
    return GenerationRequest(mode=mode, model=model, **kwargs), problems


def to_batch(
    mode: Mode, model: str, values: Mapping[str, Any], row: ModelMode, *, check_files: bool = True
) -> tuple[list[GenerationRequest], list[Problem]]:
    """The requests of a several-prompts form: one per line of the prompt box, times every combination of the
    `{variables}` it uses (core.batchfile's expansion, the same as `qwentui batch`), all validated; or the
    problems, each with its line ("line 2: ...") and the field it is about."""
    base, problems = to_request(mode, model, {**values, "prompt": ""}, row)
    if problems:
        return [], problems
    rows, _ = read_rows(str(values.get("prompt") or ""), "txt")
    if not rows:
        return [], [Problem("prompt", "give one prompt per line (lines starting with # are skipped)")]
    defaults = {key: value for key, value in base.to_dict().items() if key != "prompt"}
    specs = [spec for spec in str(values.get("variables") or "").split(";") if spec.strip()]
    try:
        variables = parse_vars(specs)
        # files are the same on every line (unless a variable names them): probed once per distinct set below
        jobs = expand(rows, defaults=defaults, variables=variables, check_files=False)
    except BatchError as exc:
        return [], [_form_problem(p.line, p.field, p.message) for p in exc.problems]
    requests = [job.request for job in jobs]
    if check_files:
        probed: set[str] = set()
        for job in jobs:
            req = job.request
            files = json.dumps([req.images, req.media, req.audio_url, req.vace, req.bbox_list], default=str)
            if files in probed:
                continue
            probed.add(files)
            found = validate(req)
            if found:
                return [], [_form_problem(job.line, p.field, p.message) for p in found]
    return requests, []


def _form_problem(line: int, field: str, message: str) -> Problem:
    """A batch problem in the composer's words (the CLI's --var is the form's variables field)."""
    message = message.replace("give --var ", "list its values in variables: ").replace("--var", "variables")
    return Problem("variables" if field == "--var" else field, f"line {line}: {message}" if line else message)


def parse_palette(text: str) -> tuple[list[dict[str, str]], str | None]:
    """`#C2D1E6 40%, #2B3A55 60%` (or the JSON list) -> [{"hex": "#C2D1E6", "ratio": "40.00%"}, ...].

    Only the shape is read here; how many colours and whether the shares add up is `validate`'s to say."""
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], f"not valid JSON: {exc.msg}"
        return (data, None) if isinstance(data, list) else ([], "must be a list of colours")
    palette = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        bits = entry.split()
        share = bits[1].rstrip("%") if len(bits) == 2 else ""
        try:
            ratio = float(share)
        except ValueError:
            return [], f"{entry!r} must be a colour and its share, like '#C2D1E6 40%'"
        palette.append({"hex": bits[0], "ratio": f"{ratio:.2f}%"})
    return palette, None


def palette_text(palette: list[Any]) -> str:
    if all(isinstance(e, dict) and set(e) == {"hex", "ratio"} for e in palette):
        return ", ".join(f"{e['hex']} {e['ratio']}" for e in palette)
    return json.dumps(palette)


def parse_boxes(text: str, images: int) -> tuple[list[Any], str | None]:
    """`10,10,300,200 | 0,0,50,50 60,60,90,90` (or the JSON list) -> one list of boxes per image; images left
    out at the end get no regions ([])."""
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], f"not valid JSON: {exc.msg}"
        return (data, None) if isinstance(data, list) else ([], "must be a list, one per image")
    per_image: list[Any] = []
    for group in text.split("|"):
        boxes = []
        for box in group.split():
            numbers = box.split(",")
            if len(numbers) != 4 or not all(_BOX.fullmatch(n.strip()) for n in numbers):
                return [], f"{box!r} must be x1,y1,x2,y2 in whole pixels (no spaces inside a box)"
            boxes.append([int(n) for n in numbers])
        per_image.append(boxes)
    per_image += [[] for _ in range(images - len(per_image))]
    return per_image, None


def boxes_text(boxes: list[Any]) -> str:
    try:
        return " | ".join(" ".join(",".join(str(int(v)) for v in box) for box in group) for group in boxes).strip()
    except (TypeError, ValueError):
        return json.dumps(boxes)


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
    if req.size is not None and not _size_listed(req):
        values["size_custom"] = values.pop("size")  # a free W*H is not one of the list's choices: its own field
    if req.prompt_extend is not None:
        values["prompt_extend"] = req.prompt_extend
    if req.watermark is not None:
        values["watermark"] = req.watermark
    if req.audio is False:
        values["silent"] = True
    if req.thinking_mode is not None:
        values["thinking_mode"] = req.thinking_mode
    if req.enable_sequential:
        values["enable_sequential"] = True
    for i, ref in enumerate(req.images[:MAX_IMAGE_SLOTS], start=1):
        values[f"image_{i}"] = ref
    for item in req.media:
        if isinstance(item, dict) and item.get("type") in MEDIA_TYPES:
            values[f"media_{item['type']}"] = str(item.get("url") or "")
    if req.color_palette is not None:
        values["color_palette"] = palette_text(req.color_palette)
    if req.bbox_list is not None:
        values["bbox_list"] = boxes_text(req.bbox_list)
    for key, value in req.vace.items():
        if key in VACE_PARAMS or key in VACE_INPUTS:
            values[f"vace_{key}"] = ",".join(value) if isinstance(value, list) else str(value)
    return values


def _size_listed(req: GenerationRequest) -> bool:
    """Whether the request's size is one of its model's listed sizes (else the form holds it as a free W*H)."""
    try:
        row = req.row
    except LookupError:
        return True
    return row.size is None or req.size in size_rule(row, bool(req.enable_sequential)).choices


def field_of(problem: Problem, images_given: list[int], media_given: list[str] | None = None) -> str:
    """The form key a problem points at: `images[2]` is the second *filled* image slot, not slot 2; `media[2]` the
    second filled media slot (of types `media_given`, in order)."""
    name = problem.field
    media_given = media_given or []
    if name == "media" or name.startswith("media["):
        index = int(name[6:].split("]")[0]) - 1 if name.startswith("media[") else 0
        if 0 <= index < len(media_given):
            return f"media_{media_given[index]}"
        return f"media_{MEDIA_TYPES[0]}"
    for key in ("color_palette", "bbox_list"):
        if name.startswith(key + "["):
            return key
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
