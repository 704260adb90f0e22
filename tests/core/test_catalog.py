"""The model table: internal consistency of every row, the facts from docs/protocol.md, lookups and sizes."""

from __future__ import annotations

import pytest

from qwentui.core.catalog import (
    CATALOG,
    DEFAULT_MODEL,
    MODE_TITLES,
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
    parse_size,
    rows_for_mode,
    rows_for_route,
    size_of,
    size_problem,
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
    assert set(DEFAULT_MODEL) == set(Mode)
    assert set(MODE_TITLES) == set(Mode)
    for mode in Mode:
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
