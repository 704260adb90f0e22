"""The pieces on their own, with real files: names, stability, image checks, sidecars, claims, mounts, the CLI."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from qwentui.cli import drop as drop_cli
from qwentui.cli.context import add_common_options
from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import Rule
from qwentui.core.dropfolder.claims import claim, ensure_folders, processing_groups, settle
from qwentui.core.dropfolder.sidecar import SidecarError, build_request, read_overrides
from qwentui.core.dropfolder.stability import Kind, StabilityTracker, check_image, classify, signature
from qwentui.core.dropfolder.watcher import network_filesystem, scan
from tests.drop.helpers import bomb_png, png_bytes, write_png


def rule_at(tmp_path: Path, mode: Mode = Mode.I2V, model: str = "wan2.6-i2v-flash") -> Rule:
    return Rule("r", tmp_path / "r", mode, model, "p")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cat.png", Kind.IMAGE),
        ("CAT.JPEG", Kind.IMAGE),
        ("x.webp", Kind.IMAGE),
        ("cat.txt", Kind.SIDECAR),
        ("cat.json", Kind.SIDECAR),
        ("cat.pdf", Kind.OTHER),
        ("README", Kind.OTHER),
        ("cat.png.part", Kind.IGNORE),
        ("cat.png.crdownload", Kind.IGNORE),
        ("cat.tmp", Kind.IGNORE),
        ("~$cat.png", Kind.IGNORE),
        (".cat.png", Kind.IGNORE),
        (".DS_Store", Kind.IGNORE),
        ("cat.png~", Kind.IGNORE),
        ("Thumbs.db", Kind.IGNORE),
        ("cat.sync-conflict-20240101.png", Kind.IGNORE),
        (".processing", Kind.IGNORE),
    ],
)
def test_names(name: str, kind: Kind) -> None:
    assert classify(name) is kind


def test_stable_only_after_two_equal_looks_a_quiet_period_apart(tmp_path: Path) -> None:
    now = [100.0]
    tracker = StabilityTracker(quiet=1.0, clock=lambda: now[0])
    path = tmp_path / "a.png"
    path.write_bytes(b"1")
    assert not tracker.look(path, signature([path]))  # first look: nothing to compare with
    now[0] += 2
    path.write_bytes(b"12")  # it grew
    assert not tracker.look(path, signature([path]))
    now[0] += 0.5
    assert not tracker.look(path, signature([path]))  # unchanged, but not quiet long enough
    now[0] += 0.6
    assert tracker.look(path, signature([path]))
    tracker.touch(path)  # an event restarts the quiet period
    assert not tracker.look(path, signature([path]))
    path.unlink()
    assert signature([path]) is None


def test_image_verdicts(tmp_path: Path) -> None:
    rule = rule_at(tmp_path)
    good = png_bytes()
    cases = {
        "ok.png": good,
        "empty.png": b"",
        "cut.png": good[:200],
        "text.png": b"hello, world, not an image",
        "bomb.png": bomb_png(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    write_png(tmp_path / "small.png", size=(100, 100))
    assert check_image(tmp_path / "ok.png", rule).ok
    assert check_image(tmp_path / "empty.png", rule).unfinished  # may still be arriving
    assert check_image(tmp_path / "cut.png", rule).unfinished
    text = check_image(tmp_path / "text.png", rule)
    assert not text.ok and not text.unfinished  # never becomes an image
    bomb = check_image(tmp_path / "bomb.png", rule)
    assert "bomb" in (bomb.reason or "") and not bomb.unfinished
    assert "360-2000 px" in (check_image(tmp_path / "small.png", rule).reason or "")
    edit = rule_at(tmp_path, Mode.EDIT, "wan2.6-image")  # 240 px is enough for the edit model
    assert (
        check_image(tmp_path / "small.png", edit).reason == "it is 100x100 px; each side must be 240-8000 px "
        "for wan2.6-image"
    )
    big = tmp_path / "big.png"
    big.write_bytes(good + b"\0" * (11 * 1024 * 1024))
    assert "at most 10 MB" in (check_image(big, rule).reason or "")


def test_sidecars(tmp_path: Path) -> None:
    rule = rule_at(tmp_path)
    (tmp_path / "a.txt").write_text("\ufeff  a sunny day \n")
    (tmp_path / "a.json").write_text(json.dumps({"parameters": {"duration": 8}, "seed": 1, "model": "wan2.6-i2v"}))
    over = read_overrides([tmp_path / "a.txt", tmp_path / "a.json"])
    req = build_request(rule, ["x.png"], over)
    assert (req.prompt, req.duration, req.seed, req.model) == ("a sunny day", 8, 1, "wan2.6-i2v")
    for text, words in [
        ("[1, 2]", "JSON object"),
        ("{nope", "not valid JSON"),
        ('{"mode": "t2v"}', "unknown key"),
        ('{"prompt": 3}', "must be a string"),
    ]:
        (tmp_path / "b.json").write_text(text)
        with pytest.raises(SidecarError, match=words):
            read_overrides([tmp_path / "b.json"])
    (tmp_path / "c.txt").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(SidecarError, match="not UTF-8"):
        read_overrides([tmp_path / "c.txt"])


def test_claims_group_again_after_a_restart_and_never_overwrite(tmp_path: Path) -> None:
    rule = rule_at(tmp_path, Mode.KF2V, "wan2.2-kf2v-flash")
    ensure_folders(rule)
    write_png(rule.folder / "x_last.png")
    write_png(rule.folder / "x_first.png", (1, 2, 3))
    (rule.folder / "x.txt").write_text("morph")
    made = claim(rule, "x", [rule.folder / "x_first.png", rule.folder / "x_last.png"], [rule.folder / "x.txt"])
    assert not (rule.folder / "x_first.png").exists()
    (again,) = processing_groups(rule)
    assert again.token == made.token and again.stem == "x"
    assert [p.name.split("__")[1] for p in again.images] == ["x_first.png", "x_last.png"]  # first frame first
    assert [p.name.split("__")[1] for p in again.sidecars] == ["x.txt"]
    (rule.folder / "failed" / "x_first.png").write_text("someone else's")
    moved = settle(again, "failed", "because")
    assert sorted(p.name for p in moved.values()) == ["x (1).txt", "x (1)_first.png", "x (1)_last.png"]
    assert (rule.folder / "failed" / "x (1).reason.txt").read_text() == "because.\n"
    assert (rule.folder / "failed" / "x_first.png").read_text() == "someone else's"


def test_scan_takes_direct_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.png").write_bytes(b"x")
    (tmp_path / "top.png").write_bytes(b"x")
    (tmp_path / "top.png.part").write_bytes(b"x")
    os.symlink(tmp_path / "sub", tmp_path / "linkdir")
    assert scan([tmp_path]) == {tmp_path / "top.png", tmp_path / "linkdir"}  # a link is judged (and refused) later


def test_network_mounts_are_recognised(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\nserver:/share /mnt/nas nfs4 rw 0 0\n"
        "//pc/pics /mnt/smb\\040pics cifs rw 0 0\nsshfs#me@h: /mnt/ssh fuse.sshfs rw 0 0\n"
    )
    assert network_filesystem(Path("/mnt/nas/drop"), mounts) == "nfs4"
    assert network_filesystem(Path("/mnt/smb pics/x"), mounts) == "cifs"
    assert network_filesystem(Path("/mnt/ssh"), mounts) == "fuse.sshfs"
    assert network_filesystem(Path("/home/me"), mounts) is None


async def test_cli_lists_rules_and_init_creates_the_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path))
    monkeypatch.delenv("QWENTUI_DROP", raising=False)
    monkeypatch.delenv("QWENTUI_SETTINGS", raising=False)
    parser = argparse.ArgumentParser()
    add_common_options(parser)
    drop_cli.add_parser(parser.add_subparsers())
    assert await drop_cli.run(parser.parse_args(["drop"])) == 0
    out = capsys.readouterr().out
    assert "animate" in out and "missing" in out and "qwentui drop --init" in out
    assert await drop_cli.run(parser.parse_args(["drop", "--init"])) == 0
    for sub in (".processing", "done", "failed", "duplicates"):
        assert (tmp_path / "drop" / "animate" / sub).is_dir()
    write_png(tmp_path / "drop" / "edit" / "waiting.png")
    capsys.readouterr()
    assert await drop_cli.run(parser.parse_args(["drop", "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    edit = next(r for r in data["rules"] if r["name"] == "edit")
    assert edit["counts"]["waiting"] == 1 and edit["exists"] and data["watched_by_pid"] is None
