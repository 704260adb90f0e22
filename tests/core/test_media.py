"""Media probing and previews on real files made in tmp_path: PNGs by Pillow, H.264 (+AAC) MP4s by PyAV."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest
from PIL import Image

from qwentui.core import media
from qwentui.core.media import MediaError, MediaInfo, describe, probe, thumbnail, video_frame

W, H, FPS, FRAMES = 320, 240, 24, 10


def frame_colour(i: int) -> tuple[int, int, int]:
    """A distinct flat colour per frame, so a decoded frame tells which one it is (H.264 is lossy, roughly)."""
    return (i * 25, 255 - i * 25, 0)


def make_mp4(path: Path, *, audio: bool = False) -> Path:
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        sound = container.add_stream("aac", rate=44100) if audio else None  # streams before the first packet
        if sound is not None:
            sound.layout = "mono"
        for i in range(FRAMES):
            frame = av.VideoFrame.from_image(Image.new("RGB", (W, H), frame_colour(i)))
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            for i in range(10):
                samples = av.AudioFrame(format="fltp", layout="mono", samples=1024)
                for plane in samples.planes:
                    plane.update(bytes(plane.buffer_size))  # silence
                samples.sample_rate, samples.pts = 44100, i * 1024
                container.mux(sound.encode(samples))
            container.mux(sound.encode(None))
    return path


def close_to(pixel: object, colour: tuple[int, int, int], tolerance: int = 30) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


@pytest.fixture
def mp4(tmp_path: Path) -> Path:
    return make_mp4(tmp_path / "job_1.mp4")


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "job_1.png"
    Image.new("RGB", (640, 480), (10, 20, 30)).save(path)
    return path


def test_probe_png(png: Path) -> None:
    info = probe(png)
    assert (info.kind, info.format, info.width, info.height, info.error) == ("image", "PNG", 640, 480, None)
    assert info.size_bytes == png.stat().st_size
    assert describe(info) == "640x480 PNG"


def test_probe_video(mp4: Path) -> None:
    info = probe(mp4)
    assert info.error is None
    assert (info.kind, info.format, info.width, info.height) == ("video", "MP4", W, H)
    assert info.codec == "h264" and info.fps == FPS and info.frames == FRAMES
    assert info.duration == pytest.approx(FRAMES / FPS, abs=0.05)
    assert not info.has_audio and info.audio_codec is None
    assert describe(info) == "320x240 · 0.4 s · 24 fps · h264 · no audio"


def test_probe_video_with_audio(tmp_path: Path) -> None:
    info = probe(make_mp4(tmp_path / "talk.mp4", audio=True))
    assert info.error is None
    assert info.has_audio and info.audio_codec == "aac"
    assert info.duration == pytest.approx(FRAMES / FPS, abs=0.05)  # the video's length, not the audio's
    assert describe(info).endswith("h264 · audio aac")


def test_probe_text(tmp_path: Path) -> None:
    path = tmp_path / "job_1.md"
    path.write_text("# result\n" * 200)
    info = probe(path)
    assert (info.kind, info.format, info.error) == ("text", "MD", None)
    assert describe(info) == "MD text · 1.8 KB"


def test_probe_sniffs_unknown_suffix(mp4: Path, png: Path, tmp_path: Path) -> None:
    assert probe(png.rename(tmp_path / "picture.bin")).kind == "image"
    assert probe(mp4.rename(tmp_path / "clip.bin")).kind == "video"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00garbage" * 100)
    assert probe(junk).error == "not an image or a video qwentui can read"


def broken_files(tmp_path: Path, mp4: Path) -> dict[str, Path]:
    data = mp4.read_bytes()
    files = {
        "truncated.mp4": data[: len(data) // 2],
        "text.mp4": b"this is a text file with a video name\n" * 20,
        "empty.mp4": b"",
        "truncated.png": b"",
    }
    png = tmp_path / "source.png"
    Image.new("RGB", (200, 200), (1, 2, 3)).save(png)
    files["truncated.png"] = png.read_bytes()[:-40]
    paths = {}
    for name, body in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(body)
    return paths


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.mp4", media.NOT_A_VIDEO),
        ("text.mp4", media.NOT_A_VIDEO),
        ("empty.mp4", "the file is empty (0 bytes)"),
        ("truncated.png", "the image is truncated (incomplete file)"),
    ],
)
def test_broken_files_give_clear_errors(tmp_path: Path, mp4: Path, name: str, reason: str) -> None:
    path = broken_files(tmp_path, mp4)[name]
    info = probe(path)
    assert info.error == reason
    assert describe(info) == f"unreadable: {reason}"
    with pytest.raises(MediaError):
        thumbnail(path, 64, 64)
    if name.endswith(".mp4"):
        with pytest.raises(MediaError):
            video_frame(path)


def test_missing_file(tmp_path: Path) -> None:
    assert (probe(tmp_path / "gone.mp4").error or "").startswith("cannot read the file")
    with pytest.raises(MediaError):
        thumbnail(tmp_path / "gone.png", 10, 10)
    with pytest.raises(MediaError):
        video_frame(tmp_path / "gone.mp4")


def test_video_frame_first_and_seek(mp4: Path) -> None:
    first = video_frame(mp4)
    assert first.size == (W, H) and first.mode == "RGB"
    assert close_to(first.getpixel((W // 2, H // 2)), frame_colour(0))
    # 0.3 s at 24 fps is frame 7 (shown from 0.2917 s to 0.3333 s)
    assert close_to(video_frame(mp4, 0.3).getpixel((W // 2, H // 2)), frame_colour(7))
    # past the end: the last frame
    assert close_to(video_frame(mp4, 60.0).getpixel((W // 2, H // 2)), frame_colour(FRAMES - 1))


def test_thumbnail_fits_and_is_cached(png: Path, mp4: Path) -> None:
    image_thumb = thumbnail(png, 100, 100)
    assert image_thumb.size == (100, 75)
    video_thumb = thumbnail(mp4, 160, 160)
    assert video_thumb.size == (160, 120)

    hits = media._cached_thumbnail.cache_info().hits
    again = thumbnail(png, 100, 100)
    assert media._cached_thumbnail.cache_info().hits == hits + 1
    assert again.tobytes() == image_thumb.tobytes()
    again.paste((255, 0, 0), (0, 0, 100, 75))  # a caller scribbling on its copy leaves the cache intact
    assert thumbnail(png, 100, 100).tobytes() == image_thumb.tobytes()


def test_thumbnail_rereads_a_changed_file(png: Path) -> None:
    before = thumbnail(png, 50, 50)
    Image.new("RGB", (640, 480), (200, 100, 0)).save(png)
    stat = png.stat()
    os.utime(png, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new mtime even on coarse clocks
    after = thumbnail(png, 50, 50)
    assert before.getpixel((0, 0)) != after.getpixel((0, 0))


def test_thumbnail_of_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job_1.json"
    path.write_text("{}")
    with pytest.raises(MediaError, match="text"):
        thumbnail(path, 10, 10)


def test_describe_rounds_fps() -> None:
    info = MediaInfo(
        kind="video",
        width=1280,
        height=720,
        duration=5.0,
        fps=24000 / 1001,
        codec="h264",
        has_audio=True,
        audio_codec="aac",
    )
    assert describe(info) == "1280x720 · 5.0 s · 23.98 fps · h264 · audio aac"
    assert describe(MediaInfo(kind="image", format="PNG", width=1280, height=1280)) == "1280x1280 PNG"
