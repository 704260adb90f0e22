"""Assemble clips into one film with PyAV (no ffmpeg binary): in order, at one size and frame rate.

Every clip is decoded and re-encoded (H.264, yuv420p) at the first clip's size and frame rate unless told
otherwise: a clip of another frame rate is re-timed (frames repeated or dropped) so it keeps its length, one
of another shape is fitted inside the frame on black. `trim_frames` drops that many frames at each end of
every clip, to hide the seam where an extended clip repeats its source's last frame.

Sound: an audio file given is decoded, looped or cut to the film's length; without one, the clips' own
sound is kept (silence for a clip that has none), each cut to its clip's trimmed length.

The film is written to a temporary file next to the destination and moved into place at the end, so a
failure never leaves half a film under the name asked for. Everything here blocks: call it from a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from qwentui.core.catalog import Mode
from qwentui.core.errors import QwentuiError
from qwentui.core.lineage import Relation
from qwentui.core.media import VIDEO_DEMUXERS, MediaError, probe
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store

if TYPE_CHECKING:  # PyAV (FFmpeg) is imported by the functions that use it: loading it slows every start-up
    import av

AUDIO_RATE = 48_000
AUDIO_FRAME = 1024  # samples per AAC frame
SAMPLE_BYTES = 4  # one stereo sample as packed signed 16-bit: sound is handled as plain bytes (no numpy)
PRESET = "superfast"  # libx264: ~2.5x the speed of veryfast here (bench/assemble.py) for a somewhat larger file
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")
CRF = "18"  # visually lossless enough that a re-encode does not show


class AssembleError(QwentuiError):
    """The clips cannot be assembled; the message names the clip and says why."""


@dataclass(frozen=True)
class ClipPlan:
    path: Path
    frames: int  # source frames (counted from the container's packets)
    rate: Fraction  # source frames per second
    width: int
    height: int
    has_audio: bool
    out_frames: int = 0  # frames in the film, after trimming and re-timing


@dataclass(frozen=True)
class Film:
    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int
    audio: bool
    clips: list[ClipPlan] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return float(self.frames / self.rate)


def _count(path: Path) -> tuple[int, Fraction, int, int, bool]:
    """(frames, frame rate, width, height, has audio) from the container, without decoding."""
    import av

    with av.open(str(path), format=VIDEO_DEMUXERS.get(path.suffix.lower(), "mov")) as inp:
        stream = inp.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(inp.streams.audio)
        frames = sum(1 for p in inp.demux(stream) if p.size)
    if not rate or frames == 0:
        raise AssembleError(f"{path}: the video has no frames or no frame rate")
    return frames, Fraction(rate).limit_denominator(1001), width, height, has_audio


def plan(
    clips: Sequence[Path],
    *,
    trim_frames: int = 0,
    size: tuple[int, int] | None = None,
    rate: Fraction | None = None,
) -> tuple[list[ClipPlan], int, int, Fraction]:
    """Check every clip and work out the film: (clips with their frame counts, width, height, rate)."""
    import av

    if not clips:
        raise AssembleError("give at least one clip to assemble")
    if trim_frames < 0:
        raise AssembleError("--trim-frames cannot be negative")
    plans = []
    for path in clips:
        info = probe(path)
        if info.error or info.kind != "video":
            raise AssembleError(f"{path}: {info.error or 'not a video'}")
        try:
            frames, clip_rate, width, height, has_audio = _count(path)
        except av.error.FFmpegError as exc:
            raise AssembleError(f"{path}: cannot be read ({exc})") from None
        if frames <= 2 * trim_frames:
            raise AssembleError(f"{path} has {frames} frames: trimming {trim_frames} at each end would leave nothing")
        plans.append(ClipPlan(path, frames, clip_rate, width, height, has_audio))
    width, height = size or (plans[0].width, plans[0].height)
    width, height = width - width % 2, height - height % 2  # yuv420p needs even sides
    film_rate = rate or plans[0].rate
    out = []
    for p in plans:
        kept = p.frames - 2 * trim_frames
        # the clip keeps its length at the film's rate (rounded to whole frames)
        out_frames = max(1, round(kept * film_rate / p.rate))
        out.append(ClipPlan(p.path, p.frames, p.rate, p.width, p.height, p.has_audio, out_frames))
    return out, width, height, film_rate


def _fit(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The frame at the film's size: scaled directly when the shape matches, else fitted on black."""
    import av

    if frame.width == width and frame.height == height:
        return frame.reformat(format="yuv420p") if frame.format.name != "yuv420p" else frame
    if abs(frame.width / frame.height - width / height) < 0.01:
        return frame.reformat(width=width, height=height, format="yuv420p")
    image = frame.to_image()
    image.thumbnail((width, height), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return av.VideoFrame.from_image(canvas).reformat(format="yuv420p")


def _kept_frames(clip: ClipPlan, trim: int) -> Iterator[av.VideoFrame]:
    """The clip's decoded frames without `trim` at each end (the end found by holding `trim` back)."""
    import av

    held: deque[av.VideoFrame] = deque()
    with av.open(str(clip.path), format=VIDEO_DEMUXERS.get(clip.path.suffix.lower(), "mov")) as inp:
        stream = inp.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(inp.decode(stream)):
            if i < trim:
                continue
            held.append(frame)
            if len(held) > trim:
                yield held.popleft()


def decode_audio(path: Path, start: float = 0.0, seconds: float | None = None) -> bytes:
    """The sound of a file from `start` for `seconds` (all of it by default), as packed s16 stereo at 48 kHz.
    A file without sound gives no bytes."""
    import av
    from av.audio.resampler import AudioResampler

    chunks: list[bytes] = []
    try:
        with av.open(str(path)) as inp:
            if not inp.streams.audio:
                return b""
            resampler = AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE)
            for frame in inp.decode(inp.streams.audio[0]):
                chunks.extend(_pcm(f) for f in resampler.resample(frame))
            chunks.extend(_pcm(f) for f in resampler.resample(None))
    except av.error.FFmpegError as exc:
        raise AssembleError(f"{path}: the sound cannot be decoded ({exc})") from None
    pcm = b"".join(chunks)
    first = round(start * AUDIO_RATE) * SAMPLE_BYTES
    last = None if seconds is None else first + round(seconds * AUDIO_RATE) * SAMPLE_BYTES
    return pcm[first:last]


def _pcm(frame: av.AudioFrame) -> bytes:
    return bytes(frame.planes[0])[: frame.samples * SAMPLE_BYTES]  # the plane may carry padding


def fit_length(pcm: bytes, samples: int, loop: bool) -> bytes:
    """`pcm` made exactly `samples` long: cut, then looped (a music bed) or padded with silence."""
    size = samples * SAMPLE_BYTES
    if pcm and loop and len(pcm) < size:
        pcm = pcm * -(-size // len(pcm))
    return pcm[:size].ljust(size, b"\0")


class _AudioOut:
    """Encodes film sound as the video advances, so the two streams stay interleaved in the file."""

    def __init__(self, container: Any) -> None:
        self.stream = container.add_stream("aac", rate=AUDIO_RATE)
        self.stream.layout = "stereo"
        self.container = container
        self.pending = bytearray()
        self.pts = 0

    def add(self, pcm: bytes) -> None:
        self.pending += pcm

    def until(self, samples: int, flush: bool = False) -> None:
        """Encode the pending sound up to film sample `samples` (all of it when flushing)."""
        import av

        while len(self.pending) >= AUDIO_FRAME * SAMPLE_BYTES or (flush and self.pending):
            if not flush and self.pts + AUDIO_FRAME > samples:
                break
            chunk = bytes(self.pending[: AUDIO_FRAME * SAMPLE_BYTES])
            del self.pending[: AUDIO_FRAME * SAMPLE_BYTES]
            count = len(chunk) // SAMPLE_BYTES
            frame = av.AudioFrame(format="s16", layout="stereo", samples=count)
            frame.planes[0].update(chunk)
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.pts
            frame.time_base = Fraction(1, AUDIO_RATE)
            self.pts += count
            self.container.mux(self.stream.encode(frame))
        if flush:
            self.container.mux(self.stream.encode(None))


def assemble(
    clips: Sequence[Path],
    dest: Path,
    *,
    audio: Path | None = None,
    trim_frames: int = 0,
    size: tuple[int, int] | None = None,
    rate: Fraction | None = None,
    clip_audio: bool = True,
    preset: str = PRESET,
) -> Film:
    """Write the film of `clips` to `dest` (an .mp4) and describe it. Raises AssembleError. `preset` is
    libx264's speed/size trade (PRESETS)."""
    import av

    if preset not in PRESETS:
        raise AssembleError(f"{preset!r} is not an encoder preset; use one of: {', '.join(PRESETS)}")
    plans, width, height, film_rate = plan(clips, trim_frames=trim_frames, size=size, rate=rate)
    total = sum(p.out_frames for p in plans)
    music = None
    if audio is not None:
        if not audio.is_file():
            raise AssembleError(f"{audio}: no such audio file")
        music = decode_audio(audio)
        if not music:
            raise AssembleError(f"{audio}: has no sound to use")
    with_sound = music is not None or (clip_audio and any(p.has_audio for p in plans))
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".assemble-", suffix=".mp4")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _encode(plans, tmp, width, height, film_rate, total, trim_frames, music, with_sound, preset)
        os.replace(tmp, dest)
    except av.error.FFmpegError as exc:
        raise AssembleError(f"the film could not be written: {exc}") from None
    except MediaError as exc:
        raise AssembleError(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return Film(dest, width, height, film_rate, total, with_sound, plans)


def _encode(
    plans: list[ClipPlan],
    tmp: Path,
    width: int,
    height: int,
    film_rate: Fraction,
    total: int,
    trim: int,
    music: bytes | None,
    with_sound: bool,
    preset: str,
) -> None:
    import av

    with av.open(str(tmp), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=film_rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": preset, "crf": CRF}
        video.thread_type = "AUTO"
        sound = _AudioOut(out) if with_sound else None
        if sound is not None and music is not None:
            sound.add(fit_length(music, round(total / film_rate * AUDIO_RATE), loop=True))
        n = 0
        for clip in plans:
            if sound is not None and music is None:  # the clip's own sound, cut to its kept frames
                start = float(trim / clip.rate)
                seconds = float(clip.out_frames / film_rate)
                own = decode_audio(clip.path, start, seconds) if clip.has_audio else b""
                sound.add(fit_length(own, round(seconds * AUDIO_RATE), loop=False))
            step = clip.rate / film_rate  # source frames per film frame
            emitted = 0
            picture: av.VideoFrame | None = None
            for i, frame in enumerate(_kept_frames(clip, trim)):
                # film frames k of this clip show source frame floor(k * step): repeat or skip to match
                while emitted < clip.out_frames and int(emitted * step) <= i:
                    picture = _fit(frame, width, height)
                    picture.pts = n
                    picture.time_base = 1 / film_rate
                    out.mux(video.encode(picture))
                    n += 1
                    emitted += 1
                    if sound is not None:
                        sound.until(int(n / film_rate * AUDIO_RATE))
            missing = clip.out_frames - emitted
            if missing and picture is not None and missing <= max(2, clip.out_frames // 10):
                for _ in range(missing):  # a frame or two short (a decoder's rounding): hold the last picture
                    held = picture.reformat()
                    held.pts, held.time_base = n, 1 / film_rate
                    out.mux(video.encode(held))
                    n += 1
                    if sound is not None:
                        sound.until(int(n / film_rate * AUDIO_RATE))
            elif missing:
                raise AssembleError(f"{clip.path}: fewer frames decode than its container lists (damaged?)")
        out.mux(video.encode(None))
        if sound is not None:
            sound.until(0, flush=True)


# ---- films as jobs -----------------------------------------------------------------------------------------

LOCAL_MODEL = "qwentui-assemble"  # what the table shows in the model column of a film


class NoVideo(QwentuiError):
    """A job has no finished video to use; the message says why."""


async def finished_video(store: Store, job: Job, purpose: str) -> Path:
    """The video file a finished job made (its last one, when it made several), to be `purpose`
    ("extended", "assembled")."""
    if job.state is not JobState.DONE:
        raise NoVideo(f"job {job.id} is {job.state.value}; only a finished video can be {purpose}")
    videos = [a for a in await store.assets(job.id) if a.kind == "video" and a.path]
    if not videos:
        raise NoVideo(f"job {job.id} made no video ({job.mode.label.lower()}); only a video can be {purpose}")
    path = Path(videos[-1].path or "")
    if not path.is_file():
        raise NoVideo(f"the video of job {job.id} is missing: {path} (moved or deleted?)")
    return path


async def assemble_jobs(
    store: Store,
    inputs: Sequence[int | Path],
    dest: Path,
    *,
    audio: Path | None = None,
    trim_frames: int = 0,
    size: tuple[int, int] | None = None,
    rate: Fraction | None = None,
    clip_audio: bool = True,
    preset: str = PRESET,
    clock: Callable[[], float] = time.time,
) -> tuple[Job, Film]:
    """Assemble the videos of jobs (ids) and files (paths), in the order given, into `dest`; record the film
    as a finished job of its own (mode assemble, made here: no API call) whose lineage lists the jobs."""
    clips: list[Path] = []
    parents: list[tuple[int, str]] = []
    for item in inputs:
        if isinstance(item, int):
            job = await store.get_job(item)
            if job is None:
                raise AssembleError(f"there is no job {item}; `qwentui jobs` lists them")
            clips.append(await finished_video(store, job, "assembled"))
            parents.append((job.id, Relation.ASSEMBLE))
        else:
            clips.append(Path(item))
    dest = dest.expanduser().absolute()
    film = await asyncio.to_thread(
        assemble,
        clips,
        dest,
        audio=audio,
        trim_frames=trim_frames,
        size=size,
        rate=rate,
        clip_audio=clip_audio,
        preset=preset,
    )
    digest, size_bytes = await asyncio.to_thread(_sha256, dest)
    job_ids = [p for p, _ in parents]
    request = {
        "mode": Mode.ASSEMBLE.value,
        "model": LOCAL_MODEL,
        "clips": [str(c) for c in clips],
        "jobs": job_ids,
        "audio": str(audio) if audio else None,
        "trim_frames": trim_frames,
        "size": f"{film.width}*{film.height}",
        "fps": str(film.rate),
    }
    named = ", ".join(str(i) for i in job_ids) if job_ids else "files"
    job = await store.add_job(
        request,
        mode=Mode.ASSEMBLE,
        model=LOCAL_MODEL,
        prompt=f"film of {len(clips)} clips ({named}), {film.duration:.1f} s",
        source=Relation.ASSEMBLE.value,
        state=JobState.DONE,
        lineage=parents,
        output_dir=dest.parent,
        finished_at=clock(),
        detail="assembled on this machine (no API call)",
        assets=[
            {
                "idx": 1,  # results count from 1, as the fetcher numbers them (0 is a job's text)
                "kind": "video",
                "path": dest,
                "size": size_bytes,
                "sha256": digest,
                "width": film.width,
                "height": film.height,
                "duration": film.duration,
            }
        ],
    )
    return job, film


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest(), path.stat().st_size
