"""Wan 2.7 requests: the skill scripts' keys, every media[] combination allowed and forbidden, resolution + ratio,
image sets, 4K, thinking mode, palettes, region boxes, and the limits on local frames, clips and audio (real
files: Pillow images, a stdlib WAV, a PyAV MP4). Also the "PNG without alpha" rule wherever the docs state it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwentui.core.catalog import CATALOG, Field, Mode, lookup
from qwentui.core.requests import GenerationRequest, InvalidRequest, Problem, build, validate
from tests.core.clips import make_mp4, make_wav

I2V = lookup("wan2.7-i2v", Mode.I2V)
T2V = lookup("wan2.7-t2v", Mode.T2V)
FRAME, LAST = "https://example.com/first.png", "https://example.com/last.png"
CLIP, AUDIO = "https://example.com/clip.mp4", "https://example.com/voice.mp3"
URLS = {"first_frame": FRAME, "last_frame": LAST, "first_clip": CLIP, "driving_audio": AUDIO}


def problems_of(req: GenerationRequest) -> list[Problem]:
    return validate(req)


def one_problem(req: GenerationRequest, field: str, *fragments: str) -> Problem:
    found = [p for p in validate(req) if p.field == field]
    assert found, (field, validate(req))
    for fragment in fragments:
        assert any(fragment in p.message for p in found), (fragment, found)
    return found[0]


def i2v(*types: str, **changes: Any) -> GenerationRequest:
    media = [{"type": t, "url": URLS[t]} for t in types]
    values: dict[str, Any] = {"prompt": "it moves", **changes}
    return GenerationRequest(mode=Mode.I2V, model=I2V.model, media=media, **values)


def image(model: str = "wan2.7-image-pro", refs: int = 0, **changes: Any) -> GenerationRequest:
    mode = Mode.EDIT if refs else Mode.T2I
    images = [f"https://example.com/r{i}.png" for i in range(refs)]
    return GenerationRequest(mode=mode, model=model, prompt="a clock", images=images, **changes)


# ---- the skill scripts' keys ------------------------------------------------------------------------------------


def test_flat_keys_become_media_in_the_skill_order() -> None:
    req = GenerationRequest.from_dict(
        {"model": "wan2.7-i2v", "prompt": "rap", "driving_audio_url": AUDIO, "first_frame_url": FRAME, "seed": 7}
    )
    assert (req.mode, req.model) == (Mode.I2V, "wan2.7-i2v")
    assert req.media == [{"type": "first_frame", "url": FRAME}, {"type": "driving_audio", "url": AUDIO}]
    body = build(req).body
    assert body["input"] == {"prompt": "rap", "media": req.media}
    assert body["parameters"] == {
        "resolution": "1080P",
        "duration": 5,
        "seed": 7,
        "prompt_extend": True,
        "watermark": False,
    }


def test_first_clip_without_a_model_goes_to_the_model_that_reads_media() -> None:
    """The skill would send a media body to wan2.6-i2v-flash, which cannot read it."""
    req = GenerationRequest.from_dict({"first_clip_url": CLIP, "last_frame_url": LAST})
    assert (req.mode, req.model) == (Mode.I2V, "wan2.7-i2v")
    assert build(req).body["input"] == {
        "media": [{"type": "last_frame", "url": LAST}, {"type": "first_clip", "url": CLIP}]
    }


def test_media_list_as_given() -> None:
    media = [{"type": "first_clip", "url": CLIP}]
    req = GenerationRequest.from_dict({"model": "wan2.7-i2v", "media": media, "duration": 10})
    assert req.media == media and build(req).body["parameters"]["duration"] == 10


def test_media_and_flat_keys_together_are_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest.from_dict({"media": [{"type": "first_frame", "url": FRAME}], "last_frame_url": LAST})
    assert info.value.problems[0].field == "last_frame_url" and "not both" in info.value.problems[0].message


@pytest.mark.parametrize("bad", [5, "first_frame", [1], [["first_frame", FRAME]]])
def test_media_that_is_not_a_list_of_objects(bad: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest.from_dict({"model": "wan2.7-i2v", "media": bad})
    assert info.value.problems[0].field == "media"


def test_first_and_last_frame_without_a_model_stay_wan22_kf2v() -> None:
    req = GenerationRequest.from_dict({"first_frame_url": FRAME, "last_frame_url": LAST})
    assert req.mode is Mode.KF2V and req.model is None and req.images == [FRAME, LAST]


def test_vace_keeps_its_own_first_clip_url() -> None:
    req = GenerationRequest.from_dict({"function": "video_extension", "first_clip_url": CLIP})
    assert req.mode is Mode.VACE and req.vace == {"first_clip_url": CLIP} and req.media == []


def test_wan26_keys_on_wan27_i2v_are_refused_with_the_way_out() -> None:
    req = GenerationRequest.from_dict({"model": "wan2.7-i2v", "img_url": FRAME})
    one_problem(req, "images", "first_frame_url", "media")
    req = GenerationRequest.from_dict({"model": "wan2.7-i2v", "first_frame_url": FRAME, "audio_url": AUDIO})
    one_problem(req, "audio_url", "not used by wan2.7-i2v")


def test_wan27_image_keys_from_the_skill() -> None:
    data = {
        "model": "wan2.7-image-pro",
        "prompt": "p",
        "reference_images": [FRAME, LAST],
        "bbox_list": [[], [[1, 2, 30, 40]]],
        "n": 2,
        "size": "2K",
        "seed": 5,
        "negative_prompt": "blur",
        "watermark": True,
    }
    req = GenerationRequest.from_dict(data)
    assert req.mode is Mode.EDIT
    assert build(req).body["parameters"] == {
        "size": "2K",
        "enable_sequential": False,
        "n": 2,
        "bbox_list": [[], [[1, 2, 30, 40]]],
        "seed": 5,
        "watermark": True,
        "negative_prompt": "blur",
    }


# ---- media combinations -----------------------------------------------------------------------------------------

ALLOWED = [
    ("first_frame",),
    ("first_frame", "driving_audio"),
    ("first_frame", "last_frame"),
    ("first_frame", "last_frame", "driving_audio"),
    ("first_clip",),
    ("first_clip", "last_frame"),
]


def test_the_allowed_combinations_are_the_catalogs() -> None:
    assert {frozenset(c) for c in ALLOWED} == set(I2V.media_combos)


@pytest.mark.parametrize("types", ALLOWED, ids="+".join)
def test_allowed_combination(types: tuple[str, ...]) -> None:
    wire = build(i2v(*types))
    assert [m["type"] for m in wire.body["input"]["media"]] == list(types)
    assert wire.route is I2V.route and wire.is_async


@pytest.mark.parametrize(
    ("types", "fragment"),
    [
        ((), "needs a first frame or a first clip"),
        (("last_frame",), "last frame is not a combination"),
        (("driving_audio",), "driving audio is not a combination"),
        (("first_frame", "first_clip"), "first frame + first clip is not a combination"),
        (("first_clip", "driving_audio"), "first clip + driving audio is not a combination"),
        (("first_clip", "last_frame", "driving_audio"), "is not a combination"),
        (("first_frame", "first_frame"), "first frame is given twice"),
    ],
)
def test_forbidden_combination(types: tuple[str, ...], fragment: str) -> None:
    p = one_problem(i2v(*types), "media", fragment)
    if "combination" in fragment:
        assert "first frame + driving audio" in p.message  # says what is allowed


def test_unknown_media_type() -> None:
    req = GenerationRequest(mode=Mode.I2V, model=I2V.model, media=[{"type": "reference_image", "url": FRAME}])
    one_problem(req, "media", "'reference_image'", "first_frame, first_clip, last_frame, driving_audio")


@pytest.mark.parametrize(
    "item", [{"type": "first_frame"}, {"type": 1, "url": FRAME}, "x", {"type": "a", "url": "b", "c": 1}]
)
def test_malformed_media_item(item: Any) -> None:
    req = GenerationRequest(mode=Mode.I2V, model=I2V.model, media=[item])
    assert problems_of(req)[0].field == "media[1]"


@pytest.mark.parametrize("row", [r for r in CATALOG if not r.takes(Field.MEDIA)], ids=lambda r: f"{r.model}:{r.mode}")
def test_media_on_other_models_is_refused(row: Any) -> None:
    req = GenerationRequest(mode=row.mode, model=row.model, prompt="p", media=[{"type": "first_frame", "url": FRAME}])
    one_problem(req, "media", "not used by")


def test_remote_media_is_not_a_local_file_and_local_media_is_uploaded(tmp_path: Path) -> None:
    frame = tmp_path / "f.jpg"
    Image.new("RGB", (640, 360)).save(frame)
    req = GenerationRequest(mode=Mode.I2V, model=I2V.model, media=[{"type": "first_frame", "url": str(frame)}])
    wire = build(req)
    assert wire.local_files == [str(frame)]
    sent = wire.with_urls({str(frame): "oss://bucket/f.jpg"})
    assert sent.body["input"]["media"] == [{"type": "first_frame", "url": "oss://bucket/f.jpg"}]
    assert sent.needs_oss_resolve and not sent.local_files


def test_other_durations_and_resolutions() -> None:
    one_problem(i2v("first_frame", duration=16), "duration", "2 to 15")
    one_problem(i2v("first_frame", duration=1), "duration")
    one_problem(i2v("first_frame", resolution="480P"), "resolution", "720P, 1080P")
    one_problem(i2v("first_frame", ratio="16:9"), "ratio", "not used by wan2.7-i2v")
    one_problem(i2v("first_frame", prompt="p" * 5001), "prompt", "5000")
    assert build(i2v("first_frame", prompt="p" * 5000, duration=15, resolution="720P"))


# ---- local media files -------------------------------------------------------------------------------------------


def local(tmp_path: Path, media_type: str, path: Path) -> GenerationRequest:
    others = {"last_frame": "first_frame", "driving_audio": "first_frame"}
    media = [{"type": media_type, "url": str(path)}]
    if media_type in others:
        media.insert(0, {"type": others[media_type], "url": FRAME})
    return GenerationRequest(mode=Mode.I2V, model=I2V.model, media=media)


def test_local_first_clip_limits(tmp_path: Path) -> None:
    assert validate(local(tmp_path, "first_clip", make_mp4(tmp_path / "ok.mp4", 3))) == []
    p = one_problem(local(tmp_path, "first_clip", make_mp4(tmp_path / "short.mp4", 1)), "media[1] (first clip)")
    assert "1.0 s long" in p.message and "2-10 s" in p.message
    p = one_problem(local(tmp_path, "first_clip", make_mp4(tmp_path / "long.mp4", 11)), "media[1] (first clip)")
    assert "11.0 s" in p.message
    small = make_mp4(tmp_path / "tiny.mp4", 3, size=(320, 160))
    one_problem(local(tmp_path, "first_clip", small), "media[1] (first clip)", "320x160", "240-4096")
    thin = make_mp4(tmp_path / "thin.mp4", 3, size=(2000, 200))
    one_problem(local(tmp_path, "first_clip", thin), "media[1] (first clip)", "each side must be 240-4096")
    avi = tmp_path / "clip.avi"
    avi.write_bytes(make_mp4(tmp_path / "x.mp4", 3).read_bytes())
    one_problem(local(tmp_path, "first_clip", avi), "media[1] (first clip)", "MP4, MOV")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00 ftypisom" + bytes(64))
    one_problem(local(tmp_path, "first_clip", broken), "media[1] (first clip)", "not a readable")
    silent = make_wav(tmp_path / "sound.mov", 3)  # a WAV named .mov: no video stream
    one_problem(local(tmp_path, "first_clip", silent), "media[1] (first clip)")


def test_local_driving_audio_limits(tmp_path: Path) -> None:
    assert validate(local(tmp_path, "driving_audio", make_wav(tmp_path / "ok.wav", 4))) == []
    # 2 s in most sources, 3 s in others: the stricter 3 s minimum holds.
    p = one_problem(local(tmp_path, "driving_audio", make_wav(tmp_path / "two.wav", 2)), "media[2] (driving audio)")
    assert "2.0 s long" in p.message and "3-30 s" in p.message
    one_problem(
        local(tmp_path, "driving_audio", make_wav(tmp_path / "long.wav", 31)), "media[2] (driving audio)", "31.0 s"
    )
    ogg = tmp_path / "voice.ogg"
    ogg.write_bytes(b"OggS" + bytes(100))
    one_problem(local(tmp_path, "driving_audio", ogg), "media[2] (driving audio)", "WAV, MP3")
    video = make_mp4(tmp_path / "v.mp4", 3)
    wav_named = tmp_path / "video.wav"
    wav_named.write_bytes(video.read_bytes())
    one_problem(local(tmp_path, "driving_audio", wav_named), "media[2] (driving audio)")


def test_local_audio_track_limits_on_t2v(tmp_path: Path) -> None:
    req = GenerationRequest(mode=Mode.T2V, model=T2V.model, prompt="p", audio_url=str(make_wav(tmp_path / "a.wav", 5)))
    assert build(req).local_files == [str(tmp_path / "a.wav")]
    req.audio_url = str(make_wav(tmp_path / "b.wav", 40))
    one_problem(req, "audio_url", "40.0 s", "3-30 s")
    for model in ("wan2.6-t2v", "wan2.6-i2v-flash"):  # the same audio limits on the older audio models
        older = GenerationRequest.from_dict({"model": model, "prompt": "p", "audio_url": str(tmp_path / "b.wav")})
        if older.mode is Mode.I2V:
            older.images = [FRAME]
        one_problem(older, "audio_url", "3-30 s")


def test_local_frames_aspect_and_alpha(tmp_path: Path) -> None:
    wide = tmp_path / "wide.jpg"
    Image.new("RGB", (4500, 500)).save(wide)
    one_problem(local(tmp_path, "first_frame", wide), "media[1] (first frame)", "1:8")
    rgba = tmp_path / "cut.png"
    Image.new("RGBA", (640, 480), (0, 0, 0, 0)).save(rgba)
    one_problem(local(tmp_path, "last_frame", rgba), "media[2] (last frame)", "alpha", "JPEG")


# ---- PNG without alpha: refused where the docs say so, accepted elsewhere --------------------------------------


@pytest.mark.parametrize(
    ("model", "mode", "refused"),
    [
        ("wan2.6-image", Mode.EDIT, True),
        ("wan2.6-i2v-flash", Mode.I2V, True),
        ("wan2.7-image-pro", Mode.EDIT, True),
        ("qwen-image-edit-plus", Mode.EDIT, False),
        ("wan2.5-i2i-preview", Mode.I2I, False),
    ],
)
def test_rgba_png(tmp_path: Path, model: str, mode: Mode, refused: bool) -> None:
    rgba = tmp_path / "logo.png"
    Image.new("RGBA", (800, 800), (255, 0, 0, 128)).save(rgba)
    req = GenerationRequest(mode=mode, model=model, prompt="p", images=[str(rgba)])
    found = [p for p in validate(req) if "alpha" in p.message]
    assert bool(found) is refused, validate(req)
    rgb = tmp_path / "flat.png"
    Image.new("RGB", (800, 800)).save(rgb)
    req.images = [str(rgb)]
    assert validate(req) == []


# ---- wan2.7-t2v ---------------------------------------------------------------------------------------------------


def test_t2v_body_has_resolution_and_ratio_and_no_size() -> None:
    req = GenerationRequest(mode=Mode.T2V, model=T2V.model, prompt="p", negative_prompt="n", audio_url=AUDIO)
    body = build(req).body
    assert body["input"] == {"prompt": "p", "negative_prompt": "n", "audio_url": AUDIO}
    assert body["parameters"] == {
        "resolution": "1080P",
        "ratio": "16:9",
        "duration": 5,
        "prompt_extend": True,
        "watermark": False,
    }


@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "4:3", "3:4"])
def test_t2v_ratios(ratio: str) -> None:
    req = GenerationRequest(mode=Mode.T2V, model=T2V.model, prompt="p", ratio=ratio, resolution="720P")
    assert build(req).body["parameters"]["ratio"] == ratio


def test_t2v_refusals() -> None:
    base: dict[str, Any] = {"mode": Mode.T2V, "model": T2V.model, "prompt": "p"}
    one_problem(GenerationRequest(**base, ratio="21:9"), "ratio", "'21:9'", "16:9, 9:16, 1:1, 4:3, 3:4")
    one_problem(GenerationRequest(**{**base, "ratio": 16}), "ratio", "must be text")
    one_problem(GenerationRequest(**base, size="1280*720"), "size", "not used by wan2.7-t2v")
    one_problem(GenerationRequest(**base, shot_type="multi"), "shot_type", "not used by")
    one_problem(GenerationRequest(mode=Mode.T2V, model=T2V.model, prompt=""), "prompt", "required")


# ---- wan2.7-image(-pro) ---------------------------------------------------------------------------------------------


def test_4k_only_on_pro_text_to_image() -> None:
    assert build(image(size="4K")).body["parameters"]["size"] == "4K"
    one_problem(image("wan2.7-image", size="4K"), "size", "'4K'", "1K, 2K")
    one_problem(image(refs=1, size="4K"), "size", "'4K'")
    one_problem(image(size="4K", enable_sequential=True, n=4), "size", "image sets")


def test_image_counts_and_sets() -> None:
    one_problem(image(n=5), "n", "1-4")
    one_problem(image(n=13, enable_sequential=True), "n", "1-12")
    wire = build(image(n=12, enable_sequential=True))
    assert wire.body["parameters"]["n"] == 12 and wire.body["parameters"]["enable_sequential"] is True
    assert build(image(enable_sequential=True)).body["parameters"]["n"] == 4  # a set's default is sent explicitly
    assert build(image()).body["parameters"]["n"] == 1
    assert build(image(refs=9)).body["input"]["messages"][0]["content"][9] == {"image": "https://example.com/r8.png"}
    one_problem(image(refs=10), "images", "10 given", "at most 9")


def test_thinking_mode() -> None:
    assert build(image(thinking_mode=False)).body["parameters"]["thinking_mode"] is False
    assert "thinking_mode" not in build(image()).body["parameters"]  # the service's default (on) is left alone
    one_problem(image(thinking_mode=True, enable_sequential=True), "thinking_mode", "enable_sequential")
    one_problem(image(refs=1, thinking_mode=True), "thinking_mode", "not used by")


PALETTE = [
    {"hex": "#C2D1E6", "ratio": "23.51%"},
    {"hex": "#636574", "ratio": "50.00%"},
    {"hex": "#ffffff", "ratio": "26.49%"},
]


def test_color_palette() -> None:
    assert build(image(color_palette=PALETTE)).body["parameters"]["color_palette"] == PALETTE
    assert build(image(refs=2, color_palette=PALETTE))
    one_problem(image(color_palette=PALETTE[:2]), "color_palette", "2 colours", "3-10")
    one_problem(image(color_palette=PALETTE * 4), "color_palette", "12 colours")
    uneven = [*PALETTE[:2], {"hex": "#000000", "ratio": "10%"}]
    one_problem(image(color_palette=uneven), "color_palette", "83.51%", "100%")
    one_problem(image(color_palette=[{"hex": "red", "ratio": "50%"}, *PALETTE[1:]]), "color_palette[1]", "'#C2D1E6'")
    one_problem(image(color_palette=[{"hex": "#000000", "ratio": 50}, *PALETTE[1:]]), "color_palette[1]", "percentage")
    one_problem(image(color_palette=["#000000", *PALETTE[1:]]), "color_palette[1]")
    one_problem(image(color_palette=PALETTE, enable_sequential=True), "color_palette", "enable_sequential")
    one_problem(image(color_palette="warm"), "color_palette", "must be a list")


def test_bbox_list(tmp_path: Path) -> None:
    assert build(image(refs=2, bbox_list=[[], [[10, 20, 30, 40], [0, 0, 5, 5]]]))
    one_problem(image(refs=2, bbox_list=[[[1, 2, 3, 4]]]), "bbox_list", "1 entries for 2 images", "[] for an image")
    one_problem(image(refs=1, bbox_list=[[]]), "bbox_list", "marks no region")
    one_problem(image(refs=1, bbox_list=[[[30, 20, 10, 40]]]), "bbox_list[1]", "x1 < x2")
    one_problem(image(refs=1, bbox_list=[[[1, 2, 3]]]), "bbox_list[1]", "[x1, y1, x2, y2]")
    one_problem(image(refs=1, bbox_list=[[[1.5, 2, 3, 4]]]), "bbox_list[1]", "whole pixels")
    one_problem(image(refs=1, bbox_list=[[[-1, 2, 3, 4]]]), "bbox_list[1]")
    one_problem(image(refs=1, bbox_list=[[[1, 2, 3, 4]]], enable_sequential=True), "bbox_list", "enable_sequential")
    one_problem(image(bbox_list=[[[1, 2, 3, 4]]]), "bbox_list", "not used by")  # text-to-image has no image
    photo = tmp_path / "room.jpg"
    Image.new("RGB", (400, 300)).save(photo)
    req = image(refs=1, bbox_list=[[[100, 100, 401, 200]]])
    req.images = [str(photo)]
    one_problem(req, "bbox_list[1]", "outside image 1 (400x300 px)")
    req.bbox_list = [[[100, 100, 400, 300]]]
    assert validate(req) == []


def test_custom_sizes() -> None:
    assert build(image(size="1536x1024")).body["parameters"]["size"] == "1536*1024"
    one_problem(image(size="700*700"), "size", "between 768*768")
    one_problem(image("wan2.7-image", size="3000*1000"), "size")
    assert build(image(size="3840*2160"))  # pro text-to-image: up to 4096 a side
    one_problem(image(refs=1, size="3840*2160"), "size")


def test_named_size_is_a_budget_in_the_catalog() -> None:
    for row in CATALOG:
        if row.model.startswith("wan2.7-image"):
            assert row.default_size == "2K" and row.size is not None and "2K" in row.size.choices


@pytest.mark.parametrize("model", ["wan2.7-image-pro", "wan2.7-image", "qwen-image-2.0"])
def test_images_choose_the_edit_mode_of_a_model_that_does_both(model: str) -> None:
    """`images` (the CLI's --image) picks the edit row, like the skill's reference_images key does."""
    assert GenerationRequest.from_dict({"model": model, "prompt": "p", "images": [FRAME]}).mode is Mode.EDIT
    assert GenerationRequest.from_dict({"model": model, "prompt": "p"}).mode is Mode.T2I
