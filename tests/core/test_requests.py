"""GenerationRequest: every validation rule on every catalog row it applies to, and the wire body of every row.

Parametrized over `CATALOG`, so a new row is covered by adding it. Local-file checks use real images made by
Pillow in tmp_path. Messages are checked for what a user needs: the field, the value and what is allowed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwentui.core.catalog import (
    CATALOG,
    SEED_MAX,
    SHOT_TYPES,
    VACE_FUNCTIONS,
    Field,
    Mode,
    ModelMode,
    Payload,
    Route,
    lookup,
)
from qwentui.core.requests import (
    CONTROL_CONDITIONS,
    GenerationRequest,
    InvalidRequest,
    Problem,
    WireRequest,
    build,
    validate,
)
from tests.core.clips import make_wav

PROMPT = "a red fox in the snow"


def row_id(row: ModelMode) -> str:
    return f"{row.model}:{row.mode.value}"


def rows_where(pred: Any) -> list[ModelMode]:
    return [row for row in CATALOG if pred(row)]


def each(rows: list[ModelMode]) -> Any:
    assert rows, "the catalog has no row for this rule any more; update the test"
    return pytest.mark.parametrize("row", rows, ids=row_id)


ALL_ROWS = each(list(CATALOG))
IMAGE_INPUT_ROWS = rows_where(lambda r: r.images.max_count > 0 and r.mode is not Mode.VACE)
VACE_ROW = lookup("wan2.1-vace-plus", Mode.VACE)


def url(i: int, ext: str = "png") -> str:
    return f"https://example.com/in/{i}.{ext}"


def default_images(row: ModelMode) -> list[str]:
    count = row.images.min_count
    if row.mode is Mode.KF2V:
        count = 2  # the last frame is optional only with a template
    if row.mode is Mode.VACE:
        count = 1  # image_reference
    return [url(i) for i in range(count)]


def minimal(row: ModelMode, **changes: Any) -> GenerationRequest:
    """The smallest valid request for `row`, with `changes` applied."""
    values: dict[str, Any] = {"mode": row.mode, "model": row.model, "prompt": PROMPT, "images": default_images(row)}
    if row.mode is Mode.VACE:
        values["function"] = "image_reference"
    if row.takes(Field.MEDIA):
        values["media"] = [{"type": "first_frame", "url": url(0)}]
    values.update(changes)
    return GenerationRequest(**values)


def problem(req: GenerationRequest, field: str, *fragments: str, check_files: bool = True) -> Problem:
    """The problem about `field` whose message holds every fragment; also checks build() refuses the request."""
    found = validate(req, check_files=check_files)
    about = [p for p in found if p.field == field]
    assert about, f"no problem about {field!r}; got {found}"
    matching = [p for p in about if all(f in p.message for f in fragments)]
    assert matching, f"no {field!r} problem mentions {fragments}; got {[p.message for p in about]}"
    with pytest.raises(InvalidRequest) as info:
        build(req, check_files=check_files)
    assert info.value.problems == found
    assert str(matching[0]) in str(info.value)
    return matching[0]


def ok(req: GenerationRequest, check_files: bool = True) -> WireRequest:
    assert validate(req, check_files=check_files) == []
    return build(req, check_files=check_files)


def make_image(path: Path, size: tuple[int, int] = (800, 800), fmt: str = "PNG", mode: str = "RGB") -> Path:
    Image.new(mode, size, (200, 40, 40) if mode == "RGB" else None).save(path, format=fmt)
    return path


# ---- every row: a valid minimal request and its wire body ---------------------------------------------------


@ALL_ROWS
def test_minimal_request_builds_on_the_rows_route(row: ModelMode) -> None:
    req = minimal(row)
    wire = ok(req)
    assert (wire.model, wire.mode, wire.route) == (row.model, row.mode, row.route)
    assert wire.is_async is row.route.is_async is (row.route is not Route.MULTIMODAL)
    assert wire.body["model"] == row.model
    assert set(wire.body) == {"model", "input", "parameters"}
    json.dumps(wire.body, allow_nan=False)  # JSON-serialisable as it is
    assert wire.local_files == []
    assert not wire.needs_oss_resolve
    assert None not in wire.body["parameters"].values()


@ALL_ROWS
def test_payload_shape_follows_the_row(row: ModelMode) -> None:
    req = minimal(row)
    inp = ok(req).body["input"]
    if row.payload is Payload.MESSAGES:
        content = [{"text": PROMPT}, *({"image": ref} for ref in req.images)]
        assert inp == {"messages": [{"role": "user", "content": content}]}
    elif row.payload is Payload.PROMPT:
        assert inp["prompt"] == PROMPT
        assert "messages" not in inp
        if row.mode is Mode.I2I:
            assert inp["images"] == req.images
        else:
            assert "images" not in inp
    else:
        assert "messages" not in inp
        assert inp.get("prompt") == PROMPT
        expected: dict[str, Any] = {}
        if row.takes(Field.MEDIA):
            expected = {"media": req.media}
        elif row.mode is Mode.I2V:
            expected = {"img_url": req.images[0]}
        elif row.mode is Mode.KF2V:
            expected = {"first_frame_url": req.images[0], "last_frame_url": req.images[1]}
        elif row.mode is Mode.R2V:
            expected = {"reference_urls": req.images}
        elif row.mode is Mode.VACE:
            expected = {"function": "image_reference", "ref_images_url": req.images}
        assert {k: v for k, v in inp.items() if k != "prompt"} == expected


@ALL_ROWS
def test_defaults_come_from_the_row(row: ModelMode) -> None:
    params = ok(minimal(row)).body["parameters"]
    if Field.SIZE in row.fields and row.default_size:
        assert params["size"] == row.default_size
    else:
        assert "size" not in params
    if row.durations:
        assert params["duration"] == row.default_duration
    else:
        assert "duration" not in params
    if row.resolutions:
        assert params["resolution"] == row.default_resolution
    else:
        assert "resolution" not in params
    if Field.N in row.fields:
        assert params["n"] == row.default_n
    else:
        assert "n" not in params
    if Field.MAX_IMAGES in row.fields:
        assert params["max_images"] == row.max_images_range[1]
    else:
        assert "max_images" not in params
    if Field.PROMPT_EXTEND in row.fields:
        assert params["prompt_extend"] is True
    if Field.WATERMARK in row.fields:
        assert params["watermark"] is False
    for absent in ("seed", "shot_type", "template", "audio", "negative_prompt"):
        assert absent not in params
    unknown = set(params) - {f.value for f in row.fields} - {"enable_interleave"}
    assert not unknown, f"parameters the row does not name: {unknown}"


@ALL_ROWS
def test_enable_interleave_only_for_wan26_image(row: ModelMode) -> None:
    params = ok(minimal(row)).body["parameters"]
    if row.model == "wan2.6-image":
        assert params["enable_interleave"] is (row.mode is Mode.INTERLEAVE)
    else:
        assert "enable_interleave" not in params


@ALL_ROWS
def test_given_values_reach_the_wire(row: ModelMode) -> None:
    changes: dict[str, Any] = {"prompt_extend": False, "watermark": True}
    if Field.SEED in row.fields:
        changes["seed"] = SEED_MAX
    if Field.N in row.fields:
        changes["n"] = row.n_range[1]
    if row.durations:
        changes["duration"] = row.durations[-1]
    if row.resolutions:
        changes["resolution"] = row.resolutions[-1]
    if row.size is not None and Field.SIZE in row.fields:
        changes["size"] = row.size.choices[-1]
    if Field.MAX_IMAGES in row.fields:
        changes["max_images"] = row.max_images_range[0]
    if Field.SHOT_TYPE in row.fields:
        changes["shot_type"] = "single"
    if Field.AUDIO in row.fields:
        changes["audio"] = False
    changes = {k: v for k, v in changes.items() if Field(k) in row.fields}
    params = ok(minimal(row, **changes)).body["parameters"]
    for key, value in changes.items():
        assert params[key] == value, key


@each(rows_where(lambda r: Field.NEGATIVE_PROMPT in r.fields))
def test_negative_prompt_placement(row: ModelMode) -> None:
    body = ok(minimal(row, negative_prompt="blurry")).body
    if row.payload is Payload.MESSAGES:
        assert body["parameters"]["negative_prompt"] == "blurry"
        assert "negative_prompt" not in body["input"]
    else:
        assert body["input"]["negative_prompt"] == "blurry"
        assert "negative_prompt" not in body["parameters"]


@each(rows_where(lambda r: r.images.max_count > 0))
def test_oss_references_need_the_resolve_header(row: ModelMode) -> None:
    refs = [f"oss://dashscope-instant/abc/{i}.png" for i in range(len(default_images(row)) or 1)]
    wire = ok(minimal(row, images=refs))
    assert wire.needs_oss_resolve
    assert wire.local_files == []
    assert not ok(minimal(row)).needs_oss_resolve


@each(rows_where(lambda r: Field.AUDIO_URL in r.fields))
def test_audio_url_goes_to_input(row: ModelMode) -> None:
    wire = ok(minimal(row, audio_url="oss://dashscope-instant/abc/voice.mp3"))
    assert wire.body["input"]["audio_url"] == "oss://dashscope-instant/abc/voice.mp3"
    assert wire.needs_oss_resolve


def test_route_async_flags() -> None:
    assert not Route.MULTIMODAL.is_async
    for route in Route:
        if route is not Route.MULTIMODAL:
            assert route.is_async, route


def test_kf2v_template_goes_to_input_and_i2v_template_to_parameters() -> None:
    kf = lookup("wan2.2-kf2v-flash", Mode.KF2V)
    body = ok(minimal(kf, images=[url(1)], template="zoom")).body
    assert body["input"]["template"] == "zoom"
    assert "template" not in body["parameters"]
    assert "last_frame_url" not in body["input"]
    i2v = lookup("wan2.6-i2v", Mode.I2V)
    body = ok(minimal(i2v, template="zoom")).body
    assert body["parameters"]["template"] == "zoom"
    assert "template" not in body["input"]


@each(rows_where(lambda r: not r.prompt_required and r.mode is not Mode.VACE and not r.takes(Field.MEDIA)))
def test_optional_prompt_is_sent_as_empty_string(row: ModelMode) -> None:
    for prompt in ("", None):
        body = ok(minimal(row, prompt=prompt)).body
        assert body["input"]["prompt"] == ""


def test_vace_without_prompt_sends_no_prompt() -> None:
    body = ok(minimal(VACE_ROW, prompt="")).body
    assert "prompt" not in body["input"]


# ---- local files -----------------------------------------------------------------------------------------


def local_refs(row: ModelMode, tmp_path: Path) -> list[str]:
    return [str(make_image(tmp_path / f"in{i}.png")) for i in range(len(default_images(row)) or 1)]


@each([*IMAGE_INPUT_ROWS, VACE_ROW])
def test_local_files_listed_and_replaced(row: ModelMode, tmp_path: Path) -> None:
    refs = local_refs(row, tmp_path)
    wire = ok(minimal(row, images=refs))
    assert wire.local_files == refs
    assert not wire.needs_oss_resolve
    mapping = {ref: f"oss://dashscope-instant/h/{Path(ref).name}" for ref in refs}
    before = json.dumps(wire.body, sort_keys=True)
    uploaded = wire.with_urls(mapping)
    assert json.dumps(wire.body, sort_keys=True) == before, "with_urls must not change the original"
    assert uploaded.local_files == []
    assert uploaded.needs_oss_resolve
    assert (uploaded.model, uploaded.mode, uploaded.route) == (wire.model, wire.mode, wire.route)
    text = json.dumps(uploaded.body)
    for ref, oss in mapping.items():
        assert json.dumps(ref)[1:-1] not in text
        assert oss in text


def test_with_urls_partial_mapping_keeps_the_rest(tmp_path: Path) -> None:
    row = lookup("wan2.6-image", Mode.EDIT)
    refs = [*local_refs(row, tmp_path), str(make_image(tmp_path / "second.png"))]
    wire = ok(minimal(row, images=refs))
    assert wire.local_files == refs
    half = wire.with_urls({refs[0]: "oss://x/0.png"})
    assert half.local_files == refs[1:]
    content = half.body["input"]["messages"][0]["content"]
    assert content[1:] == [{"image": "oss://x/0.png"}, {"image": refs[1]}]


def test_duplicate_local_file_listed_once(tmp_path: Path) -> None:
    row = lookup("wan2.6-image", Mode.EDIT)
    ref = str(make_image(tmp_path / "a.png"))
    assert ok(minimal(row, images=[ref, ref])).local_files == [ref]


def test_local_audio_file_is_listed(tmp_path: Path) -> None:
    row = lookup("wan2.6-t2v", Mode.T2V)
    audio = make_wav(tmp_path / "voice.wav", seconds=4)
    wire = ok(minimal(row, audio_url=str(audio)))
    assert wire.local_files == [str(audio)]


def test_local_file_without_extension_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_image(tmp_path / "frame", fmt="PNG")
    wire = ok(minimal(lookup("wan2.6-i2v", Mode.I2V), images=["frame"]))
    assert wire.local_files == ["frame"]


def test_prompt_that_names_a_file_is_not_uploaded(tmp_path: Path) -> None:
    """Only media fields are uploaded: a prompt (or negative prompt) that happens to be a path stays text."""
    secret = tmp_path / "notes.txt"
    secret.write_text("private")
    for row in (lookup("wan2.6-t2i", Mode.T2I), lookup("qwen-image-plus", Mode.T2I), lookup("wan2.6-t2v", Mode.T2V)):
        wire = ok(minimal(row, prompt=str(secret), negative_prompt=str(secret)))
        assert wire.local_files == [], row.model
        replaced = wire.with_urls({str(secret): "oss://x/notes.txt"})
        assert "oss://" not in json.dumps(replaced.body), row.model


def test_vace_local_video_is_listed(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(bytes(1000))
    req = minimal(
        VACE_ROW, images=[], function="video_repainting", vace={"video_url": str(video), "control_condition": "depth"}
    )
    wire = ok(req)
    assert wire.local_files == [str(video)]
    assert wire.body["input"]["video_url"] == str(video)


# ---- prompt ----------------------------------------------------------------------------------------------


@ALL_ROWS
def test_prompt_too_long(row: ModelMode) -> None:
    ok(minimal(row, prompt="x" * row.prompt_max))
    p = problem(
        minimal(row, prompt="x" * (row.prompt_max + 1)),
        "prompt",
        str(row.prompt_max + 1),
        f"at most {row.prompt_max}",
        row.model,
    )
    assert str(p).startswith("prompt: ")


@each(rows_where(lambda r: r.prompt_required))
def test_prompt_required(row: ModelMode) -> None:
    for blank in ("", "   ", None):
        problem(minimal(row, prompt=blank), "prompt", "required", row.model)


@each(rows_where(lambda r: not r.prompt_required))
def test_prompt_optional(row: ModelMode) -> None:
    ok(minimal(row, prompt=""))


@each(rows_where(lambda r: Field.NEGATIVE_PROMPT in r.fields))
def test_negative_prompt_too_long(row: ModelMode) -> None:
    ok(minimal(row, negative_prompt="n" * row.negative_max))
    problem(
        minimal(row, negative_prompt="n" * (row.negative_max + 1)),
        "negative_prompt",
        str(row.negative_max + 1),
        f"at most {row.negative_max}",
        row.model,
    )


# ---- size ------------------------------------------------------------------------------------------------

SIZE_ROWS = rows_where(lambda r: Field.SIZE in r.fields and r.size is not None)
FREE_SIZE_ROWS = [r for r in SIZE_ROWS if r.size is not None and r.size.free_form]
LIST_SIZE_ROWS = [r for r in SIZE_ROWS if r.size is not None and not r.size.free_form]


def rule_of(row: ModelMode) -> Any:
    assert row.size is not None
    return row.size


@each(SIZE_ROWS)
def test_every_listed_size_is_accepted(row: ModelMode) -> None:
    for size in rule_of(row).choices:
        assert ok(minimal(row, size=size)).body["parameters"]["size"] == size


@each(FREE_SIZE_ROWS)
def test_size_below_pixel_range(row: ModelMode) -> None:
    rule = rule_of(row)
    side = math.isqrt(rule.min_pixels) - 1
    lo, hi = math.isqrt(rule.min_pixels), math.isqrt(rule.max_pixels)
    problem(
        minimal(row, size=f"{side}*{side}"),
        "size",
        repr(f"{side}*{side}"),
        row.model,
        f"between {lo}*{lo} and {hi}*{hi}",
    )


@each(FREE_SIZE_ROWS)
def test_size_above_pixel_range(row: ModelMode) -> None:
    rule = rule_of(row)
    side = math.isqrt(rule.max_pixels) + 1
    lo, hi = math.isqrt(rule.min_pixels), math.isqrt(rule.max_pixels)
    problem(minimal(row, size=f"{side}*{side}"), "size", f"{side}*{side}", f"between {lo}*{lo} and {hi}*{hi}")


@each(FREE_SIZE_ROWS)
def test_size_bad_aspect(row: ModelMode) -> None:
    rule = rule_of(row)
    target = (rule.min_pixels + rule.max_pixels) / 2
    k = int(rule.max_aspect) + 1
    h = round(math.sqrt(target / k))
    w = k * h
    assert rule.min_pixels <= w * h <= rule.max_pixels
    bound = f"{rule.max_aspect:g}"
    problem(minimal(row, size=f"{w}*{h}"), "size", f"{w}*{h}", "aspect ratio", f"1:{bound}", f"{bound}:1")
    problem(minimal(row, size=f"{h}*{w}"), "size", f"{h}*{w}", "aspect ratio")


@each(FREE_SIZE_ROWS)
def test_size_free_form_within_range_is_accepted(row: ModelMode) -> None:
    rule = rule_of(row)
    side = math.isqrt((rule.min_pixels + rule.max_pixels) // 2)
    ok(minimal(row, size=f"{side}*{side}"))


@each(FREE_SIZE_ROWS)
def test_size_written_with_x_is_sent_as_w_star_h(row: ModelMode) -> None:
    rule = rule_of(row)
    side = math.isqrt((rule.min_pixels + rule.max_pixels) // 2)
    assert ok(minimal(row, size=f"{side}x{side}")).body["parameters"]["size"] == f"{side}*{side}"


@each(FREE_SIZE_ROWS)
def test_size_malformed(row: ModelMode) -> None:
    rule = rule_of(row)
    for bad in ("big", "1280*", "*720", "1280*720*2", "-1280*720", "12.5*720"):
        problem(minimal(row, size=bad), "size", repr(bad), "W*H", rule.choices[0])
    problem(minimal(row, size="0*5000"), "size", "positive")


@each(LIST_SIZE_ROWS)
def test_size_not_in_list(row: ModelMode) -> None:
    rule = rule_of(row)
    for bad in ("1000*1000", "1K", "big", "1280x720"):
        if bad in rule.choices:
            continue
        p = problem(minimal(row, size=bad), "size", repr(bad), row.model, "one of")
        for choice in rule.choices:
            assert choice in p.message


def test_size_side_limits_wan22() -> None:
    row = lookup("wan2.2-t2i-flash", Mode.T2I)
    problem(minimal(row, size="400*1000"), "size", "400*1000", "at least 512 px")
    problem(minimal(row, size="1500*800"), "size", "1500*800", "at most 1440 px")


def test_named_sizes_wan26_image() -> None:
    row = lookup("wan2.6-image", Mode.EDIT)
    for size in ("1K", "2K", "2048*2048", "768*768", "1536*384"):
        ok(minimal(row, size=size))
    problem(minimal(row, size="4K"), "size", "'4K'", "W*H", "1K, 2K")


def test_size_empty_string_refused() -> None:
    row = lookup("wan2.6-t2i", Mode.T2I)
    problem(minimal(row, size=""), "size", "W*H")


# ---- n, seed, duration, resolution ------------------------------------------------------------------------


@each(rows_where(lambda r: Field.N in r.fields and r.n_range[0] != r.n_range[1]))
def test_n_out_of_range(row: ModelMode) -> None:
    lo, hi = row.n_range
    for n in range(lo, hi + 1):
        assert ok(minimal(row, n=n)).body["parameters"]["n"] == n
    for bad in (lo - 1, hi + 1, -3, True, "2", 2.0):
        problem(minimal(row, n=bad), "n", repr(bad), f"{lo}-{hi}", row.model)


@each(rows_where(lambda r: Field.N in r.fields and r.n_range[0] == r.n_range[1]))
def test_n_fixed_at_one(row: ModelMode) -> None:
    assert row.n_range == (1, 1)
    ok(minimal(row, n=1))
    for bad in (0, 2, 4):
        problem(minimal(row, n=bad), "n", repr(bad), "exactly 1", row.model)


def test_qwen_image_edit_takes_only_one_output() -> None:
    row = lookup("qwen-image-edit", Mode.EDIT)
    problem(minimal(row, n=2), "n", "2", "exactly 1", "qwen-image-edit")
    plus = lookup("qwen-image-edit-plus", Mode.EDIT)
    ok(minimal(plus, n=6))
    problem(minimal(plus, n=7), "n", "7", "1-6")


@each(rows_where(lambda r: Field.SEED in r.fields))
def test_seed_range(row: ModelMode) -> None:
    ok(minimal(row, seed=0))
    assert ok(minimal(row, seed=SEED_MAX)).body["parameters"]["seed"] == SEED_MAX
    for bad in (-1, SEED_MAX + 1, True, False, 1.5, "42"):
        problem(minimal(row, seed=bad), "seed", repr(bad), f"0 to {SEED_MAX}")


@each(rows_where(lambda r: len(r.durations) == 1))
def test_duration_fixed(row: ModelMode) -> None:
    fixed = row.durations[0]
    ok(minimal(row, duration=fixed))
    for bad in (fixed + 5, fixed - 1, 0):
        problem(minimal(row, duration=bad), "duration", f"{bad!r} s", row.model, f"fixed at {fixed} s")


@each(rows_where(lambda r: len(r.durations) > 1 and r.durations != tuple(range(r.durations[0], r.durations[-1] + 1))))
def test_duration_from_a_list(row: ModelMode) -> None:
    for d in row.durations:
        ok(minimal(row, duration=d))
    listed = ", ".join(f"{d} s" for d in row.durations)
    for bad in (row.durations[0] + 1, row.durations[-1] + 5, 0):
        problem(minimal(row, duration=bad), "duration", f"{bad} s", row.model, listed)


@each(rows_where(lambda r: len(r.durations) > 2 and r.durations == tuple(range(r.durations[0], r.durations[-1] + 1))))
def test_duration_from_a_range(row: ModelMode) -> None:
    lo, hi = row.durations[0], row.durations[-1]
    ok(minimal(row, duration=lo))
    ok(minimal(row, duration=hi))
    for bad in (lo - 1, hi + 1, 5.5, "5", True):
        problem(minimal(row, duration=bad), "duration", repr(bad), row.model, f"from {lo} to {hi}")


def test_duration_ranges_match_the_doc() -> None:
    assert lookup("wan2.6-t2v", Mode.T2V).durations == tuple(range(2, 16))
    assert lookup("wan2.6-i2v-flash", Mode.I2V).durations == tuple(range(2, 16))
    assert lookup("wan2.6-r2v", Mode.R2V).durations == tuple(range(2, 11))
    assert lookup("wan2.2-kf2v-flash", Mode.KF2V).durations == (5,)
    assert lookup("wan2.5-t2v-preview", Mode.T2V).durations == (5, 10)


@each(rows_where(lambda r: bool(r.resolutions)))
def test_resolution_not_in_list(row: ModelMode) -> None:
    for res in row.resolutions:
        assert ok(minimal(row, resolution=res)).body["parameters"]["resolution"] == res
    for bad in ("4K", "720p", "1280*720", ""):
        problem(
            minimal(row, resolution=bad), "resolution", repr(bad), row.model, "one of " + ", ".join(row.resolutions)
        )


# ---- shot_type, max_images --------------------------------------------------------------------------------


@each(rows_where(lambda r: Field.SHOT_TYPE in r.fields))
def test_shot_type(row: ModelMode) -> None:
    for shot in SHOT_TYPES:
        assert ok(minimal(row, shot_type=shot)).body["parameters"]["shot_type"] == shot
    problem(minimal(row, shot_type="triple"), "shot_type", "'triple'", "single, multi")
    problem(minimal(row, shot_type="multi", prompt_extend=False), "shot_type", "multi", "prompt_extend")
    body = ok(minimal(row, shot_type="multi", prompt_extend=True)).body
    assert body["parameters"]["prompt_extend"] is True


@each(rows_where(lambda r: Field.MAX_IMAGES in r.fields))
def test_max_images(row: ModelMode) -> None:
    lo, hi = row.max_images_range
    assert (lo, hi) == (1, 5)
    for m in range(lo, hi + 1):
        assert ok(minimal(row, max_images=m)).body["parameters"]["max_images"] == m
    for bad in (lo - 1, hi + 1, "3", True):
        problem(minimal(row, max_images=bad), "max_images", repr(bad), f"{lo}-{hi}")


# ---- fields a model does not take -------------------------------------------------------------------------

SAMPLE: dict[Field, Any] = {
    Field.NEGATIVE_PROMPT: "blurry",
    Field.SIZE: "1280*720",
    Field.N: 1,
    Field.SEED: 7,
    Field.PROMPT_EXTEND: True,
    Field.WATERMARK: False,
    Field.DURATION: 5,
    Field.RESOLUTION: "720P",
    Field.AUDIO_URL: "https://example.com/a.mp3",
    Field.AUDIO: False,
    Field.SHOT_TYPE: "single",
    Field.TEMPLATE: "zoom",
    Field.MAX_IMAGES: 2,
    Field.FUNCTION: "image_reference",
    Field.RATIO: "16:9",
    Field.MEDIA: [{"type": "first_frame", "url": "https://example.com/f.png"}],
    Field.ENABLE_SEQUENTIAL: True,
    Field.THINKING_MODE: True,
    Field.BBOX_LIST: [[[1, 2, 3, 4]]],
    Field.COLOR_PALETTE: [{"hex": "#FF0000", "ratio": "50%"}] * 2,
}


def test_sample_covers_every_field() -> None:
    assert set(SAMPLE) == set(Field)


@pytest.mark.parametrize(
    ("row", "field"),
    [(row, f) for row in CATALOG for f in Field if f not in row.fields],
    ids=lambda x: row_id(x) if isinstance(x, ModelMode) else x.value,
)
def test_field_the_model_does_not_take(row: ModelMode, field: Field) -> None:
    p = problem(minimal(row, **{field.value: SAMPLE[field]}), field.value, "not used by", row.model, row.mode.value)
    assert "remove it" in p.message


@each(rows_where(lambda r: r.mode is not Mode.VACE))
def test_vace_fields_on_other_modes_are_refused(row: ModelMode) -> None:
    problem(minimal(row, vace={"strength": 0.5}), "strength", "VACE", row.model)


# ---- image counts -----------------------------------------------------------------------------------------


@each(rows_where(lambda r: r.images.min_count > 0 and r.mode is not Mode.VACE))
def test_too_few_images(row: ModelMode) -> None:
    problem(minimal(row, images=[]), "images", "0 ", row.model, row.mode.value, f"{row.images.min_count}")


@each(rows_where(lambda r: r.mode is not Mode.VACE and not r.takes(Field.MEDIA)))
def test_too_many_images(row: ModelMode) -> None:
    cap = row.images.max_count
    ok(minimal(row, images=[url(i) for i in range(max(cap, 2 if row.mode is Mode.KF2V else cap))]))
    p = problem(
        minimal(row, images=[url(i) for i in range(cap + 1)]), "images", f"{cap + 1} given", row.model, f"at most {cap}"
    )
    if cap == 0:
        assert "0 reference images" in p.message


@each(rows_where(lambda r: r.mode is Mode.KF2V))
def test_kf2v_one_frame_needs_a_template(row: ModelMode) -> None:
    problem(minimal(row, images=[url(1)]), "images", "both frames", "template")
    ok(minimal(row, images=[url(1)], template="zoom"))


@each(rows_where(lambda r: r.mode is Mode.R2V))
def test_r2v_reference_videos(row: ModelMode) -> None:
    assert row.images.max_count == 5
    assert row.images.max_videos == 3
    three = [url(i, "mp4") for i in range(3)]
    wire = ok(minimal(row, images=[*three, url(8), url(9)]))
    assert wire.body["input"]["reference_urls"] == [*three, url(8), url(9)]
    problem(minimal(row, images=[url(i, "mp4") for i in range(4)]), "images", "4 reference videos", "at most 3")
    ok(minimal(row, images=["https://example.com/a.MOV?Expires=1&Signature=x"]))


@each(rows_where(lambda r: r.images.max_count > 0 and r.images.max_videos == 0 and r.mode is not Mode.VACE))
def test_videos_refused_where_only_images_go(row: ModelMode) -> None:
    refs = default_images(row) or [url(0)]
    refs[0] = "https://example.com/clip.mp4?x=1"
    problem(minimal(row, images=refs), "images", "clip.mp4", "looks like a video", row.model)


# ---- local file checks ------------------------------------------------------------------------------------


def with_local(row: ModelMode, ref: str) -> GenerationRequest:
    images = default_images(row) or [url(0)]
    images[0] = ref
    if row.mode is Mode.VACE:
        return minimal(row, images=[ref])
    return minimal(row, images=images)


LOCAL_ROWS = each([*IMAGE_INPUT_ROWS, VACE_ROW])


@LOCAL_ROWS
def test_local_image_too_small(row: ModelMode, tmp_path: Path) -> None:
    rule = row.images
    small = make_image(tmp_path / "small.png", (rule.min_side - 1, rule.min_side + 10))
    problem(
        with_local(row, str(small)),
        "images[1]",
        "small.png",
        f"{rule.min_side - 1}x{rule.min_side + 10}",
        f"{rule.min_side}-{rule.max_side} px",
    )
    okay = make_image(tmp_path / "edge.png", (rule.min_side, rule.min_side))
    ok(with_local(row, str(okay)))


@LOCAL_ROWS
def test_local_image_side_too_large(row: ModelMode, tmp_path: Path) -> None:
    rule = row.images
    big = make_image(tmp_path / "wide.png", (rule.max_side + 1, rule.min_side))
    problem(
        with_local(row, str(big)),
        "images[1]",
        "wide.png",
        f"{rule.max_side + 1}x{rule.min_side}",
        f"{rule.min_side}-{rule.max_side} px",
    )


@LOCAL_ROWS
def test_local_file_too_many_bytes(row: ModelMode, tmp_path: Path) -> None:
    heavy = tmp_path / "heavy.png"
    with heavy.open("wb") as f:
        f.truncate(row.images.max_bytes + 1)  # sparse: the size counts, the disk is not filled
    problem(with_local(row, str(heavy)), "images[1]", "heavy.png", "MB", f"at most {row.images.max_bytes // 2**20} MB")


@LOCAL_ROWS
def test_local_file_format(row: ModelMode, tmp_path: Path) -> None:
    gif = make_image(tmp_path / "anim.gif", fmt="GIF")
    tiff = make_image(tmp_path / "scan.tif", fmt="TIFF")
    for path, fmt in ((gif, "GIF"), (tiff, "TIFF")):
        req = with_local(row, str(path))
        if fmt in row.images.formats:
            ok(req)
        else:
            problem(req, "images[1]", path.name, fmt, ", ".join(row.images.formats), row.model)
    for fmt in row.images.formats:
        if fmt in ("GIF", "TIFF"):
            continue
        ok(with_local(row, str(make_image(tmp_path / f"ok.{fmt.lower()}", fmt=fmt))))


@LOCAL_ROWS
def test_local_path_that_is_not_a_file(row: ModelMode, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.png")
    problem(with_local(row, missing), "images[1]", repr(missing), "not a file or a URL")
    problem(with_local(row, str(tmp_path)), "images[1]", "not a file or a URL")
    ok(with_local(row, missing), check_files=False)


@LOCAL_ROWS
def test_file_url_is_refused(row: ModelMode, tmp_path: Path) -> None:
    real = make_image(tmp_path / "real.png")
    for ref in (f"file://{real}", "ftp://host/a.png", "data://x"):
        problem(with_local(row, ref), "images[1]", "only http(s):// and oss:// URLs")
        problem(with_local(row, ref), "images[1]", "only http(s):// and oss:// URLs", check_files=False)


@LOCAL_ROWS
def test_corrupt_and_empty_files(row: ModelMode, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image at all")
    problem(with_local(row, str(junk)), "images[1]", "junk.png", "not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    problem(with_local(row, str(empty)), "images[1]", "empty.png", "empty")
    good = make_image(tmp_path / "cut.png", (800, 800))
    data = good.read_bytes()
    cut = tmp_path / "truncated.png"
    cut.write_bytes(data[: len(data) // 2])
    problem(with_local(row, str(cut)), "images[1]", "truncated.png")


def test_empty_reference_refused() -> None:
    row = lookup("wan2.6-image", Mode.EDIT)
    problem(minimal(row, images=["  "]), "images[1]", "empty")


def test_odd_paths_do_not_crash(tmp_path: Path) -> None:
    row = lookup("wan2.6-image", Mode.EDIT)
    for ref in ("~no_such_user_qwentui/a.png", "x" * 5000, "a\x00b.png", "~/" + "y" * 300):
        problem(minimal(row, images=[ref]), "images[1]", "not a file or a URL")


def test_missing_local_audio_refused(tmp_path: Path) -> None:
    row = lookup("wan2.6-t2v", Mode.T2V)
    problem(minimal(row, audio_url=str(tmp_path / "x.mp3")), "audio_url", "not a file or a URL")
    problem(minimal(row, audio_url="file:///tmp/x.mp3"), "audio_url", "only http(s)://")


def test_r2v_local_video_must_exist(tmp_path: Path) -> None:
    row = lookup("wan2.6-r2v", Mode.R2V)
    missing = str(tmp_path / "who.mp4")
    problem(minimal(row, images=[missing]), "images[1]", "not a file or a URL")
    real = tmp_path / "who2.mp4"
    real.write_bytes(bytes(100))
    assert ok(minimal(row, images=[str(real)])).local_files == [str(real)]


# ---- VACE -------------------------------------------------------------------------------------------------


def vace(function: str | None, images: list[str] | None = None, **fields: Any) -> GenerationRequest:
    return GenerationRequest(mode=Mode.VACE, prompt="p", function=function, images=images or [], vace=fields)


V = "https://example.com/v.mp4"


def test_vace_each_function_minimal_valid() -> None:
    cases = {
        "image_reference": vace("image_reference", [url(1)], obj_or_bg=["obj"]),
        "video_repainting": vace("video_repainting", video_url=V, control_condition="depth", strength=0.5),
        "video_edit": vace(
            "video_edit", video_url=V, mask_image_url=url(2), mask_frame_id=1, mask_type="tracking", expand_ratio=0.05
        ),
        "video_extension": vace("video_extension", first_clip_url=V),
        "video_outpainting": vace(
            "video_outpainting", video_url=V, top_scale=1.5, bottom_scale=1.0, left_scale=2.0, right_scale=1.2
        ),
    }
    assert set(cases) == set(VACE_FUNCTIONS)
    for function, req in cases.items():
        body = ok(req).body
        assert body["input"]["function"] == function
        for key, value in req.vace.items():
            where = (
                "parameters"
                if key
                in (
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
                else "input"
            )
            assert body[where][key] == value, (function, key)
    assert ok(cases["image_reference"]).body["input"]["ref_images_url"] == [url(1)]
    assert ok(vace("video_extension", last_clip_url=V)).body["input"]["last_clip_url"] == V
    assert ok(vace("video_edit", video_url=V, mask_video_url=V)).body["input"]["mask_video_url"] == V


def test_vace_function_required_and_known() -> None:
    for bad in (None, "", "video_magic"):
        p = problem(vace(bad), "function", repr(bad))
        for fn in VACE_FUNCTIONS:
            assert fn in p.message


def test_vace_image_reference_counts() -> None:
    problem(vace("image_reference", []), "images", "1-3", "0 given")
    problem(vace("image_reference", [url(i) for i in range(4)]), "images", "1-3", "4 given")
    ok(vace("image_reference", [url(i) for i in range(3)]))


def test_vace_obj_or_bg_rules() -> None:
    problem(vace("image_reference", [url(1)], obj_or_bg="obj"), "obj_or_bg", "list of 'obj' or 'bg'")
    problem(vace("image_reference", [url(1)], obj_or_bg=["person"]), "obj_or_bg", "'obj' or 'bg'")
    problem(vace("image_reference", [url(1), url(2)], obj_or_bg=["obj"]), "obj_or_bg", "1 entries for 2 images")
    problem(vace("image_reference", [url(1), url(2)], obj_or_bg=["bg", "bg"]), "obj_or_bg", "at most one")
    ok(vace("image_reference", [url(1), url(2)], obj_or_bg=["obj", "bg"]))


def test_vace_other_functions_take_no_images() -> None:
    problem(vace("video_extension", [url(1)], first_clip_url=V), "images", "video_extension", "no reference images")


@pytest.mark.parametrize("function", ["video_repainting", "video_edit", "video_outpainting"])
def test_vace_video_url_required(function: str) -> None:
    problem(vace(function, control_condition="depth", mask_image_url=url(1)), "video_url", "required", function)


def test_vace_repainting_control_condition_and_strength() -> None:
    p = problem(vace("video_repainting", video_url=V), "control_condition", "None")
    for cc in CONTROL_CONDITIONS:
        assert cc in p.message
    problem(vace("video_repainting", video_url=V, control_condition="edges"), "control_condition", "'edges'")
    for bad in (1.5, -0.1, "0.5", True):
        problem(
            vace("video_repainting", video_url=V, control_condition="depth", strength=bad),
            "strength",
            repr(bad),
            "between 0 and 1",
        )
    for good in (0, 1, 0.0, 1.0):
        ok(vace("video_repainting", video_url=V, control_condition="depth", strength=good))


def test_vace_edit_needs_a_mask() -> None:
    problem(vace("video_edit", video_url=V), "mask_image_url", "mask_image_url or mask_video_url")
    for bad in (0, -1, "1", 1.5):
        problem(
            vace("video_edit", video_url=V, mask_image_url=url(1), mask_frame_id=bad),
            "mask_frame_id",
            repr(bad),
            "from 1",
        )


def test_vace_extension_needs_a_clip() -> None:
    problem(vace("video_extension"), "first_clip_url", "first_clip_url or last_clip_url")


@pytest.mark.parametrize("key", ["top_scale", "bottom_scale", "left_scale", "right_scale"])
def test_vace_outpainting_scale_range(key: str) -> None:
    bad: Any
    for bad in (0.5, 2.01, 0, "1.5"):
        problem(vace("video_outpainting", None, video_url=V, **{key: bad}), key, repr(bad), "between 1.0 and 2.0")
    good: Any
    for good in (1, 1.0, 2, 2.0, 1.5):
        ok(vace("video_outpainting", None, video_url=V, **{key: good}))


def test_vace_unknown_fields() -> None:
    problem(vace("video_extension", first_clip_url=V, bogus=1), "bogus", "not a VACE field")
    problem(vace("video_extension", first_clip_url=V, img_url=url(1)), "img_url", "not a VACE field")


def test_vace_media_fields_checked(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.mp4")
    problem(vace("video_repainting", video_url=missing, control_condition="depth"), "video_url", "not a file or a URL")
    problem(vace("video_repainting", video_url=["a"], control_condition="depth"), "video_url", "URL")
    problem(vace("video_extension", first_clip_url="file:///x.mp4"), "first_clip_url")


def test_vace_reference_images_are_checked(tmp_path: Path) -> None:
    problem(vace("image_reference", [str(tmp_path / "none.png")]), "images[1]", "not a file or a URL")
    problem(vace("image_reference", ["file:///etc/hosts"]), "images[1]", "only http(s)://")


def test_vace_takes_no_duration() -> None:
    req = vace("video_extension", first_clip_url=V)
    req.duration = 5
    problem(req, "duration", "not used", "wan2.1-vace-plus")


# ---- build lists every problem ----------------------------------------------------------------------------


def test_build_lists_all_problems() -> None:
    row = lookup("wan2.6-t2i", Mode.T2I)
    req = minimal(row, prompt="", size="1*1", n=9, seed=-1, duration=5)
    with pytest.raises(InvalidRequest) as info:
        build(req)
    fields = [p.field for p in info.value.problems]
    assert set(fields) == {"prompt", "size", "n", "seed", "duration"}
    text = str(info.value)
    for p in info.value.problems:
        assert str(p) in text
    assert isinstance(info.value, ValueError)


def test_unknown_model_is_a_problem() -> None:
    req = GenerationRequest(mode=Mode.T2I, prompt="x", model="dall-e-3")
    p = problem(req, "model", "dall-e-3", "wan2.6-t2i")
    assert "unknown model" in p.message
    req = GenerationRequest(mode=Mode.T2V, prompt="x", model="wan2.6-t2i")
    problem(req, "model", "does not do t2v", "wan2.6-t2v")


def test_default_model_per_mode() -> None:
    req = GenerationRequest(mode=Mode.T2V, prompt="x")
    assert req.model_name == "wan2.6-t2v"
    assert ok(req).model == "wan2.6-t2v"


def test_wrong_types_are_problems_not_crashes() -> None:
    row = lookup("wan2.6-t2i", Mode.T2I)
    cases: dict[str, Any] = {
        "prompt": 42,
        "negative_prompt": ["x"],
        "size": 1280,
        "prompt_extend": "yes",
        "watermark": 1,
        "model": ["wan2.6-t2i"],
        "images": "https://example.com/a.png",
    }
    for key, value in cases.items():
        found = validate(minimal(row, **{key: value}))
        assert any(p.field == key for p in found), (key, found)
        with pytest.raises(InvalidRequest):
            build(minimal(row, **{key: value}))
    problem(minimal(row, images=[5]), "images[1]")
    problem(minimal(row, vace=["x"]), "vace")


# ---- from_dict: our own dicts and the skill scripts' request JSON ------------------------------------------


def test_from_dict_img_url_is_i2v() -> None:
    req = GenerationRequest.from_dict({"prompt": "walk", "img_url": url(1), "resolution": "1080P", "duration": 10})
    assert req.mode is Mode.I2V
    assert req.images == [url(1)]
    assert req.model_name == "wan2.6-i2v-flash"
    assert ok(req).body["input"]["img_url"] == url(1)


def test_from_dict_reference_urls_is_r2v() -> None:
    refs = [url(1), url(2, "mp4")]
    req = GenerationRequest.from_dict({"prompt": "character1 waves", "reference_urls": refs, "size": "1280*720"})
    assert req.mode is Mode.R2V
    assert req.images == refs
    assert ok(req).body["input"]["reference_urls"] == refs


def test_from_dict_frames_are_kf2v_in_order() -> None:
    req = GenerationRequest.from_dict({"last_frame_url": url(2), "first_frame_url": url(1), "prompt": ""})
    assert req.mode is Mode.KF2V
    assert req.images == [url(1), url(2)]
    inp = ok(req).body["input"]
    assert (inp["first_frame_url"], inp["last_frame_url"]) == (url(1), url(2))


def test_from_dict_function_is_vace_with_flat_fields() -> None:
    req = GenerationRequest.from_dict(
        {
            "function": "video_repainting",
            "prompt": "p",
            "video_url": V,
            "control_condition": "depth",
            "strength": 0.7,
        }
    )
    assert req.mode is Mode.VACE
    assert req.vace == {"video_url": V, "control_condition": "depth", "strength": 0.7}
    body = ok(req).body
    assert body["input"]["video_url"] == V
    assert body["parameters"]["strength"] == 0.7
    req = GenerationRequest.from_dict(
        {
            "function": "image_reference",
            "prompt": "p",
            "ref_images_url": [url(1)],
            "obj_or_bg": ["obj"],
            "vace": {"mask_type": "tracking"},
        }
    )
    assert req.images == [url(1)]
    assert req.vace == {"obj_or_bg": ["obj"], "mask_type": "tracking"}


def test_from_dict_video_url_alone_is_vace() -> None:
    assert GenerationRequest.from_dict({"video_url": V}).mode is Mode.VACE


def test_from_dict_reference_images_is_edit() -> None:
    req = GenerationRequest.from_dict({"prompt": "make it blue", "reference_images": [url(1), url(2)]})
    assert req.mode is Mode.EDIT
    assert req.model_name == "wan2.6-image"
    assert req.images == [url(1), url(2)]
    req = GenerationRequest.from_dict({"prompt": "x", "model": "qwen-image-2.0", "reference_image": url(1)})
    assert req.mode is Mode.EDIT


def test_from_dict_enable_interleave_is_interleave() -> None:
    for data in (
        {"prompt": "a story", "enable_interleave": True},
        {"prompt": "a story", "model": "wan2.6-image", "enable_interleave": True, "max_images": 3},
        {"prompt": "a story", "model": "wan2.6-image", "enable_interleave": True, "reference_images": [url(1)]},
    ):
        req = GenerationRequest.from_dict(data)
        assert req.mode is Mode.INTERLEAVE, data
        assert ok(req).body["parameters"]["enable_interleave"] is True
    req = GenerationRequest.from_dict(
        {"prompt": "x", "model": "wan2.6-image", "enable_interleave": False, "reference_images": [url(1)]}
    )
    assert req.mode is Mode.EDIT
    assert ok(req).body["parameters"]["enable_interleave"] is False


def test_from_dict_mode_from_model_or_fields() -> None:
    assert GenerationRequest.from_dict({"prompt": "x", "model": "wan2.6-t2v"}).mode is Mode.T2V
    assert GenerationRequest.from_dict({"prompt": "x", "model": "wan2.5-i2i-preview"}).mode is Mode.I2I
    assert GenerationRequest.from_dict({"prompt": "x", "duration": 5}).mode is Mode.T2V
    assert GenerationRequest.from_dict({"prompt": "x"}).mode is Mode.T2I
    assert GenerationRequest.from_dict({"prompt": "x", "model": "qwen-image-2.0"}).mode is Mode.T2I


def test_from_dict_skill_script_keys_are_dropped() -> None:
    req = GenerationRequest.from_dict({"prompt": "x", "poll_interval_s": 1, "timeout_s": 60})
    assert req.to_dict() == {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "x"}


def test_from_dict_explicit_mode_wins() -> None:
    req = GenerationRequest.from_dict({"prompt": "x", "img_url": url(1)}, mode="r2v")
    assert req.mode is Mode.R2V
    req = GenerationRequest.from_dict({"prompt": "x", "mode": "t2v"})
    assert req.mode is Mode.T2V
    req = GenerationRequest.from_dict({"prompt": "x", "mode": "t2i"}, mode=Mode.T2V)
    assert req.mode is Mode.T2V


def test_from_dict_unknown_keys_are_named() -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest.from_dict({"prompt": "x", "colour": "red", "enable_magic": True})
    assert [p.field for p in info.value.problems] == ["colour", "enable_magic"]
    assert "colour" in str(info.value) and "enable_magic" in str(info.value)
    assert all("not a request field" in p.message for p in info.value.problems)


def test_from_dict_bad_mode() -> None:
    for bad in ("t3v", "T2I", 5, ["t2i"]):
        with pytest.raises(InvalidRequest) as info:
            GenerationRequest.from_dict({"prompt": "x", "mode": bad})
        (p,) = info.value.problems
        assert p.field == "mode"
        assert repr(bad) in p.message
        for mode in Mode:
            assert mode.value in p.message
    with pytest.raises(InvalidRequest):
        GenerationRequest.from_dict({"prompt": "x"}, mode="nope")


def test_from_dict_malformed_containers() -> None:
    data: Any
    for data in ({"images": 5}, {"img_url": {"a": 1}}, {"reference_urls": True}, {"vace": "video_url"}, {"vace": 3}):
        with pytest.raises(InvalidRequest) as info:
            GenerationRequest.from_dict({"prompt": "x", **data})
        assert str(info.value)
    for data in ([1, 2], "prompt", None):
        with pytest.raises(InvalidRequest) as info:
            GenerationRequest.from_dict(data)
        assert info.value.problems[0].field == "request"


def test_from_dict_non_string_keys() -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest.from_dict({"prompt": "x", 5: "y", None: 1})  # type: ignore[dict-item]
    assert {p.field for p in info.value.problems} == {"5", "None"}


@ALL_ROWS
def test_to_dict_from_dict_round_trip(row: ModelMode) -> None:
    req = minimal(row, seed=3, watermark=True)
    again = GenerationRequest.from_dict(json.loads(req.to_json()))
    assert again == req
    assert build(again).body == build(req).body
