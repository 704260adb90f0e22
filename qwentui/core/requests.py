"""Friendly generation requests: validate them against the catalog and build the exact wire body.

A `GenerationRequest` is what a user, the composer, the CLI or a drop-folder rule asks for, in one
vocabulary for every mode. `validate()` lists every problem (field, value, what is allowed) without sending
anything; `build()` turns a valid request into a `WireRequest` for its model's route. Local file paths stay
in the body as they are and are listed in `WireRequest.local_files`: the engine uploads them and swaps in the
`oss://` URLs with `WireRequest.with_urls()` before sending.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from qwentui.core.catalog import (
    CATALOG,
    LOCAL_MODES,
    SEED_MAX,
    SHOT_TYPES,
    VACE_FUNCTIONS,
    ClipRule,
    Field,
    ImageRule,
    Mode,
    ModelMode,
    Payload,
    Route,
    SizeRule,
    UnknownModel,
    default_row,
    lookup,
    parse_size,
    size_problem,
)

REMOTE_SCHEMES = ("http://", "https://", "oss://")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi")
VACE_PARAMS = (
    "obj_or_bg",
    "control_condition",
    "strength",
    "mask_type",
    "expand_ratio",
    "top_scale",
    "bottom_scale",
    "left_scale",
    "right_scale",
)
VACE_INPUTS = (
    "video_url",
    "mask_image_url",
    "mask_video_url",
    "first_clip_url",
    "last_clip_url",
    "mask_frame_id",
)
VACE_MEDIA = ("video_url", "mask_image_url", "mask_video_url", "first_clip_url", "last_clip_url")
CONTROL_CONDITIONS = ("posebodyface", "posebody", "depth", "scribble")
# The skill scripts' flat keys for wan2.7-i2v media, in the order they build `media[]` from them.
MEDIA_KEYS = {
    "first_frame_url": "first_frame",
    "last_frame_url": "last_frame",
    "driving_audio_url": "driving_audio",
    "first_clip_url": "first_clip",
}
PALETTE_COLOURS = (3, 10)  # wan2.7-image color_palette: 3-10 entries whose ratios sum to 100%
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
PERCENT = re.compile(r"(\d{1,3}(?:\.\d{1,2})?)%")


def is_remote(ref: str) -> bool:
    return ref.startswith(REMOTE_SCHEMES)


@dataclass(frozen=True)
class Problem:
    """One reason a request cannot be sent."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidRequest(ValueError):
    """The request breaks one or more of its model's rules; nothing was sent."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class GenerationRequest:
    """A request in one vocabulary for every mode.

    `images` holds the mode's image inputs in order: the reference images (t2i/edit/interleave/i2i), the
    first frame (i2v), first then last frame (kf2v), the references of r2v (images or videos), or the
    reference images of VACE `image_reference`. Each is a URL (http, https, oss) or a local path.
    """

    mode: Mode
    prompt: str = ""
    model: str | None = None
    negative_prompt: str | None = None
    size: str | None = None
    n: int | None = None
    seed: int | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None
    images: list[str] = field(default_factory=list)
    duration: int | None = None
    resolution: str | None = None
    audio_url: str | None = None
    audio: bool | None = None
    shot_type: str | None = None
    template: str | None = None
    max_images: int | None = None
    function: str | None = None  # VACE function
    vace: dict[str, Any] = field(default_factory=dict)  # VACE inputs and parameters, by their wire names
    ratio: str | None = None  # wan2.7-t2v: "16:9", ... (with resolution, instead of size)
    media: list[dict[str, str]] = field(default_factory=list)  # wan2.7-i2v: [{"type": "first_frame", "url": ...}]
    enable_sequential: bool | None = None  # wan2.7-image: an image set
    thinking_mode: bool | None = None  # wan2.7-image: text-to-image only
    bbox_list: list[Any] | None = None  # wan2.7-image: per input image, a list of [x1, y1, x2, y2] boxes
    color_palette: list[Any] | None = None  # wan2.7-image: [{"hex": "#RRGGBB", "ratio": "25.00%"}, ...]

    def __post_init__(self) -> None:
        self.mode = Mode(self.mode)

    @property
    def row(self) -> ModelMode:
        """The catalog row (raises UnknownModel)."""
        return lookup(self.model, self.mode) if self.model else default_row(self.mode)

    @property
    def model_name(self) -> str:
        return self.model or default_row(self.mode).model

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict without empty fields (stored in the job row)."""
        out = {k: v for k, v in asdict(self).items() if v not in (None, [], {})}
        out["mode"] = self.mode.value
        out["model"] = self.model_name
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], mode: Mode | str | None = None) -> GenerationRequest:
        """Build from our own dict or from a skill script's request JSON (img_url, reference_urls, ...).

        Without `mode`, the mode is detected from the fields like the seed's video.py, or from the model.
        Unknown keys are a mistake the user should hear about, so they raise InvalidRequest.
        """
        if not isinstance(data, Mapping):
            raise InvalidRequest([Problem("request", f"must be an object of fields, not {type(data).__name__}")])
        data = dict(data)
        known = {f.name for f in fields(cls)}
        media = _media_from(data)
        images: list[str] = list(_as_list(data.pop("images", []), "images"))
        aliases = (
            "reference_images",
            "reference_image",
            "img_url",
            "first_frame_url",
            "last_frame_url",
            "reference_urls",
            "ref_images_url",
        )
        alias_seen = {k: data.pop(k) for k in aliases if k in data}
        for key in aliases:
            if key in alias_seen:
                images.extend(_as_list(alias_seen[key], key))
        raw_vace = data.pop("vace", None) or {}
        if not isinstance(raw_vace, Mapping):
            raise InvalidRequest([Problem("vace", "must be an object of VACE fields by their wire names")])
        vace = dict(raw_vace)
        for key in (*VACE_PARAMS, *VACE_INPUTS):
            if key in data:
                vace[key] = data.pop(key)
        for key in ("poll_interval_s", "timeout_s"):  # skill-script keys we do not need
            data.pop(key, None)
        if media is not None:
            data["media"] = media
            if not data.get("model"):  # the skill would send media[] to a model that cannot read it
                data["model"] = media_model()
        chosen = mode or data.pop("mode", None) or detect_mode(data, alias_seen, vace, has_images=bool(images))
        data.pop("mode", None)
        data.pop("enable_interleave", None)  # used by detect_mode: it chooses the interleave mode
        if any(chosen == m.value for m in LOCAL_MODES):  # said first: its fields are not a request's either
            raise InvalidRequest([Problem("mode", f"{chosen!r} jobs are made on this machine, not sent to a model")])
        unknown = sorted((k for k in data if k not in known), key=str)
        if unknown:
            raise InvalidRequest([Problem(_key_name(k), "is not a request field") for k in unknown])
        try:
            parsed_mode = Mode(chosen)
        except ValueError:
            raise InvalidRequest(
                [Problem("mode", f"{chosen!r} is not a mode; use one of: " + ", ".join(m.value for m in Mode))]
            ) from None
        return cls(mode=parsed_mode, images=images, vace=vace, **data)


def media_model() -> str:
    """The model that reads `input.media[]` (the catalog's only one)."""
    return next(row.model for row in CATALOG if row.takes(Field.MEDIA))


def _takes_media(model: Any) -> bool:
    return any(row.model == model and row.takes(Field.MEDIA) for row in CATALOG)


def _media_from(data: dict[str, Any]) -> list[dict[str, str]] | None:
    """Pop the wan2.7-i2v media keys from a request dict: `media` as is, or the skill's flat keys in its order.

    Used when the request has `media`, `first_clip_url` or `driving_audio_url`, or names a model that reads
    media (then `first_frame_url` is a first frame, not a wan2.2 first+last-frame request). Not for VACE, whose
    `first_clip_url` is its own input. The skill ignores the flat keys when `media` is given; here that is a
    mistake the user hears about."""
    if data.get("function"):
        return None
    if not (
        "media" in data or "first_clip_url" in data or "driving_audio_url" in data or _takes_media(data.get("model"))
    ):
        return None
    flat = [(key, data.pop(key)) for key in MEDIA_KEYS if key in data]
    if "media" not in data:
        items = []
        for key, value in flat:
            for url in _as_list(value, key):
                items.append({"type": MEDIA_KEYS[key], "url": url})
        return items
    if flat:
        raise InvalidRequest(
            [Problem(key, "give the media either as a media list or as the *_url keys, not both") for key, _ in flat]
        )
    raw = data.pop("media")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise InvalidRequest([Problem("media", 'must be a list of {"type": ..., "url": ...} objects')])
    return [dict(item) for item in raw]


def _key_name(key: Any) -> str:
    """A key as a Problem field: itself, or its repr when it is blank or not a string."""
    return key if isinstance(key, str) and key.strip() else repr(key)


def _as_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple):
        raise InvalidRequest([Problem(key, "must be a URL, a local file path or a list of them")])
    return [str(v) for v in value]


def detect_mode(
    data: Mapping[str, Any], aliases: Mapping[str, Any], vace: Mapping[str, Any], has_images: bool = False
) -> Mode:
    """The seed's video.py rules (first match wins), then the model's only mode (its edit mode when images are
    given), then text-to-image."""
    if data.get("function") or vace.get("video_url"):
        return Mode.VACE
    if data.get("media"):
        return Mode.I2V
    if "reference_urls" in aliases:
        return Mode.R2V
    if "first_frame_url" in aliases:
        return Mode.KF2V
    if "img_url" in aliases:
        return Mode.I2V
    if data.get("enable_interleave") is True:
        return Mode.INTERLEAVE
    model = data.get("model")
    if model:
        from qwentui.core.catalog import modes_of

        served = modes_of(str(model))
        if len(served) == 1:
            return served[0]
        if served and (has_images or "reference_images" in aliases or "reference_image" in aliases):
            return Mode.EDIT if Mode.EDIT in served else served[0]
        if served:
            return served[0]
    if "reference_images" in aliases:
        return Mode.EDIT
    if any(k in data for k in ("duration", "resolution", "shot_type", "audio_url")):
        return Mode.T2V
    return Mode.T2I


# ---- validation -------------------------------------------------------------------------------------------


def validate(req: GenerationRequest, check_files: bool = True) -> list[Problem]:
    """Every reason this request cannot be sent to its model (empty when it can)."""
    typed = list(_type_problems(req))
    if typed:
        return typed  # the other rules assume the right types
    try:
        row = req.row
    except UnknownModel as exc:
        return [Problem("model", str(exc))]
    return list(_problems(req, row, check_files))


_TEXT_FIELDS = (
    "prompt",
    "model",
    "negative_prompt",
    "size",
    "resolution",
    "audio_url",
    "shot_type",
    "template",
    "function",
    "ratio",
)
_BOOL_FIELDS = ("prompt_extend", "watermark", "audio", "enable_sequential", "thinking_mode")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_problems(req: GenerationRequest) -> Iterator[Problem]:
    for name in _TEXT_FIELDS:
        value = getattr(req, name)
        if value is not None and not isinstance(value, str):
            yield Problem(name, f"{_short(value)} must be text")
    for name in _BOOL_FIELDS:
        value = getattr(req, name)
        if value is not None and not isinstance(value, bool):
            yield Problem(name, f"{_short(value)} must be true or false")
    if not isinstance(req.images, list):
        yield Problem("images", f"{_short(req.images)} must be a list of URLs or local file paths")
    else:
        for i, ref in enumerate(req.images, start=1):
            if not isinstance(ref, str):
                yield Problem(f"images[{i}]", f"{_short(ref)} must be a URL or a local file path")
    if not isinstance(req.vace, dict) or not all(isinstance(k, str) for k in req.vace):
        yield Problem("vace", f"{_short(req.vace)} must be an object of VACE fields by their wire names")
    if not isinstance(req.media, list):
        yield Problem("media", f'{_short(req.media)} must be a list of {{"type": ..., "url": ...}} objects')
    else:
        for i, item in enumerate(req.media, start=1):
            if not (
                isinstance(item, dict)
                and set(item) == {"type", "url"}
                and all(isinstance(v, str) for v in item.values())
            ):
                yield Problem(f"media[{i}]", f'{_short(item)} must be {{"type": ..., "url": ...}} with text values')
    for name in ("bbox_list", "color_palette"):
        value = getattr(req, name)
        if value is not None and not isinstance(value, list):
            yield Problem(name, f"{_short(value)} must be a list")


def _problems(req: GenerationRequest, row: ModelMode, check_files: bool) -> Iterator[Problem]:
    name = row.model
    prompt = req.prompt or ""
    if row.prompt_required and not prompt.strip() and row.mode is not Mode.VACE:
        yield Problem("prompt", f"is required for {name}")
    if len(prompt) > row.prompt_max:
        yield Problem("prompt", f"is {len(prompt)} characters; {name} takes at most {row.prompt_max}")
    given = {f for f in Field if _given(req, f)}
    for f in sorted(given - row.fields):
        yield Problem(f.value, f"is not used by {name} ({row.mode.value}); remove it")
    if row.mode is not Mode.VACE:
        for key in sorted(req.vace):
            yield Problem(_key_name(key), f"is a VACE field; {name} ({row.mode.value}) does not use it")
    if req.negative_prompt and len(req.negative_prompt) > row.negative_max:
        yield Problem(
            "negative_prompt", f"is {len(req.negative_prompt)} characters; {name} takes at most {row.negative_max}"
        )
    sets = bool(req.enable_sequential) and row.sequential is not None
    if req.size is not None and row.size is not None and Field.SIZE in row.fields:
        why = size_problem(size_rule(row, sets), req.size)
        if why:
            yield Problem("size", f"{req.size!r} is not allowed for {name}{' image sets' if sets else ''}: {why}")
    if req.n is not None and Field.N in row.fields:
        lo, hi = n_range(row, sets)
        if not isinstance(req.n, int) or isinstance(req.n, bool) or not lo <= req.n <= hi:
            yield Problem(
                "n",
                f"{req.n!r} is out of range for {name}: {lo}-{hi}"
                if lo != hi
                else f"{req.n!r} is not allowed: {name} makes exactly {lo} image per request",
            )
    if req.seed is not None and (
        not isinstance(req.seed, int) or isinstance(req.seed, bool) or not 0 <= req.seed <= SEED_MAX
    ):
        yield Problem("seed", f"{req.seed!r} must be a whole number from 0 to {SEED_MAX}")
    if (
        req.duration is not None
        and row.durations
        and (not isinstance(req.duration, int) or isinstance(req.duration, bool) or req.duration not in row.durations)
    ):
        yield Problem("duration", f"{req.duration!r} s is not allowed for {name}: {_durations(row)}")
    if req.resolution is not None and row.resolutions and req.resolution not in row.resolutions:
        yield Problem(
            "resolution", f"{req.resolution!r} is not allowed for {name}: one of {', '.join(row.resolutions)}"
        )
    if req.ratio is not None and row.ratios and req.ratio not in row.ratios:
        yield Problem("ratio", f"{req.ratio!r} is not allowed for {name}: one of {', '.join(row.ratios)}")
    yield from _wan27_image_problems(req, row, sets, check_files)
    if req.shot_type is not None and Field.SHOT_TYPE in row.fields:
        if req.shot_type not in SHOT_TYPES:
            yield Problem("shot_type", f"{req.shot_type!r} must be one of: {', '.join(SHOT_TYPES)}")
        elif req.shot_type == "multi" and req.prompt_extend is False:
            yield Problem("shot_type", "'multi' needs prompt_extend on; turn prompt_extend on or use 'single'")
    if req.max_images is not None and Field.MAX_IMAGES in row.fields:
        lo, hi = row.max_images_range
        if not isinstance(req.max_images, int) or isinstance(req.max_images, bool) or not lo <= req.max_images <= hi:
            yield Problem("max_images", f"{req.max_images!r} is out of range: {lo}-{hi}")
    yield from _image_problems(req, row, check_files)
    if row.takes(Field.MEDIA):
        yield from _media_problems(req, row, check_files)
    if row.mode is Mode.VACE:
        yield from _vace_problems(req, row, check_files)


def _given(req: GenerationRequest, f: Field) -> bool:
    value = getattr(req, f.value, None)
    return value is not None and value != []


def size_rule(row: ModelMode, sets: bool) -> SizeRule:
    """The size rule of a row, for an image set when `sets` (image sets have their own ceiling)."""
    assert row.size is not None
    return row.sequential.size if sets and row.sequential else row.size


def n_range(row: ModelMode, sets: bool) -> tuple[int, int]:
    return row.sequential.n_range if sets and row.sequential else row.n_range


def _wan27_image_problems(req: GenerationRequest, row: ModelMode, sets: bool, check_files: bool) -> Iterator[Problem]:
    """Image sets, thinking mode, region boxes and colour palettes: what each combines with.

    The skill drops a thinking_mode or color_palette that cannot act and sends a bbox_list whatever its length;
    here each is refused with the reason, since the user asked for something they would not get."""
    if sets and req.thinking_mode is not None and row.takes(Field.THINKING_MODE):
        yield Problem("thinking_mode", "only acts on text-to-image without enable_sequential; remove one of them")
    if sets and req.color_palette is not None and row.takes(Field.COLOR_PALETTE):
        yield Problem("color_palette", "cannot be used with enable_sequential (image sets); remove one of them")
    if sets and req.bbox_list is not None and row.takes(Field.BBOX_LIST):
        yield Problem("bbox_list", "region editing cannot be used with enable_sequential (image sets)")
    if isinstance(req.color_palette, list) and row.takes(Field.COLOR_PALETTE):
        yield from palette_problems(req.color_palette)
    if isinstance(req.bbox_list, list) and row.takes(Field.BBOX_LIST):
        yield from _bbox_problems(req, row, check_files)


def palette_problems(palette: list[Any]) -> Iterator[Problem]:
    lo, hi = PALETTE_COLOURS
    if not lo <= len(palette) <= hi:
        yield Problem("color_palette", f"has {len(palette)} colours; give {lo}-{hi}")
    total = 0.0
    for i, entry in enumerate(palette, start=1):
        where = f"color_palette[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"hex", "ratio"}:
            yield Problem(where, f'{_short(entry)} must be {{"hex": "#RRGGBB", "ratio": "NN.NN%"}}')
            return
        if not isinstance(entry["hex"], str) or not HEX_COLOUR.fullmatch(entry["hex"]):
            yield Problem(where, f"hex {_short(entry['hex'])} must be a colour like '#C2D1E6'")
        share = PERCENT.fullmatch(entry["ratio"]) if isinstance(entry["ratio"], str) else None
        if share is None:
            yield Problem(where, f"ratio {_short(entry['ratio'])} must be a percentage like '23.51%'")
            return
        total += float(share.group(1))
    if abs(total - 100.0) > 0.011:
        yield Problem("color_palette", f"the ratios add up to {total:.2f}%; they must add up to 100%")


def _bbox_problems(req: GenerationRequest, row: ModelMode, check_files: bool) -> Iterator[Problem]:
    boxes = req.bbox_list or []
    if len(boxes) != len(req.images):
        yield Problem(
            "bbox_list",
            f"has {len(boxes)} entries for {len(req.images)} images; give one list of boxes per image, "
            "in the same order ([] for an image without regions)",
        )
        return
    if not any(isinstance(b, list) and b for b in boxes):
        yield Problem("bbox_list", "marks no region; remove it or give at least one [x1, y1, x2, y2] box")
    for i, (ref, per_image) in enumerate(zip(req.images, boxes, strict=True), start=1):
        where = f"bbox_list[{i}]"
        if not isinstance(per_image, list):
            yield Problem(where, f"{_short(per_image)} must be a list of [x1, y1, x2, y2] boxes")
            continue
        bounds = _image_bounds(ref) if check_files else None
        for box in per_image:
            if not (isinstance(box, list) and len(box) == 4 and all(_whole(v) and v >= 0 for v in box)):
                yield Problem(where, f"{_short(box)} must be [x1, y1, x2, y2] in whole pixels from 0")
                continue
            x1, y1, x2, y2 = box
            if not (x1 < x2 and y1 < y2):
                yield Problem(where, f"{box} must have x1 < x2 and y1 < y2 (top-left, then bottom-right corner)")
            elif bounds is not None and (x2 > bounds[0] or y2 > bounds[1]):
                yield Problem(where, f"{box} reaches outside image {i} ({bounds[0]}x{bounds[1]} px)")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _image_bounds(ref: str) -> tuple[int, int] | None:
    """Width and height of a local image (None for a URL or an unreadable file)."""
    path = None if is_remote(ref) else _local_file(ref)
    if path is None:
        return None
    from qwentui.core.imagecheck import probe_image

    info = probe_image(path, verify=False)
    return None if info.error else (info.width, info.height)


def _media_problems(req: GenerationRequest, row: ModelMode, check_files: bool) -> Iterator[Problem]:
    """The media[] combinations the model takes, then each file against its slot's limits."""
    name = row.model
    types = [item.get("type", "") for item in req.media if isinstance(item, dict)]
    if not types:
        yield Problem("media", f"{name} needs a first frame or a first clip ({_combos(row)})")
        return
    unknown = [t for t in types if row.media_slot(t) is None]
    if unknown:
        allowed = ", ".join(slot.type for slot in row.media)
        yield Problem("media", f"type {unknown[0]!r} is not one {name} takes: {allowed}")
        return
    twice = sorted({t for t in types if types.count(t) > 1})
    if twice:
        yield Problem("media", f"{_slot_label(row, twice[0])} is given twice; {name} takes one of each type")
        return
    if frozenset(types) not in row.media_combos:
        given = " + ".join(_slot_label(row, t) for t in _slot_order(row, types))
        yield Problem("media", f"{given} is not a combination {name} takes; it takes: {_combos(row)}")
    for i, item in enumerate(req.media, start=1):
        slot = row.media_slot(item["type"])
        assert slot is not None
        yield from _check_ref(f"media[{i}] ({slot.label})", item["url"], row, check_files, slot.image, slot.clip)


def _slot_order(row: ModelMode, types: list[str]) -> list[str]:
    order = [slot.type for slot in row.media]
    return sorted(types, key=order.index)


def _slot_label(row: ModelMode, media_type: str) -> str:
    slot = row.media_slot(media_type)
    return slot.label if slot else media_type


def _combos(row: ModelMode) -> str:
    return "; ".join(" + ".join(_slot_label(row, t) for t in _slot_order(row, list(c))) for c in row.media_combos)


def _durations(row: ModelMode) -> str:
    d = row.durations
    if len(d) == 1:
        return f"the duration is fixed at {d[0]} s"
    if d == tuple(range(d[0], d[-1] + 1)) and len(d) > 2:
        return f"a whole number of seconds from {d[0]} to {d[-1]}"
    return "one of " + ", ".join(f"{x} s" for x in d)


def _image_problems(req: GenerationRequest, row: ModelMode, check_files: bool) -> Iterator[Problem]:
    rule = row.images
    if row.mode is Mode.VACE:
        return  # VACE images depend on the function; checked there
    if row.takes(Field.MEDIA) and req.images:
        yield Problem(
            "images",
            f"{row.model} takes its inputs as media (first frame, last frame, first clip, driving audio): "
            "use first_frame_url / last_frame_url / first_clip_url / driving_audio_url or a media list",
        )
        return
    count = len(req.images)
    label = _image_label(row.mode)
    if count < rule.min_count:
        need = "at least " if rule.max_count > rule.min_count else ""
        yield Problem(
            "images",
            f"{name_count(label, 0) if count == 0 else count} given; "
            f"{row.model} ({row.mode.value}) needs {need}{name_count(label, rule.min_count)}",
        )
    elif count > rule.max_count:
        yield Problem(
            "images", f"{count} given; {row.model} ({row.mode.value}) takes at most {name_count(label, rule.max_count)}"
        )
    if row.mode is Mode.KF2V and count == 1 and not req.template:
        yield Problem("images", "first + last frame needs both frames (a last frame is optional only with a template)")
    videos = [ref for ref in req.images if ref.lower().split("?")[0].endswith(VIDEO_SUFFIXES)]
    if videos and rule.max_videos == 0:
        yield Problem("images", f"{videos[0]!r} looks like a video; {row.model} takes images only")
    elif len(videos) > rule.max_videos > 0:
        yield Problem("images", f"{len(videos)} reference videos given; {row.model} takes at most {rule.max_videos}")
    for i, ref in enumerate(req.images, start=1):
        yield from _check_ref(f"images[{i}]", ref, row, check_files, rule if ref not in videos else None)
    if req.audio_url and row.takes(Field.AUDIO_URL):
        yield from _check_ref("audio_url", req.audio_url, row, check_files, None, row.audio_rule)


def name_count(label: str, n: int) -> str:
    return f"{n} {label}" if n == 1 else f"{n} {label}s"


def _image_label(mode: Mode) -> str:
    return {Mode.I2V: "first-frame image", Mode.KF2V: "frame", Mode.R2V: "reference"}.get(mode, "reference image")


def _check_ref(
    label: str,
    ref: str,
    row: ModelMode,
    check_files: bool,
    image: ImageRule | None,
    clip: ClipRule | None = None,
) -> Iterator[Problem]:
    """A media reference: a URL, or a local file within the limits of its image or clip rule (when one applies)."""
    if not isinstance(ref, str) or not ref.strip():
        yield Problem(label, "is empty; give a URL or a local file path")
        return
    if is_remote(ref):
        return
    if "://" in ref:
        yield Problem(label, f"{ref!r}: only http(s):// and oss:// URLs or local files are accepted")
        return
    if not check_files:
        return
    path = _local_file(ref)
    if path is None:
        yield Problem(label, f"{ref!r} is not a file or a URL")
        return
    if clip is not None:
        from qwentui.core.clipcheck import clip_problem  # PyAV is loaded only when a local clip is checked

        why = clip_problem(path, clip, row.model)
        if why:
            yield Problem(label, why)
        return
    if image is None:
        return
    rule = image
    size = path.stat().st_size
    if size > rule.max_bytes:
        yield Problem(
            label, f"{path.name} is {size / 1e6:.1f} MB; {row.model} takes at most {rule.max_bytes // (1024 * 1024)} MB"
        )
        return
    from qwentui.core.imagecheck import probe_image  # Pillow is imported only when a local file is checked

    info = probe_image(path)
    if info.error:
        yield Problem(label, f"{path.name}: {info.error}")
        return
    if info.format not in rule.formats:
        yield Problem(label, f"{path.name} is {info.format}; {row.model} takes {', '.join(rule.formats)}")
    if min(info.width, info.height) < rule.min_side or max(info.width, info.height) > rule.max_side:
        yield Problem(
            label,
            f"{path.name} is {info.width}x{info.height} px; each side must be "
            f"{rule.min_side}-{rule.max_side} px for {row.model}",
        )
    elif rule.max_aspect and max(info.width, info.height) / min(info.width, info.height) > rule.max_aspect + 1e-9:
        yield Problem(
            label,
            f"{path.name} is {info.width}x{info.height} px; {row.model} takes aspect ratios up to "
            f"1:{rule.max_aspect:g}",
        )
    # Enforced, not flattened: which colour the transparent parts should become is the user's choice, and a
    # silently altered picture is not what they asked the model to see. The docs say "PNG without alpha".
    if info.has_alpha and not rule.allow_alpha:
        yield Problem(
            label,
            f"{path.name} has transparency (an alpha channel); {row.model} takes images without alpha: "
            "save it without transparency (e.g. as JPEG, or flattened onto a background) and try again",
        )


def _local_file(ref: str) -> Path | None:
    """The existing local file `ref` names, or None (also for names the OS cannot look up: too long, NUL, ~user)."""
    try:
        path = Path(ref).expanduser()
        return path if path.is_file() else None
    except (OSError, ValueError, RuntimeError):
        return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _vace_problems(req: GenerationRequest, row: ModelMode, check_files: bool) -> Iterator[Problem]:
    fn = req.function
    v = req.vace
    if fn not in VACE_FUNCTIONS:
        yield Problem("function", f"{fn!r} must be one of: {', '.join(VACE_FUNCTIONS)}")
        return
    unknown = sorted(set(v) - set(VACE_PARAMS) - set(VACE_INPUTS))
    for key in unknown:
        yield Problem(_key_name(key), "is not a VACE field")
    if fn == "image_reference":
        if not 1 <= len(req.images) <= 3:
            yield Problem("images", f"image_reference needs 1-3 reference images ({len(req.images)} given)")
        for i, ref in enumerate(req.images, start=1):
            yield from _check_ref(f"images[{i}]", ref, row, check_files, row.images)
        obj = v.get("obj_or_bg")
        if obj is not None:
            if not isinstance(obj, list) or any(o not in ("obj", "bg") for o in obj):
                yield Problem("obj_or_bg", "must be a list of 'obj' or 'bg', one per reference image")
            else:
                if len(obj) != len(req.images):
                    yield Problem("obj_or_bg", f"has {len(obj)} entries for {len(req.images)} images")
                if obj.count("bg") > 1:
                    yield Problem("obj_or_bg", "at most one image can be the background ('bg')")
    else:
        if req.images:
            yield Problem("images", f"{fn} takes no reference images (only image_reference does)")
    if fn in ("video_repainting", "video_edit", "video_outpainting") and not v.get("video_url"):
        yield Problem("video_url", f"is required for {fn}")
    if fn == "video_repainting":
        cc = v.get("control_condition")
        if cc not in CONTROL_CONDITIONS:
            yield Problem("control_condition", f"{cc!r} must be one of: {', '.join(CONTROL_CONDITIONS)}")
        strength = v.get("strength")
        if strength is not None and not (_number(strength) and 0 <= strength <= 1):
            yield Problem("strength", f"{strength!r} must be between 0 and 1")
    if fn == "video_edit" and not (v.get("mask_image_url") or v.get("mask_video_url")):
        yield Problem("mask_image_url", "video_edit needs mask_image_url or mask_video_url")
    if fn == "video_edit" and "mask_frame_id" in v:
        mfi = v["mask_frame_id"]
        if not isinstance(mfi, int) or isinstance(mfi, bool) or mfi < 1:
            yield Problem("mask_frame_id", f"{mfi!r} must be a frame number from 1")
    if fn == "video_extension" and not (v.get("first_clip_url") or v.get("last_clip_url")):
        yield Problem("first_clip_url", "video_extension needs first_clip_url or last_clip_url")
    if fn == "video_outpainting":
        for key in ("top_scale", "bottom_scale", "left_scale", "right_scale"):
            s = v.get(key)
            if s is not None and not (_number(s) and 1.0 <= s <= 2.0):
                yield Problem(key, f"{s!r} must be between 1.0 and 2.0")
    for key in ("video_url", "mask_image_url", "mask_video_url", "first_clip_url", "last_clip_url"):
        if v.get(key):
            if not isinstance(v[key], str):
                yield Problem(key, "must be a URL or a local file path")
            else:
                yield from _check_ref(key, v[key], row, check_files, None)


# ---- building ---------------------------------------------------------------------------------------------


@dataclass
class WireRequest:
    """The exact HTTP request for one generation: route, headers that depend on it, and the JSON body."""

    model: str
    mode: Mode
    route: Route
    body: dict[str, Any]
    local_files: list[str] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        return self.route.is_async

    @property
    def needs_oss_resolve(self) -> bool:
        return any(s.startswith("oss://") for s in iter_strings(self.body))

    def with_urls(self, mapping: Mapping[str, str]) -> WireRequest:
        """A copy with each local path replaced by its uploaded URL."""
        body = _replace_strings(copy.deepcopy(self.body), mapping)
        left = [p for p in self.local_files if p not in mapping]
        return WireRequest(self.model, self.mode, self.route, body, left)


def iter_strings(obj: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (dict values and list items, depth first)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from iter_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from iter_strings(v)


_TEXT_KEYS = ("text", "prompt", "negative_prompt", "type")  # words, never file references


def _replace_strings(obj: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(obj, str):
        return mapping.get(obj, obj)
    if isinstance(obj, dict):
        return {k: v if k in _TEXT_KEYS else _replace_strings(v, mapping) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace_strings(v, mapping) for v in obj]
    return obj


def build(req: GenerationRequest, check_files: bool = True) -> WireRequest:
    """The wire request for `req`, or InvalidRequest listing every problem. Nothing is sent."""
    problems = validate(req, check_files=check_files)
    if problems:
        raise InvalidRequest(problems)
    row = req.row
    body = _body(req, row)
    return WireRequest(row.model, row.mode, row.route, body, _local_refs(req, row))


def _local_refs(req: GenerationRequest, row: ModelMode) -> list[str]:
    """The media references that are not URLs (only media fields: a prompt that names a file stays text)."""
    refs = [*req.images, req.audio_url, *(item["url"] for item in req.media)]
    if row.mode is Mode.VACE:
        refs += [req.vace.get(key) for key in VACE_MEDIA]
    return list(dict.fromkeys(r for r in refs if isinstance(r, str) and r and not is_remote(r)))


def _params(req: GenerationRequest, row: ModelMode) -> dict[str, Any]:
    p: dict[str, Any] = {}
    if Field.SIZE in row.fields and (req.size or row.default_size):
        size = req.size or row.default_size
        wh = parse_size(size) if size else None
        p["size"] = f"{wh[0]}*{wh[1]}" if wh else size  # '1280x720' is accepted, the API wants '1280*720'
    if Field.RESOLUTION in row.fields:
        p["resolution"] = req.resolution or row.default_resolution
    if Field.RATIO in row.fields:
        p["ratio"] = req.ratio or row.default_ratio
    if Field.DURATION in row.fields:
        p["duration"] = req.duration if req.duration is not None else row.default_duration
    sets = bool(req.enable_sequential) and row.sequential is not None
    if row.sequential is not None:  # always sent: the service's default n is uncertain (4 or 1)
        p["enable_sequential"] = sets
    if Field.N in row.fields:
        default_n = row.sequential.default_n if sets and row.sequential else row.default_n
        p["n"] = req.n if req.n is not None else default_n
    for key in ("thinking_mode", "bbox_list", "color_palette"):
        value = getattr(req, key)
        if value is not None and Field(key) in row.fields:
            p[key] = value
    if Field.MAX_IMAGES in row.fields:
        p["max_images"] = req.max_images if req.max_images is not None else row.max_images_range[1]
    for key in ("seed", "shot_type", "template", "audio"):
        value = getattr(req, key)
        if value is not None and Field(key) in row.fields:
            p[key] = value
    if Field.PROMPT_EXTEND in row.fields:
        p["prompt_extend"] = True if req.prompt_extend is None else req.prompt_extend
    if Field.WATERMARK in row.fields:
        p["watermark"] = bool(req.watermark)
    return p


def _body(req: GenerationRequest, row: ModelMode) -> dict[str, Any]:
    params = _params(req, row)
    inp: dict[str, Any]
    if row.payload is Payload.MESSAGES:
        content: list[dict[str, str]] = [{"text": req.prompt}]
        content += [{"image": ref} for ref in req.images]
        inp = {"messages": [{"role": "user", "content": content}]}
        if req.negative_prompt:
            params["negative_prompt"] = req.negative_prompt
        if row.model == "wan2.6-image":
            params["enable_interleave"] = row.mode is Mode.INTERLEAVE
    elif row.payload is Payload.PROMPT:
        inp = {"prompt": req.prompt}
        if req.negative_prompt:
            inp["negative_prompt"] = req.negative_prompt
        if row.mode is Mode.I2I:
            inp["images"] = list(req.images)
    else:
        inp = _video_input(req, row, params)
    return {"model": row.model, "input": inp, "parameters": params}


def _video_input(req: GenerationRequest, row: ModelMode, params: dict[str, Any]) -> dict[str, Any]:
    inp: dict[str, Any] = {}
    if req.prompt or row.mode is not Mode.VACE:
        inp["prompt"] = req.prompt or ""
    if req.negative_prompt:
        inp["negative_prompt"] = req.negative_prompt
    if req.audio_url:
        inp["audio_url"] = req.audio_url
    if row.takes(Field.MEDIA):
        if not req.prompt:
            del inp["prompt"]  # optional with media, and sent only when there is one (as the skill does)
        inp["media"] = [{"type": item["type"], "url": item["url"]} for item in req.media]  # in the given order
    elif row.mode is Mode.I2V:
        inp["img_url"] = req.images[0]
    elif row.mode is Mode.KF2V:
        inp["first_frame_url"] = req.images[0]
        if len(req.images) > 1:
            inp["last_frame_url"] = req.images[1]
        if "template" in params:
            inp["template"] = params.pop("template")
    elif row.mode is Mode.R2V:
        inp["reference_urls"] = list(req.images)
    elif row.mode is Mode.VACE:
        inp["function"] = req.function
        if req.images:
            inp["ref_images_url"] = list(req.images)
        for key in VACE_INPUTS:
            if key in req.vace:
                inp[key] = req.vace[key]
        for key in VACE_PARAMS:
            if key in req.vace:
                params[key] = req.vace[key]
    return inp
