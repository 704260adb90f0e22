"""Validate a generation request body as it arrives on the wire, against the catalog rows.

The limits (sizes, counts, durations, resolutions, prompt lengths, image counts) are read from
`qwentui.core.catalog`, never re-typed here; this module only knows where each value sits in the three
wire shapes (messages, prompt, video) and how the service words its complaints. Like the real service it
tolerates parameters it does not know and answers the first problem it finds, naming the wire field.
The result is a `Job`: everything the simulator needs to run the task and render its files.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from qwentui.core.catalog import (
    SEED_MAX,
    SHOT_TYPES,
    VACE_FUNCTIONS,
    Field,
    Mode,
    ModelMode,
    Payload,
    Route,
    models,
    named_size,
    rows_for_route,
    size_of,
    size_problem,
    video_size,
)
from qwentui.core.requests import (
    CONTROL_CONDITIONS,
    VIDEO_SUFFIXES,
    iter_strings,
    n_range,
    palette_problems,
    size_rule,
)
from qwentui.sim.errors import MSG_EMPTY_INPUT, MSG_EMPTY_MODEL, ApiError

MEDIA_SCHEMES = ("http://", "https://", "oss://", "data:")
MSG_BAD_URL = "The provided URL does not appear to be valid. Ensure it is correctly formatted."
SDK_FUNCTION = "video-synthesis"  # the SDK puts its module name in input.function: it means "no function"

# The wire shape of `input` is a property of the route (qwen-image-plus is `prompt` on text2image and
# `messages` on the sync route), not of the row.
PAYLOAD_OF_ROUTE: dict[Route, Payload] = {
    Route.MULTIMODAL: Payload.MESSAGES,
    Route.IMAGE_GENERATION: Payload.MESSAGES,
    Route.TEXT2IMAGE: Payload.PROMPT,
    Route.IMAGE2IMAGE: Payload.PROMPT,
    Route.VIDEO: Payload.VIDEO,
    Route.IMAGE2VIDEO: Payload.VIDEO,
}

OssCheck = Callable[[str, str], str | None]  # (oss:// url, model) -> why it does not resolve, or None

# The aspect ratios the simulated model "chooses" for a named size (1K/2K/4K are pixel budgets, not squares);
# the last one is the official example's 2985*1405. Picked from the prompt, so a request always gets the same.
NAMED_SIZE_ASPECTS = (1.0, 4 / 3, 3 / 4, 16 / 9, 9 / 16, 2985 / 1405)
# A first clip's length is not known from an https URL (an uploaded one is measured); the official
# continuation demo fed a 2 s clip.
CLIP_SECONDS = 2


@dataclass(frozen=True)
class Job:
    """A validated request: what to make, and from what."""

    row: ModelMode
    route: Route
    prompt: str
    negative_prompt: str | None
    images: tuple[str, ...]  # image (and r2v video) references, counted against the row's image rule
    media: tuple[str, ...]  # every media URL in the request (images, audio, videos, masks)
    size: str  # as asked ("1K", "1280*720", "720P") or the row's default
    width: int
    height: int
    n: int  # images to make (interleave: max_images); 1 for a video
    seed: int | None
    duration: int | None  # seconds, videos only
    audio: bool
    prompt_extend: bool
    interleave: bool
    function: str | None
    input_video_seconds: int = 0  # wan2.7-i2v continuation: the first clip's length (billed apart)
    clip_url: str | None = None  # wan2.7-i2v continuation: the first clip's URL

    @property
    def is_video(self) -> bool:
        return self.row.is_video


@dataclass
class _Parsed:
    prompt: str
    negative: str | None
    images: list[str]
    media: list[tuple[str, Any]]  # (wire field, value) of every media reference
    media_types: list[str] = field(default_factory=list)  # wan2.7-i2v: input.media[].type, in order


def validate(route: Route, body: Any, oss_header: bool, oss_check: OssCheck) -> Job:
    """The Job for `body` on `route`, or ApiError with the service's code and a message naming the field."""
    if not isinstance(body, dict):
        raise ApiError.invalid("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "BadRequest.EmptyModel", MSG_EMPTY_MODEL)
    if model not in models():
        raise ApiError(404, "ModelNotFound", f"Model not found ({model}).")
    rows = rows_for_route(route, model)
    if not rows:
        raise ApiError.invalid(f"url error, please check url! Model {model} is not served on {route.value}.")
    inp = body.get("input")
    if not isinstance(inp, dict) or not inp:
        raise ApiError(400, "BadRequest.EmptyInput", MSG_EMPTY_INPUT)
    params = body.get("parameters")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ApiError.invalid("parameters must be a JSON object.")
    payload = PAYLOAD_OF_ROUTE[route]
    if payload is Payload.MESSAGES:
        parsed = _parse_messages(inp, params)
        row = _pick_row(rows, params, len(parsed.images))
    elif payload is Payload.PROMPT:
        row = _pick_row(rows, params, 0)
        parsed = _parse_prompt(inp, row)
    else:
        row = _pick_row(rows, params, 0)
        parsed = _parse_video(inp, row)
    _check_oss(body, model, oss_header, oss_check)
    _check_media(parsed.media)
    for problem in _problems(row, payload, parsed, inp, params):
        raise ApiError.invalid(problem)
    return _job(row, route, parsed, inp, params)


# ---- reading the three wire shapes ------------------------------------------------------------------------


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError.invalid(f"{name} must be a string.")
    return value


def _parse_messages(inp: Mapping[str, Any], params: Mapping[str, Any]) -> _Parsed:
    messages = inp.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "BadRequest.EmptyInput", "input.messages is required and must be a non-empty list.")
    users = [m for m in messages if isinstance(m, dict) and m.get("role", "user") == "user"]
    if not users:
        raise ApiError.invalid("input.messages must contain a message with role 'user'.")
    content = users[-1].get("content")
    texts: list[str] = []
    images: list[str] = []
    media: list[tuple[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, item in enumerate(content):
            if not isinstance(item, dict):
                raise ApiError.invalid(f'input.messages.content[{i}] must be an object like {{"text": ...}}.')
            if "text" in item:
                texts.append(_text(item["text"], f"input.messages.content[{i}].text"))
            if "image" in item:
                media.append((f"input.messages.content[{i}].image", item["image"]))
                images.append(item["image"])
    else:
        raise ApiError.invalid('input.messages.content must be a list of {"text"} and {"image"} items.')
    negative = _text(params.get("negative_prompt"), "parameters.negative_prompt") or None
    return _Parsed("\n".join(texts), negative, images, media)


def _parse_prompt(inp: Mapping[str, Any], row: ModelMode) -> _Parsed:
    prompt = _text(inp.get("prompt"), "input.prompt")
    negative = _text(inp.get("negative_prompt"), "input.negative_prompt") or None
    images: list[str] = []
    media: list[tuple[str, Any]] = []
    if row.images.max_count > 0:  # t2i rows ignore stray images like the service does
        raw = inp.get("images", [])
        if not isinstance(raw, list):
            raise ApiError.invalid("input.images must be a list of image URLs.")
        images = list(raw)
        media = [(f"input.images[{i}]", v) for i, v in enumerate(raw)]
    return _Parsed(prompt, negative, images, media)


def _parse_video(inp: Mapping[str, Any], row: ModelMode) -> _Parsed:
    prompt = _text(inp.get("prompt"), "input.prompt")
    negative = _text(inp.get("negative_prompt"), "input.negative_prompt") or None
    images: list[str] = []
    media: list[tuple[str, Any]] = []

    def take(key: str, count: bool) -> None:
        value = inp.get(key)
        if value in (None, "", []):
            return
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            media.append((f"input.{key}" + (f"[{i}]" if isinstance(value, list) else ""), v))
            if count:
                images.append(v)

    take("audio_url", count=False)
    if row.takes(Field.MEDIA):
        return _parse_media(inp, prompt, negative)
    if row.mode is Mode.I2V:
        take("img_url", count=True)
    elif row.mode is Mode.KF2V:
        take("first_frame_url", count=True)
        take("last_frame_url", count=True)
    elif row.mode is Mode.R2V:
        take("reference_urls", count=True)
    elif row.mode is Mode.VACE:
        take("ref_images_url", count=True)
        for key in (
            "video_url",
            "mask_image_url",
            "mask_video_url",
            "first_clip_url",
            "last_clip_url",
            "first_frame_url",
            "last_frame_url",
        ):
            take(key, count=False)
    return _Parsed(prompt, negative, images, media)


def _parse_media(inp: Mapping[str, Any], prompt: str, negative: str | None) -> _Parsed:
    raw = inp.get("media")
    if raw is None:
        raise ApiError.invalid("Field required: input.media")
    if not isinstance(raw, list):
        raise ApiError.invalid('input.media must be a list of {"type": ..., "url": ...} objects.')
    media: list[tuple[str, Any]] = []
    types: list[str] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str) or "url" not in item:
            raise ApiError.invalid(f'input.media[{i}] must be an object like {{"type": "first_frame", "url": ...}}.')
        types.append(item["type"])
        media.append((f"input.media[{i}].url", item["url"]))
    return _Parsed(prompt, negative, [], media, types)


def _pick_row(rows: list[ModelMode], params: Mapping[str, Any], image_count: int) -> ModelMode:
    """One model can have two rows on a route: wan2.6-image edit/interleave, qwen-image-2.0 t2i/edit."""
    interleave = params.get("enable_interleave") is True
    candidates = [r for r in rows if (r.mode is Mode.INTERLEAVE) == interleave]
    if not candidates:
        raise ApiError.invalid(
            "parameters.enable_interleave=true is only supported on "
            "image-generation/generation with X-DashScope-Async: enable."
        )
    fitting = [r for r in candidates if r.images.min_count <= image_count <= r.images.max_count]
    if not fitting and image_count:  # too many images: the row that takes the most names the limit
        return max(candidates, key=lambda r: r.images.max_count)
    return (fitting or candidates)[0]


# ---- media references -------------------------------------------------------------------------------------


def _check_oss(body: Mapping[str, Any], model: str, oss_header: bool, oss_check: OssCheck) -> None:
    oss = [s for s in iter_strings(body) if s.startswith("oss://")]
    if oss and not oss_header:
        raise ApiError.invalid(
            "The request contains oss:// resources; set the header X-DashScope-OssResourceResolve: enable to use them."
        )
    for url in oss:
        why = oss_check(url, model)
        if why:
            raise ApiError.invalid(f"{url}: {why}")


def _check_media(media: list[tuple[str, Any]]) -> None:
    for name, value in media:
        if not isinstance(value, str) or not value.startswith(MEDIA_SCHEMES):
            raise ApiError.invalid(f"{name}: {MSG_BAD_URL}")


# ---- the row's rules --------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(
    row: ModelMode, payload: Payload, p: _Parsed, inp: Mapping[str, Any], params: Mapping[str, Any]
) -> Iterator[str]:
    name = row.model
    prompt_field = "input.messages.content.text" if payload is Payload.MESSAGES else "input.prompt"
    neg_field = "parameters.negative_prompt" if payload is Payload.MESSAGES else "input.negative_prompt"
    if row.prompt_required and not p.prompt.strip():
        yield f"Field required: {prompt_field}"
    if len(p.prompt) > row.prompt_max:
        yield f"{prompt_field} is {len(p.prompt)} characters; {name} accepts at most {row.prompt_max}."
    if p.negative and len(p.negative) > row.negative_max:
        yield f"{neg_field} is {len(p.negative)} characters; {name} accepts at most {row.negative_max}."
    for key in ("prompt_extend", "watermark", "audio", "enable_interleave", "enable_sequential", "thinking_mode"):
        if key in params and not isinstance(params[key], bool):
            yield f"parameters.{key} must be true or false."
    if "seed" in params and not (_is_int(params["seed"]) and 0 <= params["seed"] <= SEED_MAX):
        yield f"parameters.seed must be an integer in [0, {SEED_MAX}]."
    yield from _shape_problems(row, params)
    yield from _image_problems(row, p, inp, params)
    if row.takes(Field.MEDIA):
        yield from _media_problems(row, p)
    yield from _wan27_image_problems(row, p, params)
    if row.mode is Mode.VACE:
        yield from _vace_problems(p, inp, params)


def _sets(row: ModelMode, params: Mapping[str, Any]) -> bool:
    return row.sequential is not None and params.get("enable_sequential") is True


def _shape_problems(row: ModelMode, params: Mapping[str, Any]) -> Iterator[str]:
    name = row.model
    sets = _sets(row, params)
    if row.size is not None and row.takes(Field.SIZE) and "size" in params:
        size = params["size"]
        rule = size_rule(row, sets)
        why = size_problem(rule, size) if isinstance(size, str) else "must be a string like '1280*720'"
        if why:
            where = f"{name} with enable_sequential" if sets else name
            yield f"parameters.size {size!r} is not supported by {where}: {why}."
    if row.resolutions and "resolution" in params and params["resolution"] not in row.resolutions:
        yield (
            f"parameters.resolution {params['resolution']!r} is not supported by {name}: "
            f"one of {', '.join(row.resolutions)}."
        )
    if row.ratios and "ratio" in params and params["ratio"] not in row.ratios:
        yield f"parameters.ratio {params['ratio']!r} is not supported by {name}: one of {', '.join(row.ratios)}."
    if row.takes(Field.N) and "n" in params:
        lo, hi = n_range(row, sets)
        if not (_is_int(params["n"]) and lo <= params["n"] <= hi):
            yield f"parameters.n {params['n']!r} is out of range for {name}: [{lo}, {hi}]."
    if (
        row.durations
        and "duration" in params
        and not (_is_int(params["duration"]) and params["duration"] in row.durations)
    ):
        allowed = ", ".join(str(d) for d in row.durations)
        yield f"parameters.duration {params['duration']!r} is not supported by {name}: one of {allowed}."
    if row.takes(Field.MAX_IMAGES) and "max_images" in params:
        lo, hi = row.max_images_range
        if not (_is_int(params["max_images"]) and lo <= params["max_images"] <= hi):
            yield f"parameters.max_images {params['max_images']!r} is out of range: [{lo}, {hi}]."
    if row.takes(Field.SHOT_TYPE) and "shot_type" in params:
        if params["shot_type"] not in SHOT_TYPES:
            yield f"parameters.shot_type must be one of: {', '.join(SHOT_TYPES)}."
        elif params["shot_type"] == "multi" and params.get("prompt_extend") is False:
            yield "parameters.shot_type 'multi' requires parameters.prompt_extend to be true."


def _image_problems(row: ModelMode, p: _Parsed, inp: Mapping[str, Any], params: Mapping[str, Any]) -> Iterator[str]:
    rule = row.images
    if row.mode is Mode.VACE:
        return  # depends on the function
    count = len(p.images)
    if not rule.min_count <= count <= rule.max_count:
        what = "image" if rule.max_videos == 0 else "reference"
        yield (f"{row.model} ({row.mode.value}) takes {rule.min_count}-{rule.max_count} input {what}s; {count} given.")
    if row.mode is Mode.KF2V and count == 1 and not (inp.get("template") or params.get("template")):
        yield "input.last_frame_url is required unless a template is given."
    videos = [u for u in p.images if isinstance(u, str) and u.lower().split("?")[0].endswith(VIDEO_SUFFIXES)]
    if videos and rule.max_videos == 0:
        yield f"{videos[0]} looks like a video; {row.model} takes images only."
    elif len(videos) > rule.max_videos > 0:
        yield f"input.reference_urls has {len(videos)} videos; {row.model} takes at most {rule.max_videos}."


def _media_problems(row: ModelMode, p: _Parsed) -> Iterator[str]:
    types = p.media_types
    if not types:
        yield "input.media must hold a first_frame or a first_clip."
        return
    for t in types:
        if row.media_slot(t) is None:
            allowed = ", ".join(slot.type for slot in row.media)
            yield f"input.media type {t!r} is not supported by {row.model}: one of {allowed}."
            return
    if len(set(types)) != len(types):
        yield "input.media must not hold the same type twice."
    elif frozenset(types) not in row.media_combos:
        yield f"input.media types {' + '.join(types)} are not a supported combination for {row.model}."


def _wan27_image_problems(row: ModelMode, p: _Parsed, params: Mapping[str, Any]) -> Iterator[str]:
    sets = _sets(row, params)
    if row.takes(Field.THINKING_MODE) and sets and "thinking_mode" in params:
        yield "parameters.thinking_mode cannot be used with enable_sequential."
    if row.takes(Field.COLOR_PALETTE) and "color_palette" in params:
        palette = params["color_palette"]
        if sets:
            yield "parameters.color_palette cannot be used with enable_sequential."
        elif not isinstance(palette, list):
            yield "parameters.color_palette must be a list."
        else:
            for problem in palette_problems(palette):
                yield f"parameters.{problem.field}: {problem.message}."
    if row.takes(Field.BBOX_LIST) and "bbox_list" in params:
        boxes = params["bbox_list"]
        if not isinstance(boxes, list) or len(boxes) != len(p.images):
            yield f"parameters.bbox_list must hold one list of boxes per input image ({len(p.images)})."
        elif not all(
            isinstance(per, list)
            and all(
                isinstance(b, list)
                and len(b) == 4
                and all(_is_int(v) and v >= 0 for v in b)
                and b[0] < b[2]
                and b[1] < b[3]
                for b in per
            )
            for per in boxes
        ):
            yield "parameters.bbox_list boxes must be [x1, y1, x2, y2] integers with x1 < x2 and y1 < y2."


def _vace_problems(p: _Parsed, inp: Mapping[str, Any], params: Mapping[str, Any]) -> Iterator[str]:
    fn = _function(inp)
    if fn not in VACE_FUNCTIONS:
        yield f"input.function {fn!r} must be one of: {', '.join(VACE_FUNCTIONS)}."
        return
    if fn == "image_reference":
        if not 1 <= len(p.images) <= 3:
            yield f"input.ref_images_url needs 1-3 images for image_reference ({len(p.images)} given)."
        obj = params.get("obj_or_bg")
        if obj is not None and (
            not isinstance(obj, list)
            or any(o not in ("obj", "bg") for o in obj)
            or obj.count("bg") > 1
            or len(obj) != len(p.images)
        ):
            yield "parameters.obj_or_bg must list 'obj' or 'bg' (at most one 'bg') for each reference image."
    if fn in ("video_repainting", "video_edit", "video_outpainting") and not inp.get("video_url"):
        yield f"Field required: input.video_url (for {fn})."
    if fn == "video_repainting":
        if params.get("control_condition") not in CONTROL_CONDITIONS:
            yield f"parameters.control_condition must be one of: {', '.join(CONTROL_CONDITIONS)}."
        s = params.get("strength")
        if s is not None and not (isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= 1):
            yield "parameters.strength must be between 0 and 1."
    if fn == "video_edit" and not (inp.get("mask_image_url") or inp.get("mask_video_url")):
        yield "Field required: input.mask_image_url or input.mask_video_url (for video_edit)."
    if fn == "video_extension" and not (inp.get("first_clip_url") or inp.get("last_clip_url")):
        yield "Field required: input.first_clip_url or input.last_clip_url (for video_extension)."
    if fn == "video_outpainting":
        for key in ("top_scale", "bottom_scale", "left_scale", "right_scale"):
            s = params.get(key)
            if s is not None and not (isinstance(s, int | float) and 1.0 <= s <= 2.0):
                yield f"parameters.{key} must be between 1.0 and 2.0."


def _function(inp: Mapping[str, Any]) -> str | None:
    fn = inp.get("function")
    return None if fn in (None, "", SDK_FUNCTION) else str(fn)


# ---- the job ----------------------------------------------------------------------------------------------


def _job(row: ModelMode, route: Route, p: _Parsed, inp: Mapping[str, Any], params: Mapping[str, Any]) -> Job:
    interleave = row.mode is Mode.INTERLEAVE
    if row.is_video and not row.size and row.resolutions:
        size = str(params.get("resolution") or row.default_resolution)
    else:
        size = str(params.get("size") or row.default_size or "")
    width, height = size_of(row, size or None)
    ratio = params.get("ratio") or row.default_ratio
    if row.ratios and isinstance(ratio, str):
        width, height = video_size(size, ratio) or (width, height)
    aspect = NAMED_SIZE_ASPECTS[zlib.crc32(p.prompt.encode()) % len(NAMED_SIZE_ASPECTS)]
    width, height = named_size(size, aspect) or (width, height)  # the size the answer's usage.size reports
    if interleave:
        n = params.get("max_images", row.max_images_range[1])
    elif row.is_video:
        n = 1
    else:
        n = params.get("n", row.default_n) if row.takes(Field.N) else row.default_n
    duration = None
    if row.is_video:
        duration = params.get("duration") if row.durations and "duration" in params else row.default_duration
        duration = duration or 5  # VACE: the service makes up to 5 s
    audio = params.get("audio")
    if not isinstance(audio, bool):
        audio = row.is_video and (row.takes(Field.AUDIO_URL) or row.takes(Field.AUDIO))
    return Job(
        row=row,
        route=route,
        prompt=p.prompt,
        negative_prompt=p.negative,
        images=tuple(p.images),
        media=tuple(v for _, v in p.media),
        size=size or f"{width}*{height}",
        width=width,
        height=height,
        n=int(n),
        seed=params.get("seed"),
        duration=duration,
        audio=bool(audio) and row.is_video,
        prompt_extend=params.get("prompt_extend", True) is not False,
        interleave=interleave,
        function=_function(inp) if row.mode is Mode.VACE else None,
        input_video_seconds=CLIP_SECONDS if "first_clip" in p.media_types else 0,
        clip_url=_clip_url(p),
    )


def _clip_url(p: _Parsed) -> str | None:
    if "first_clip" not in p.media_types:
        return None
    url = p.media[p.media_types.index("first_clip")][1]
    return url if isinstance(url, str) else None
