"""The model table: internal consistency of every row, the facts from docs/protocol.md, lookups and sizes."""

from __future__ import annotations

import pytest

from qwentui.core.catalog import (
    CATALOG,
    DEFAULT_MODEL,
    GENERATION_MODES,
    MODE_TITLES,
    NAMED_SIZE_PIXELS,
    SEED_MAX,
    VACE_FUNCTIONS,
    VIDEO_MODES,
    Field,
    Mode,
    ModelMode,
    Payload,
    Route,
    SizeRule,
    UnknownModel,
    default_row,
    lookup,
    models,
    modes_of,
    named_size,
    parse_size,
    rows_for_mode,
    rows_for_route,
    size_of,
    size_problem,
    video_size,
)


def row_id(row: ModelMode) -> str:
    return f"{row.model}:{row.mode.value}"


ALL_ROWS = pytest.mark.parametrize("row", CATALOG, ids=row_id)

PAYLOAD_ROUTES = {
    Payload.MESSAGES: {Route.MULTIMODAL, Route.IMAGE_GENERATION},
    Payload.PROMPT: {Route.TEXT2IMAGE, Route.IMAGE2IMAGE},
    Payload.VIDEO: {Route.VIDEO, Route.IMAGE2VIDEO},
}


def test_keys_are_unique() -> None:
    keys = [row.key for row in CATALOG]
    assert len(keys) == len(set(keys))


@ALL_ROWS
def test_row_is_consistent(row: ModelMode) -> None:
    assert lookup(row.model, row.mode) is row
    assert lookup(row.model, row.mode.value) is row
    assert row.route in PAYLOAD_ROUTES[row.payload]
    assert row.is_async is row.route.is_async
    assert row.is_video is (row.mode in VIDEO_MODES)
    if row.is_video:
        assert row.payload is Payload.VIDEO
        assert row.is_async, "every video route is async"
    assert (row.route is Route.IMAGE2VIDEO) is (row.mode is Mode.KF2V)
    assert (row.route is Route.IMAGE2IMAGE) is (row.mode is Mode.I2I)
    assert row.prompt_max > 0
    assert row.negative_max > 0
    assert row.typical_seconds[0] <= row.typical_seconds[1]
    assert row.route not in row.also_routes
    for f in row.fields:
        assert row.takes(f)


@ALL_ROWS
def test_defaults_are_allowed_by_the_row(row: ModelMode) -> None:
    lo, hi = row.n_range
    assert 1 <= lo <= row.default_n <= hi
    assert (Field.SIZE in row.fields) is (row.size is not None)
    if row.size is not None:
        for choice in row.size.choices:
            assert size_problem(row.size, choice) is None, choice
        if row.default_size is not None:
            assert size_problem(row.size, row.default_size) is None
    else:
        assert row.default_size is None
    assert (Field.DURATION in row.fields) is bool(row.durations)
    if row.durations:
        assert row.default_duration in row.durations
        assert list(row.durations) == sorted(set(row.durations))
    else:
        assert row.default_duration is None
    assert (Field.RESOLUTION in row.fields) is bool(row.resolutions)
    if row.resolutions:
        assert row.default_resolution in row.resolutions
    else:
        assert row.default_resolution is None
    assert 0 <= row.images.min_count <= row.images.max_count
    assert row.images.max_videos <= row.images.max_count
    assert 0 < row.images.min_side < row.images.max_side
    assert (Field.FUNCTION in row.fields) is (row.mode is Mode.VACE)
    assert (Field.MAX_IMAGES in row.fields) is (row.mode is Mode.INTERLEAVE)
    if row.mode is Mode.INTERLEAVE:
        assert Field.N not in row.fields


def test_every_mode_has_a_default_model() -> None:
    assert set(DEFAULT_MODEL) == set(GENERATION_MODES)  # local modes (assemble) have no model
    assert set(MODE_TITLES) == set(Mode)
    for mode in GENERATION_MODES:
        row = default_row(mode)
        assert row.mode is mode
        assert row.model == DEFAULT_MODEL[mode]
        assert row in rows_for_mode(mode)
        assert mode.label == MODE_TITLES[mode]
        assert mode.is_video is (mode in VIDEO_MODES)
    assert default_row("t2v").model == "wan2.6-t2v"


def test_default_models_are_the_seeds() -> None:
    """docs/protocol.md §6.1: default per mode in video.py; image.py defaults to wan2.6-t2i."""
    assert DEFAULT_MODEL[Mode.T2I] == "wan2.6-t2i"
    assert DEFAULT_MODEL[Mode.T2V] == "wan2.6-t2v"
    assert DEFAULT_MODEL[Mode.I2V] == "wan2.6-i2v-flash"
    assert DEFAULT_MODEL[Mode.KF2V] == "wan2.2-kf2v-flash"
    assert DEFAULT_MODEL[Mode.R2V] == "wan2.6-r2v-flash"
    assert DEFAULT_MODEL[Mode.VACE] == "wan2.1-vace-plus"


def test_doc_facts() -> None:
    """Limits quoted in docs/protocol.md §5-§6."""
    assert SEED_MAX == 2147483647
    t2i = lookup("wan2.6-t2i", Mode.T2I)
    assert (t2i.prompt_max, t2i.negative_max, t2i.n_range, t2i.default_size) == (2100, 500, (1, 4), "1280*1280")
    assert t2i.size is not None and (t2i.size.min_pixels, t2i.size.max_pixels) == (1280**2, 1440**2)
    edit = lookup("wan2.6-image", Mode.EDIT)
    assert (edit.images.min_count, edit.images.max_count, edit.default_size) == (1, 4, "1K")
    assert (edit.images.min_side, edit.images.max_side, edit.images.max_bytes) == (240, 8000, 10 * 2**20)
    assert edit.size is not None and (edit.size.min_pixels, edit.size.max_pixels) == (768**2, 2048**2)
    inter = lookup("wan2.6-image", Mode.INTERLEAVE)
    assert inter.route is Route.IMAGE_GENERATION and inter.is_async
    assert (inter.images.max_count, inter.max_images_range) == (1, (1, 5))
    assert inter.size is not None and inter.size.max_pixels == 1280**2
    i2i = lookup("wan2.5-i2i-preview", Mode.I2I)
    assert (i2i.images.min_count, i2i.images.max_count, i2i.images.min_side, i2i.images.max_side) == (1, 3, 384, 5000)
    for name in ("qwen-image-edit", "qwen-image-edit-plus", "qwen-image-edit-max"):
        row = lookup(name, Mode.EDIT)
        assert row.route is Route.MULTIMODAL and not row.is_async
        assert (row.images.min_count, row.images.max_count) == (1, 3)
        assert "GIF" in row.images.formats
        assert row.n_range == ((1, 1) if name == "qwen-image-edit" else (1, 6))
    for name in ("qwen-image-plus", "qwen-image-max"):
        row = lookup(name, Mode.T2I)
        assert (row.route, row.payload, row.default_size) == (Route.TEXT2IMAGE, Payload.PROMPT, "1328*1328")
        assert Route.MULTIMODAL in row.also_routes
    t2v = lookup("wan2.6-t2v", Mode.T2V)
    assert (t2v.prompt_max, t2v.default_duration) == (1500, 5)
    assert t2v.size is not None and "832*480" not in t2v.size.choices  # no 480P for wan2.6
    assert lookup("wan2.5-t2v-preview", Mode.T2V).size.choices[:3] == ("832*480", "480*832", "624*624")  # type: ignore[union-attr]
    assert lookup("wan2.2-t2v-plus", Mode.T2V).prompt_max == 800
    kf = lookup("wan2.2-kf2v-flash", Mode.KF2V)
    assert (kf.resolutions, kf.durations) == (("480P", "720P", "1080P"), (5,))
    for name in ("wan2.6-r2v", "wan2.6-r2v-flash"):
        r2v = lookup(name, Mode.R2V)
        assert (r2v.images.max_count, r2v.images.max_videos, r2v.durations) == (5, 3, tuple(range(2, 11)))
    i2v = lookup("wan2.6-i2v-flash", Mode.I2V)
    assert (i2v.resolutions, i2v.images.min_side, i2v.images.max_side) == (("720P", "1080P"), 360, 2000)
    assert Field.AUDIO in i2v.fields
    assert VACE_FUNCTIONS == (
        "image_reference",
        "video_repainting",
        "video_edit",
        "video_extension",
        "video_outpainting",
    )


def test_models_and_modes() -> None:
    names = models()
    assert len(names) == len(set(names))
    assert names[0] == CATALOG[0].model
    assert set(names) == {row.model for row in CATALOG}
    assert modes_of("wan2.6-image") == [Mode.EDIT, Mode.INTERLEAVE]
    assert modes_of("qwen-image-2.0") == [Mode.T2I, Mode.EDIT]
    assert modes_of("gpt-image") == []


def test_lookup_unknown_model_lists_models() -> None:
    with pytest.raises(UnknownModel) as info:
        lookup("wanx-v1", Mode.T2I)
    text = str(info.value)
    assert "'wanx-v1'" in text
    for name in models():
        assert name in text


def test_lookup_wrong_mode_lists_alternatives() -> None:
    with pytest.raises(UnknownModel) as info:
        lookup("wan2.6-t2i", Mode.T2V)
    text = str(info.value)
    assert "does not do t2v" in text
    assert "it does: t2i" in text
    for row in rows_for_mode(Mode.T2V):
        assert row.model in text


def test_lookup_bad_mode_is_value_error() -> None:
    with pytest.raises(ValueError):
        lookup("wan2.6-t2i", "t3i")


def test_rows_for_route() -> None:
    assert rows_for_route(Route.IMAGE_GENERATION, "wan2.6-t2i") == [lookup("wan2.6-t2i", Mode.T2I)]
    assert rows_for_route(Route.MULTIMODAL, "wan2.6-t2i") == [lookup("wan2.6-t2i", Mode.T2I)]
    assert rows_for_route(Route.VIDEO, "wan2.6-t2i") == []
    both = rows_for_route(Route.IMAGE_GENERATION, "wan2.6-image")
    assert [r.mode for r in both] == [Mode.EDIT, Mode.INTERLEAVE]
    assert [r.mode for r in rows_for_route(Route.MULTIMODAL, "wan2.6-image")] == [Mode.EDIT]
    assert rows_for_route(Route.MULTIMODAL, "qwen-image-max") == [lookup("qwen-image-max", Mode.T2I)]
    assert rows_for_route(Route.IMAGE2VIDEO, "wan2.2-kf2v-flash")[0].mode is Mode.KF2V


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1280*720", (1280, 720)),
        ("1280x720", (1280, 720)),
        ("1280X720", (1280, 720)),
        (" 1280 * 720 ", (1280, 720)),
        ("0*0", (0, 0)),
        ("1K", None),
        ("", None),
        ("*", None),
        ("1280*", None),
        ("-1*5", None),
        ("1.5*2", None),
        ("1280*720*3", None),
        ("²*1", None),  # a "digit" int() cannot read
        ("1*³", None),
        ("9" * 5000 + "*1", None),  # longer than int() reads from a string
        ("١٢٨٠*٧٢٠", (1280, 720)),  # Arabic-Indic decimals are decimals
    ],
)
def test_parse_size(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_size(text) == expected


RULE = SizeRule(choices=("1K",), min_pixels=100 * 100, max_pixels=200 * 200)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1K", None),
        ("150*150", None),
        ("100*100", None),
        ("200*200", None),
        ("60*240", None),  # exactly 1:4
        ("99*100", "total pixels must be between 100*100 and 200*200 (got 9,900)"),
        ("201*200", "total pixels must be between 100*100 and 200*200 (got 40,200)"),
        ("50*250", "aspect ratio must be between 1:4 and 4:1"),
        ("240*59", "aspect ratio"),
        ("0*10", "positive"),
        ("2K", "must be W*H (e.g. 100*100) or one of: 1K"),
        ("big", "must be W*H"),
    ],
)
def test_size_problem(value: str, fragment: str | None) -> None:
    why = size_problem(RULE, value)
    if fragment is None:
        assert why is None
    else:
        assert why is not None and fragment in why


def test_size_problem_side_limits() -> None:
    rule = SizeRule(min_pixels=100, max_pixels=10**6, min_side=60, max_side=190)
    assert "at least 60 px" in (size_problem(rule, "59*100") or "")
    assert "at most 190 px" in (size_problem(rule, "191*100") or "")


def test_size_problem_list_only() -> None:
    rule = SizeRule(choices=("1280*720", "720*1280"))
    assert size_problem(rule, "1280*720") is None
    assert size_problem(rule, "1280x720") == "must be one of: 1280*720, 720*1280"
    assert size_problem(rule, "640*360") == "must be one of: 1280*720, 720*1280"


def test_size_of() -> None:
    t2i = lookup("wan2.6-t2i", Mode.T2I)
    assert size_of(t2i, "1104*1472") == (1104, 1472)
    assert size_of(t2i, None) == (1280, 1280)
    edit = lookup("wan2.6-image", Mode.EDIT)
    assert size_of(edit, None) == (1024, 1024)  # "1K": a pixel budget, resolved as a square estimate
    assert size_of(edit, "2K") == (2048, 2048)
    i2v = lookup("wan2.6-i2v", Mode.I2V)
    assert size_of(i2v, None) == (1280, 720)
    assert size_of(i2v, "1080P") == (1920, 1080)
    assert size_of(i2v, "480P") == (832, 480)
    vace = lookup("wan2.1-vace-plus", Mode.VACE)
    assert size_of(vace, None) == (1280, 720)
    assert size_of(vace, "weird") == (1280, 720)


# ---- Wan 2.7 ---------------------------------------------------------------------------------------------------


@ALL_ROWS
def test_wan27_fields_match_their_data(row: ModelMode) -> None:
    """A row takes ratio / media / image sets / an audio track exactly when it holds the data for them."""
    assert (Field.RATIO in row.fields) is bool(row.ratios)
    if row.ratios:
        assert row.default_ratio in row.ratios
    assert (Field.MEDIA in row.fields) is bool(row.media)
    slot_types = {slot.type for slot in row.media}
    for combo in row.media_combos:
        assert combo <= slot_types
    for slot in row.media:
        assert (slot.image is None) is not (slot.clip is None), slot
    assert (Field.ENABLE_SEQUENTIAL in row.fields) is (row.sequential is not None)
    if row.sequential is not None:
        lo, hi = row.sequential.n_range
        assert lo <= row.sequential.default_n <= hi and hi >= row.n_range[1]
        assert row.default_size is not None and size_problem(row.sequential.size, row.default_size) is None
    assert (Field.AUDIO_URL in row.fields) is (row.audio_rule is not None)
    if row.audio_rule is not None:
        assert row.audio_rule.kind == "audio" and row.audio_rule.formats == ("wav", "mp3")
    assert row.new_protocol is row.model.startswith("wan2.7")


def test_wan27_video_facts() -> None:
    t2v = lookup("wan2.7-t2v", Mode.T2V)
    assert (t2v.route, t2v.prompt_max, t2v.durations, t2v.default_duration) == (
        Route.VIDEO,
        5000,
        tuple(range(2, 16)),
        5,
    )
    assert (t2v.resolutions, t2v.default_resolution) == (("720P", "1080P"), "1080P")
    assert (t2v.ratios, t2v.default_ratio) == (("16:9", "9:16", "1:1", "4:3", "3:4"), "16:9")
    assert not {Field.SIZE, Field.SHOT_TYPE, Field.AUDIO} & t2v.fields
    assert t2v.audio_rule is not None
    assert (t2v.audio_rule.min_seconds, t2v.audio_rule.max_seconds, t2v.audio_rule.max_bytes) == (3, 30, 15 * 2**20)
    i2v = lookup("wan2.7-i2v", Mode.I2V)
    assert i2v.route is Route.VIDEO  # not image2video, even for first + last frame
    assert not {Field.RATIO, Field.AUDIO_URL, Field.AUDIO, Field.TEMPLATE, Field.SHOT_TYPE} & i2v.fields
    assert [s.type for s in i2v.media] == ["first_frame", "first_clip", "last_frame", "driving_audio"]
    assert len(i2v.media_combos) == 6 and frozenset({"first_clip", "driving_audio"}) not in i2v.media_combos
    clip = i2v.media_slot("first_clip")
    assert clip is not None and clip.clip is not None
    assert (clip.clip.formats, clip.clip.min_seconds, clip.clip.max_seconds) == (("mp4", "mov"), 2, 10)
    frame = i2v.media_slot("first_frame")
    assert frame is not None and frame.image is not None and not frame.image.allow_alpha
    assert i2v.media_slot("reference_image") is None
    assert DEFAULT_MODEL[Mode.T2V] == "wan2.6-t2v" and DEFAULT_MODEL[Mode.I2V] == "wan2.6-i2v-flash"  # unchanged


def test_wan27_image_facts() -> None:
    for model in ("wan2.7-image", "wan2.7-image-pro"):
        t2i, edit = lookup(model, Mode.T2I), lookup(model, Mode.EDIT)
        for row in (t2i, edit):
            assert row.route is Route.IMAGE_GENERATION and Route.MULTIMODAL in row.also_routes
            assert (row.default_size, row.n_range, row.prompt_max) == ("2K", (1, 4), 5000)
            assert row.sequential is not None and row.sequential.n_range == (1, 12)
            assert Field.PROMPT_EXTEND not in row.fields and Field.COLOR_PALETTE in row.fields
        assert Field.THINKING_MODE in t2i.fields and Field.BBOX_LIST not in t2i.fields
        assert Field.BBOX_LIST in edit.fields and Field.THINKING_MODE not in edit.fields
        assert (edit.images.min_count, edit.images.max_count, edit.images.max_bytes) == (1, 9, 10 * 2**20)
        assert not edit.images.allow_alpha and edit.images.max_aspect == 8.0
        assert t2i.images.max_count == 0
        assert edit.size is not None and "4K" not in edit.size.choices
        assert "4K" not in t2i.sequential.size.choices  # type: ignore[union-attr]
    pro = lookup("wan2.7-image-pro", Mode.T2I).size
    assert pro is not None and "4K" in pro.choices
    std = lookup("wan2.7-image", Mode.T2I).size
    assert std is not None and "4K" not in std.choices


def test_alpha_is_refused_only_where_the_docs_say_so() -> None:
    no_alpha = {(r.model, r.mode) for r in CATALOG if not r.images.allow_alpha and r.images.max_count}
    assert no_alpha == {
        ("wan2.6-image", Mode.EDIT),
        ("wan2.6-image", Mode.INTERLEAVE),
        ("wan2.6-i2v-flash", Mode.I2V),
        ("wan2.6-i2v", Mode.I2V),
        ("wan2.5-i2v-preview", Mode.I2V),
        ("wan2.7-image", Mode.EDIT),
        ("wan2.7-image-pro", Mode.EDIT),
    }


@pytest.mark.parametrize("value", ["1K", "2K", "4K"])
@pytest.mark.parametrize("aspect", [1.0, 16 / 9, 9 / 16, 2985 / 1405, 20.0])
def test_named_size_keeps_the_pixel_budget(value: str, aspect: float) -> None:
    got = named_size(value, aspect)
    assert got is not None
    width, height = got
    budget = NAMED_SIZE_PIXELS[value]
    assert width % 16 == 0 and height % 16 == 0
    assert abs(width * height - budget) / budget < 0.03
    assert abs(width / height - min(aspect, 8.0)) / min(aspect, 8.0) < 0.05  # at most 8:1


def test_named_size_of_other_values() -> None:
    assert named_size("1280*720") is None and named_size("8K") is None and named_size("2k") is None
    assert named_size("2K") == (2048, 2048)


def test_video_size_of_resolution_and_ratio() -> None:
    assert video_size("1080P", "16:9") == (1920, 1080)
    assert video_size("720P", "9:16") == (720, 1280)
    assert video_size("720P", "4:3") == (1088, 832)
    assert video_size("1080P", "3:4") == (1248, 1632)
    assert video_size("480P", "16:9") is None and video_size("720P", "21:9") is None
