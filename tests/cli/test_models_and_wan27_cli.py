"""`qwentui models` (text and --json, from the catalog) and `qwentui submit` with the Wan 2.7 keys and flags,
against the simulator on loopback: a wan2.7-i2v continuation of a local clip, a wan2.7-image-pro edit with
two references and a region box, and the refusals (one clear line or a list of problems, never a traceback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwentui.cli import main
from qwentui.core.catalog import CATALOG, models
from qwentui.sim import BackgroundServer, SimConfig, running
from tests.core.clips import make_mp4

KEY = "sk-wan27cli000000000000000000000000"


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with running(SimConfig(pending_seconds=0.05, running_seconds=0.1, seed=5, task_query_qps=None)) as srv:
        yield srv


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("QWEN_API_KEY", "QWEN_BASE_URL", "QWEN_REGION", "QWENTUI_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def qwentui(env: Path, server: BackgroundServer | None, *args: str) -> int:
    base = ["--db", str(env / "jobs.db"), "--output", str(env / "out"), "--time-scale", "0.01"]
    if server is not None:
        base += ["--base-url", server.base_url]
    return main([*base, *args])


def printed_json(out: str) -> Any:
    return json.loads(
        out[out.index("{") :] if out.lstrip().startswith("{") or "[" not in out else out[out.index("[") :]
    )


# ---- qwentui models -------------------------------------------------------------------------------------------


def test_models_lists_every_model_and_mode(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert qwentui(env, None, "models") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for model in models():
        assert model in lines, model
    assert "media combinations: first frame; first frame + driving audio" in " ".join(out.split())
    assert "ratio: 16:9, 9:16, 1:1, 4:3, 3:4 (default 16:9)" in out
    assert "Traceback" not in out


def test_models_json_has_one_entry_per_row(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert qwentui(env, None, "models", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["model"], d["mode"]) for d in data] == [(r.model, r.mode.value) for r in CATALOG]
    i2v = next(d for d in data if d["model"] == "wan2.7-i2v")
    assert ["first_clip", "last_frame"] in i2v["media_combinations"]
    assert {m["type"] for m in i2v["media"]} == {"first_frame", "last_frame", "first_clip", "driving_audio"}
    clip = next(m for m in i2v["media"] if m["type"] == "first_clip")["clip"]
    assert (clip["min_seconds"], clip["max_seconds"], clip["formats"]) == (2, 10, ["mp4", "mov"])
    pro = next(d for d in data if d["model"] == "wan2.7-image-pro" and d["mode"] == "t2i")
    assert "4K" in pro["size"]["choices"] and "4K" not in pro["image_sets"]["size"]["choices"]
    assert pro["image_sets"]["n"] == {"min": 1, "max": 12, "default": 4}
    assert all(d["price"]["currency"] == "USD" and d["price"]["prices"] for d in data)  # from core/prices.toml


def test_models_filters(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert qwentui(env, None, "models", "wan2.7-image", "--mode", "edit", "--json") == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert (only["model"], only["mode"], only["images"]["max_count"]) == ("wan2.7-image", "edit", 9)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("nope",), "unknown model 'nope'"),
        (("--mode", "x2y"), "unknown mode 'x2y'"),
        (("wan2.7-t2v", "--mode", "t2i"), "does not do t2i"),
    ],
)
def test_models_errors(env: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str) -> None:
    assert qwentui(env, None, "models", *args) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("qwentui: error:")]
    assert fragment in line and "Traceback" not in err


# ---- qwentui submit with wan2.7 ---------------------------------------------------------------------------------


def test_submit_json_continues_a_local_clip(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_mp4(env / "start.mp4", 3)
    request = json.dumps(
        {"model": "wan2.7-i2v", "prompt": "the wave breaks", "first_clip_url": str(clip), "duration": 2}
    )
    assert qwentui(env, server, "submit", "--json", request, "--wait", "--print-json") == 0
    data = printed_json(capsys.readouterr().out)
    assert data["state"] == "done" and data["files"][0].endswith(".mp4")
    (task,) = server.sim.find_tasks(prompt="the wave breaks")
    body: Any = task.body
    (item,) = body["input"]["media"]
    assert item["type"] == "first_clip" and item["url"].startswith("oss://") and item["url"].endswith("start.mp4")
    assert task.job.input_video_seconds == 3  # the uploaded clip was measured (usage.input_video_duration)


def test_submit_flags_image_pro_edit_with_a_region(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "submit",
        "put the clock on the wall",
        "--model",
        "wan2.7-image-pro",
        "--image",
        "https://example.com/clock.jpg",
        "--image",
        "https://example.com/room.png",
        "--bbox-list",
        "[[], [[10, 20, 300, 400]]]",
        "--color-palette",
        '[{"hex": "#112233", "ratio": "50%"}, {"hex": "#445566", "ratio": "30%"}, {"hex": "#778899", "ratio": "20%"}]',
        "--wait",
        "--print-json",
    ]
    assert qwentui(env, server, *args) == 0
    data = printed_json(capsys.readouterr().out)
    assert data["state"] == "done" and len(data["files"]) == 1
    (task,) = server.sim.find_tasks(prompt="put the clock on the wall")
    body: Any = task.body
    params = body["parameters"]
    assert params["bbox_list"] == [[], [[10, 20, 300, 400]]] and params["enable_sequential"] is False
    assert len(params["color_palette"]) == 3


def test_submit_flags_t2v_ratio_and_an_image_set(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        qwentui(
            env, server, "submit", "a tall tower", "--model", "wan2.7-t2v", "--ratio", "9:16", "--resolution", "720P"
        )
        == 0
    )
    assert (
        qwentui(
            env, server, "submit", "four seasons", "--model", "wan2.7-image", "--enable-sequential", "true", "--n", "4"
        )
        == 0
    )
    capsys.readouterr()
    (video,) = server.sim.find_tasks(prompt="a tall tower")
    video_body: Any = video.body
    assert video_body["parameters"]["ratio"] == "9:16" and (video.job.width, video.job.height) == (720, 1280)
    (images,) = server.sim.find_tasks(prompt="four seasons")
    images_body: Any = images.body
    assert images_body["parameters"]["enable_sequential"] is True and images.job.n == 4


def test_submit_refuses_a_forbidden_combination_and_sends_nothing(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(server.sim.submissions)
    code = qwentui(
        env,
        server,
        "submit",
        "--first-clip",
        "https://example.com/c.mp4",
        "--driving-audio",
        "https://example.com/a.mp3",
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "media: first clip + driving audio is not a combination wan2.7-i2v takes" in err
    assert "Traceback" not in err and len(server.sim.submissions) == before


def test_submit_bad_json_flag(env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert qwentui(env, server, "submit", "x", "--model", "wan2.7-image", "--bbox-list", "[[1,") == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("qwentui: error:")]
    assert "--bbox-list is not valid JSON" in line
