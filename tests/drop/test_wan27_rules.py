"""Drop-folder rules for Wan 2.7: an i2v rule sends the dropped image as `media[]`'s first frame; a pair rule
(`NAME_first.*` + `NAME_last.*`, mode kf2v, model wan2.7-i2v) sends both as first + last frame in one i2v
request. Real PNG files, a real store and engine, the simulator in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import load_settings
from qwentui.core.dropfolder.rules import RuleError, parse_rule, rule_request
from qwentui.core.requests import validate
from tests.drop.conftest import World
from tests.drop.helpers import names, submitted_shas, wait_until, write_png


def media_of(world: World, index: int = -1) -> list[dict[str, str]]:
    submission = [s for s in world.sim.submissions if s.created_task][index]
    assert submission.body["model"] == "wan2.7-i2v"
    media = submission.body["input"]["media"]
    assert isinstance(media, list)
    return media


def sha_of(world: World, url: str) -> str:
    upload = world.sim.uploads.get(url)
    assert upload is not None, f"{url} was not uploaded"
    return upload.sha256


async def test_a_pair_goes_as_first_and_last_frame_in_media(world: World) -> None:
    rule = world.rule("pairs", Mode.KF2V, "wan2.7-i2v", "the day turns to night")
    await world.service([rule])
    first = write_png(rule.folder / "dusk_first.png", (250, 200, 60))
    last = write_png(rule.folder / "dusk_last.png", (10, 10, 60))
    (rule.folder / "dusk.txt").write_text("the sun sets over the bay", encoding="utf-8")  # the pair's sidecar
    await wait_until(
        lambda: {"dusk_first.png", "dusk_last.png", "dusk.result.mp4"} <= names(rule.folder / "done"), what="pair done"
    )
    media = media_of(world)
    assert [m["type"] for m in media] == ["first_frame", "last_frame"]
    assert [sha_of(world, m["url"]) for m in media] == [first, last]
    assert submitted_shas(world.sim) == {first: 1, last: 1}
    submission = [s for s in world.sim.submissions if s.created_task][-1]
    assert submission.body["input"]["prompt"] == "the sun sets over the bay"
    assert "first_frame_url" not in submission.body["input"] and "img_url" not in submission.body["input"]


async def test_an_i2v_rule_sends_its_image_as_the_first_frame(world: World) -> None:
    rule = world.rule("wan27", Mode.I2V, "wan2.7-i2v", "waves roll in", parameters={"resolution": "720P"})
    await world.service([rule])
    sent = write_png(rule.folder / "shore.png", (30, 120, 200))
    await wait_until(lambda: "shore.result.mp4" in names(rule.folder / "done"), what="shore done")
    [frame] = media_of(world)
    assert frame["type"] == "first_frame" and sha_of(world, frame["url"]) == sent


async def test_a_frame_outside_the_wan27_limits_fails_with_the_reason(world: World) -> None:
    rule = world.rule("wan27", Mode.I2V, "wan2.7-i2v", "waves roll in")
    await world.service([rule])
    write_png(rule.folder / "tiny.png", (30, 120, 200), size=(100, 100))  # wan2.7 frames: 240 px a side at least
    await wait_until(lambda: "tiny.png.reason.txt" in names(rule.folder / "failed"), what="tiny refused")
    reason = (rule.folder / "failed" / "tiny.png.reason.txt").read_text()
    assert "100x100" in reason and "wan2.7-i2v" in reason
    assert not world.sim.submissions


def test_rules_from_the_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[[drop.rules]]\nname = "frames27"\nmode = "kf2v"\nmodel = "wan2.7-i2v"\nprompt = "morph"\n'
        'parameters = { duration = 4, resolution = "720P" }\n'
        '[[drop.rules]]\nname = "animate27"\nmode = "i2v"\nmodel = "wan2.7-i2v"\n',
        encoding="utf-8",
    )
    pair, single = load_settings(settings, tmp_path / "drop").rules
    assert pair.images_per_job == 2 and pair.media_row is not None and single.images_per_job == 1
    request = rule_request(pair, ["a.png", "b.png"], prompt="morph", params=pair.parameters)
    assert request.mode is Mode.I2V and request.images == [] and request.duration == 4
    assert request.media == [{"type": "first_frame", "url": "a.png"}, {"type": "last_frame", "url": "b.png"}]
    assert not list(validate(rule_request(pair, ["oss://x/a.png", "oss://x/b.png"], prompt="m", params={}), False))


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"name": "p", "mode": "kf2v", "model": "wan2.7-t2v"}, "does not do kf2v"),  # no frames at all
        ({"name": "p", "mode": "kf2v", "model": "wan2.7-i2v", "parameters": {"duration": 99}}, "duration"),
        ({"name": "p", "mode": "i2v", "model": "wan2.7-i2v", "parameters": {"media": []}}, "media is not a parameter"),
    ],
)
def test_bad_wan27_rules_are_refused_with_the_rule_named(tmp_path: Path, item: dict[str, object], words: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(item, tmp_path, "drop.rules[1] ('p')")
    assert "drop.rules[1] ('p')" in str(caught.value) and words in str(caught.value)


def test_alpha_frames_are_checked_like_any_other_frame(tmp_path: Path) -> None:
    """A PNG with alpha meets the drop folder's file check; the request's own validation decides (the catalog
    says wan2.7 frames take no alpha)."""
    rule = parse_rule({"name": "p", "mode": "i2v", "model": "wan2.7-i2v"}, tmp_path)
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (300, 300), (10, 20, 30, 128)).save(path)
    problems = [str(p) for p in validate(rule_request(rule, [str(path)], prompt="x", params={}), True)]
    assert problems and "alpha" in " ".join(problems)
