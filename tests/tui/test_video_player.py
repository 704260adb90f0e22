"""Video in the preview: space plays the selected video at a low frame rate (successive frames drawn), space
pauses it, and space again goes on from the frame it stopped at."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from qwentui.core.states import JobState
from qwentui.runtime import Context
from qwentui.tui import opener
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.widgets.image_view import HalfBlockImage
from qwentui.tui.widgets.video_player import VideoPlayer, sampled_frames
from tests.core.test_assemble import make_clip
from tests.tui.conftest import main_screen, wait_until
from tests.tui.test_gallery import sixel


def test_frames_are_sampled_at_the_rate_asked(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", 20, fps=10)  # 2 s
    times = [at for at, _ in sampled_frames(clip, 2.0)]
    assert times == [0.0, 0.5, 1.0, 1.5]


async def test_space_plays_the_video_and_pauses_it(app: QwenApp, context: Context, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", 60, fps=10)  # each frame a different grey
    store = context.store
    job = await store.add_job(
        {"mode": "t2v", "model": "wan2.6-t2v", "prompt": "a clip"}, state=JobState.DONE, source="cli"
    )
    await store.add_asset(job.id, 1, "video", path=clip)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "MainScreen", what="the main screen")
        screen = main_screen(app)
        await wait_until(pilot, lambda: screen.preview.current is not None, what="the video in the preview")
        await pilot.press("space")
        await wait_until(pilot, lambda: bool(screen.preview.query(VideoPlayer)), what="the player")
        player = screen.preview.query_one(VideoPlayer)
        picture = player.query_one(HalfBlockImage)
        greys: list[int] = []

        def new_frame() -> bool:
            if picture.image is None:
                return False
            grey = picture.image.convert("L").getpixel((0, 0))
            assert isinstance(grey, int)
            if not greys or greys[-1] != grey:
                greys.append(grey)
            return len(greys) >= 3

        await wait_until(pilot, new_frame, what="three successive frames")
        assert greys[0] < greys[1] < greys[2]  # the clip's frames get lighter: they are shown in order
        await pilot.press("space")
        assert player.paused
        paused_at, shown = player.position, player.frames_shown
        await wait_until(pilot, lambda: "paused" in str(player.query_one("#video-state").render()), what="paused")
        assert (player.position, player.frames_shown) == (paused_at, shown)
        await pilot.press("space")
        await wait_until(pilot, lambda: player.frames_shown > shown, what="playing again")
        assert player.position > paused_at  # it goes on, not from the start


def test_a_video_opens_in_mpv_when_it_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = make_clip(tmp_path / "c.mp4", 2, fps=10)
    started: list[list[str]] = []
    monkeypatch.setattr(opener.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(opener.sys, "platform", "linux")
    monkeypatch.setattr(opener.subprocess, "Popen", lambda args, **kw: started.append(args))
    assert opener.open_in_system(clip) is None
    assert opener.open_in_system(tmp_path) is None  # a folder: the file manager
    assert started == [["/usr/bin/mpv", "--really-quiet", str(clip)], ["/usr/bin/xdg-open", str(tmp_path)]]


class _PlayerApp(App[None]):
    def __init__(self, player: VideoPlayer) -> None:
        super().__init__()
        self.player = player

    def compose(self) -> ComposeResult:
        yield self.player


@pytest.mark.parametrize("graphics", [False, True], ids=["halfblock", "sixel"])
async def test_the_player_plays_on_in_either_renderer_and_stops_quietly_when_taken_down(
    tmp_path: Path, graphics: bool
) -> None:
    """A graphics picture replaces the player's placeholder after the first frame (the next frame's size was
    asked of the placeholder, gone by then); and a player taken down mid-frame ends without an error."""
    clip = make_clip(tmp_path / "clip.mp4", 30, fps=10)
    player = VideoPlayer(clip, sixel() if graphics else HALFBLOCK, fps=20.0)
    app = _PlayerApp(player)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_until(pilot, lambda: player.frames_shown >= 3, what="three frames")
        await player.remove()
        await pilot.pause()
    assert app._exception is None
