"""Assemble: real MP4s made with PyAV here, put together into one film whose length is the sum of its clips
(within a frame), whose every frame decodes, with sound from a file (looped or cut) or from the clips; the
film is a finished job of its own kind that the engine never sends, with its clips in its lineage."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import ImageStat

from qwentui.core.assemble import LOCAL_MODEL, AssembleError, NoVideo, assemble, assemble_jobs
from qwentui.core.catalog import Mode
from qwentui.core.engine import Engine
from qwentui.core.requests import GenerationRequest, InvalidRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from tests.core.clips import make_wav
from tests.helpers.engine import engine_rounds
from tests.helpers.sim import SimHarness


def make_clip(
    path: Path, frames: int, size: tuple[int, int] = (160, 120), fps: int = 10, sound: bool = False, shade: int = 0
) -> Path:
    """An H.264 MP4 of `frames` frames, each a different grey (so frames can be told apart), with a tone when
    `sound`."""
    width, height = size
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=48000) if sound else None
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(bytes([(shade + 20 * i) % 236 + 16]) * frame.planes[0].buffer_size)
            for plane in frame.planes[1:]:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            samples = round(frames / fps * 48000)
            for start in range(0, samples, 1024):
                n = min(1024, samples - start)
                tone = bytearray()
                for k in range(n):
                    v = int(8000 * math.sin(2 * math.pi * 440 * (start + k) / 48000))
                    tone += v.to_bytes(2, "little", signed=True) * 2
                sound_frame = av.AudioFrame(format="s16", layout="stereo", samples=n)
                sound_frame.planes[0].update(bytes(tone))
                sound_frame.sample_rate, sound_frame.pts = 48000, start
                sound_frame.time_base = Fraction(1, 48000)
                out.mux(audio.encode(sound_frame))
            out.mux(audio.encode(None))
    return path


def decode_all(path: Path) -> tuple[int, float, float | None, tuple[int, int]]:
    """(frames decoded, video duration, audio duration or None, size), decoding every frame and sample."""
    with av.open(str(path)) as inp:
        video = inp.streams.video[0]
        frames = sum(1 for _ in inp.decode(video))
        rate = video.average_rate
        size = (video.codec_context.width, video.codec_context.height)
    audio_seconds = None
    with av.open(str(path)) as inp:
        if inp.streams.audio:
            stream = inp.streams.audio[0]
            samples = sum(f.samples for f in inp.decode(stream))
            audio_seconds = samples / stream.rate
    assert rate
    return frames, frames / float(rate), audio_seconds, size


def test_the_film_lasts_as_long_as_its_clips_and_every_frame_decodes(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", 30, (160, 120), fps=10)  # 3.0 s
    b = make_clip(tmp_path / "b.mp4", 10, (320, 240), fps=5)  # 2.0 s, another rate and size (same shape)
    c = make_clip(tmp_path / "c.mp4", 25, (120, 120), fps=10)  # 2.5 s, another shape
    film = assemble([a, b, c], tmp_path / "film.mp4")
    frames, seconds, audio, size = decode_all(film.path)
    assert frames == film.frames == 30 + 20 + 25
    assert abs(seconds - (3.0 + 2.0 + 2.5)) <= 1 / 10  # within a frame
    assert size == (160, 120)
    assert audio is None and not film.audio  # no clip has sound, none asked for
    assert [p.out_frames for p in film.clips] == [30, 20, 25]


def test_size_and_rate_can_be_chosen(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", 20, fps=10)
    film = assemble([a, a], tmp_path / "film.mp4", size=(321, 240), rate=Fraction(25))
    frames, seconds, _, size = decode_all(film.path)
    assert size == (320, 240)  # even sides for yuv420p
    assert frames == 100 and abs(seconds - 4.0) <= 1 / 25


def test_trimming_drops_frames_at_each_end_of_each_clip(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", 20, fps=10, shade=0)
    b = make_clip(tmp_path / "b.mp4", 20, fps=10, shade=100)
    film = assemble([a, b], tmp_path / "film.mp4", trim_frames=2)
    frames, seconds, _, _ = decode_all(film.path)
    assert frames == 16 + 16 and abs(seconds - 3.2) <= 1 / 10
    with av.open(str(film.path)) as inp:
        first = ImageStat.Stat(next(inp.decode(video=0)).to_image().convert("L")).mean[0]
    with av.open(str(a)) as inp:
        shades = [ImageStat.Stat(f.to_image().convert("L")).mean[0] for f in inp.decode(video=0)]
    assert abs(first - shades[2]) <= 2 < abs(first - shades[0])  # clip a's third frame opens the film
    with pytest.raises(AssembleError, match="would leave nothing"):
        assemble([a], tmp_path / "none.mp4", trim_frames=10)


def test_an_audio_file_is_looped_to_the_films_length(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", 30, fps=10)
    b = make_clip(tmp_path / "b.mp4", 20, fps=10)
    music = make_wav(tmp_path / "music.wav", 1.5)  # shorter than the film: looped
    film = assemble([a, b], tmp_path / "film.mp4", audio=music)
    frames, seconds, audio, _ = decode_all(film.path)
    assert film.audio and frames == 50
    assert audio is not None and abs(audio - seconds) <= 0.05  # AAC frames of 1024 samples round it


def test_an_audio_file_longer_than_the_film_is_cut(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", 10, fps=10)
    film = assemble([a], tmp_path / "film.mp4", audio=make_wav(tmp_path / "long.wav", 4.0))
    _, seconds, audio, _ = decode_all(film.path)
    assert audio is not None and abs(audio - seconds) <= 0.05


def test_the_clips_own_sound_is_kept_and_silence_fills_a_silent_clip(tmp_path: Path) -> None:
    loud = make_clip(tmp_path / "loud.mp4", 20, fps=10, sound=True)
    quiet = make_clip(tmp_path / "quiet.mp4", 20, fps=10)
    film = assemble([loud, quiet], tmp_path / "film.mp4")
    _, seconds, audio, _ = decode_all(film.path)
    assert film.audio and audio is not None and abs(audio - seconds) <= 0.05
    silent = assemble([loud, quiet], tmp_path / "silent.mp4", clip_audio=False)
    assert decode_all(silent.path)[2] is None


def test_bad_inputs_are_refused_with_the_file_named(tmp_path: Path) -> None:
    a = make_clip(tmp_path / "a.mp4", 10)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(AssembleError, match=r"notes\.mp4"):
        assemble([a, text], tmp_path / "film.mp4")
    with pytest.raises(AssembleError, match="no such audio file"):
        assemble([a], tmp_path / "film.mp4", audio=tmp_path / "missing.wav")
    with pytest.raises(AssembleError, match="at least one clip"):
        assemble([], tmp_path / "film.mp4")
    with pytest.raises(AssembleError, match="not an encoder preset"):
        assemble([a], tmp_path / "film.mp4", preset="warp")
    assert not (tmp_path / "film.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".assemble-")] == []  # no leftovers


async def finished_clip(store: Store, path: Path) -> int:
    job = await store.add_job(
        {"mode": "t2v", "model": "wan2.6-t2v", "prompt": "a clip"}, state=JobState.DONE, source="cli"
    )
    await store.add_asset(job.id, 0, "video", path=path)
    return job.id


async def test_the_film_is_a_job_with_its_clips_in_its_lineage(
    tmp_path: Path, store: Store, engine: Engine, sim: SimHarness
) -> None:
    clips = [make_clip(tmp_path / f"{i}.mp4", 10 + 5 * i, fps=10) for i in range(3)]
    ids = [await finished_clip(store, c) for c in clips]
    job, film = await assemble_jobs(store, [ids[0], ids[2], ids[1]], tmp_path / "out" / "film.mp4")
    assert (job.mode, job.state, job.model, job.source) == (Mode.ASSEMBLE, JobState.DONE, LOCAL_MODEL, "assemble")
    assert job.video_seconds == 0 and job.task_id is None  # nothing billed, nothing sent
    links = await store.parents(job.id)
    assert [(lk.parent_id, lk.relation) for lk in links] == [
        (ids[0], "assemble"),
        (ids[2], "assemble"),
        (ids[1], "assemble"),
    ]
    (asset,) = await store.assets(job.id)
    assert asset.path == str(film.path) and Path(asset.path).is_file()
    assert asset.idx == 1  # numbered like downloaded results, so every view finds it
    # duplicating it as a request (the TUI's duplicate) gets one clear problem, not a list of odd fields
    with pytest.raises(InvalidRequest) as refused:
        GenerationRequest.from_dict(job.request)
    assert [(p.field, p.message) for p in refused.value.problems] == [
        ("mode", "'assemble' jobs are made on this machine, not sent to a model")
    ]
    assert asset.duration == pytest.approx(1.0 + 2.0 + 1.5)
    # the engine (running on the simulator) leaves the film alone: it is done, and nothing was sent for it
    await engine_rounds(engine, 3)
    after = await store.get_job(job.id)
    assert after is not None and after.state is JobState.DONE and after.task_id is None
    assert not any(key.startswith("POST") for key in sim.sim.requests)


async def test_only_finished_videos_can_be_assembled(tmp_path: Path, store: Store) -> None:
    running = await store.add_job({"mode": "t2v", "model": "wan2.6-t2v", "prompt": "x"})
    image = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i", "prompt": "x"}, state=JobState.DONE)
    await store.add_asset(image.id, 0, "image", path=tmp_path / "x.png")
    gone = await finished_clip(store, tmp_path / "gone.mp4")
    for job_id, message in ((running.id, "queued"), (image.id, "made no video"), (gone, "missing")):
        with pytest.raises(NoVideo, match=message):
            await assemble_jobs(store, [job_id], tmp_path / "film.mp4")
    with pytest.raises(AssembleError, match="no job 999"):
        await assemble_jobs(store, [999], tmp_path / "film.mp4")
