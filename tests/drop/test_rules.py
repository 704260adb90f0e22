"""Rules from settings.toml: defaults, a full example, and a clear error for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import RuleError, load_settings

EXAMPLE = """
[drop]
quiet = 2
rescan = 120
poll = 5

[[drop.rules]]
name = "animate"
mode = "i2v"
model = "wan2.6-i2v"
prompt = "slow push-in"
outputs = "copy"
parameters = { duration = 10, resolution = "1080P" }

[[drop.rules]]
name = "frames"
folder = "/srv/frames"
mode = "kf2v"
enabled = false
"""


def test_no_settings_file_gives_the_two_default_rules(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.toml", tmp_path / "drop")
    assert [(r.name, r.mode, r.model, r.folder) for r in settings.rules] == [
        ("animate", Mode.I2V, "wan2.6-i2v-flash", tmp_path / "drop" / "animate"),
        ("edit", Mode.EDIT, "wan2.6-image", tmp_path / "drop" / "edit"),
    ]
    assert all(r.prompt and r.enabled and r.outputs == "link" for r in settings.rules)
    assert (settings.quiet, settings.poll) == (1.0, 0.0)


def test_a_full_example(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, EXAMPLE), tmp_path / "drop")
    animate, frames = settings.rules
    assert animate.folder == tmp_path / "drop" / "animate" and animate.model == "wan2.6-i2v"
    assert animate.parameters == {"duration": 10, "resolution": "1080P"} and animate.outputs == "copy"
    assert frames.folder == Path("/srv/frames") and frames.model == "wan2.2-kf2v-flash" and not frames.enabled
    assert (settings.quiet, settings.rescan, settings.poll) == (2.0, 120.0, 5.0)


def test_a_root_override_moves_relative_folders(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, f'[drop]\nroot = "{tmp_path / "inbox"}"\n'), tmp_path / "drop")
    assert settings.rules[0].folder == tmp_path / "inbox" / "animate"


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ('name = "x"\nmode = "t2i"', "takes no dropped image"),
        ('name = "x"\nmode = "fly"', "mode must be one of i2v, edit, i2i, kf2v"),
        ('name = "x"\nmode = "i2v"\nmodel = "wan2.6-image"', "does not do i2v"),
        ('name = "x"\nmode = "i2v"\nmodel = "nope"', "unknown model"),
        ('name = "x"\nmode = "i2v"\nparameters = { duration = 99 }', "duration"),
        ('name = "x"\nmode = "i2v"\nparameters = { colour = "red" }', "colour is not a parameter"),
        ('name = "x"\nmode = "i2v"\nparameters = { images = ["a.png"] }', "images is not a parameter"),
        ('name = "x"\nmode = "i2v"\noutputs = "move"', "outputs must be one of link, copy, none"),
        ('name = "x"\nmode = "i2v"\ncolour = 1', "unknown key(s) colour"),
        ('name = "../up"\nmode = "i2v"', "name must be letters"),
        ('name = "x"\nmode = "i2v"\nenabled = "yes"', "enabled must be true or false"),
    ],
)
def test_mistakes_name_the_rule_and_the_fix(tmp_path: Path, rule: str, words: str) -> None:
    with pytest.raises(RuleError) as err:
        load_settings(_write(tmp_path, f"[[drop.rules]]\n{rule}\n"), tmp_path / "drop")
    assert words in str(err.value)
    assert "drop.rules[1]" in str(err.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[drop\n", "not valid TOML"),
        ("[drop]\nquiet = -1\n", "quiet must be a number of seconds"),
        ("[drop]\nspeed = 1\n", "unknown key(s) speed"),
        ('[[drop.rules]]\nname = "a"\nmode = "i2v"\n[[drop.rules]]\nname = "a"\nmode = "edit"\n', "two drop rules"),
        (
            '[[drop.rules]]\nname = "a"\nmode = "i2v"\nfolder = "x"\n[[drop.rules]]\nname = "b"\nmode = "edit"\n'
            'folder = "x"\n',
            "watch the same folder",
        ),
    ],
)
def test_settings_mistakes(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(RuleError) as err:
        load_settings(_write(tmp_path, text), tmp_path / "drop")
    assert words in str(err.value)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path
