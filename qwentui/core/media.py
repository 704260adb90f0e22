"""Facts and previews of result files: probe, a video frame, cached thumbnails, a one-line description.

Images go through `imagecheck.probe_image` (which keeps the decompression-bomb guard) and Pillow; videos
through PyAV, in-process. A broken file gives a `MediaInfo` with `error` set (probe) or a `MediaError`
(frames, thumbnails), never a stray exception. Everything here blocks on decoding, so the TUI calls it from a
thread worker.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PIL import Image

from qwentui.core.imagecheck import MAX_PIXELS, probe_image

if TYPE_CHECKING:  # PyAV (FFmpeg) is imported where a video is opened: loading it costs the TUI's start-up
    import av
    from av.container import InputContainer
    from av.video.stream import VideoStream

Kind = Literal["image", "video", "text"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
# Each video suffix names its demuxer: FFmpeg left to guess will read almost anything as *some* format
# (a text file becomes a "bintext" video), and a forced demuxer plus file-only I/O keeps playlists and other
# formats that open further files or URLs out of reach.
VIDEO_DEMUXERS = {".mp4": "mov", ".mov": "mov", ".webm": "matroska", ".mkv": "matroska"}
VIDEO_SUFFIXES = frozenset(VIDEO_DEMUXERS)
DEMUXER_LABELS = {"mov": "MP4", "matroska": "WEBM"}  # what to call a video whose suffix says nothing
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")  # Pillow decoders allowed near result files
TEXT_SUFFIXES = frozenset({".md", ".json", ".txt"})
THUMBNAIL_CACHE = 256
# FFmpeg's "invalid data" is what a truncated, corrupt or non-video file gives; say so in words.
NOT_A_VIDEO = "not a playable video (truncated, corrupt, or not a video at all)"


class MediaError(Exception):
    """A file that cannot be previewed; the message says why in one sentence."""


@dataclass(frozen=True)
class MediaInfo:
    kind: Kind | None = None  # None when the file could not be read at all
    format: str = ""  # "PNG", "MP4", "MD", ...
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    duration: float | None = None  # seconds (videos)
    fps: float | None = None
    codec: str | None = None  # video codec, e.g. "h264"
    frames: int | None = None  # from the container's index; None when it does not say
    has_audio: bool = False
    audio_codec: str | None = None
    error: str | None = None  # one sentence saying why the file cannot be used


def probe(path: Path) -> MediaInfo:
    """Facts about the result file at `path`, or a MediaInfo whose `error` says why it is not usable."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return MediaInfo(error=f"cannot read the file ({exc.strerror or exc})")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return MediaInfo(kind="text", format=suffix.lstrip(".").upper(), size_bytes=size)
    if size == 0:
        return MediaInfo(size_bytes=0, error="the file is empty (0 bytes)")
    if suffix in IMAGE_SUFFIXES:
        return _probe_image(path, size)
    if suffix in VIDEO_SUFFIXES:
        return _probe_video(path, size, VIDEO_DEMUXERS[suffix])
    # An unknown suffix: let the content decide, among the formats qwentui writes.
    image = _probe_image(path, size)
    if image.error is None:
        return image
    for demuxer in DEMUXER_LABELS:
        video = _probe_video(path, size, demuxer)
        if video.error is None:
            return video
    return MediaInfo(size_bytes=size, error="not an image or a video qwentui can read")


def _probe_image(path: Path, size: int) -> MediaInfo:
    header = probe_image(path, verify=False)  # format first: only known decoders get to decode
    if header.error is None and header.format not in IMAGE_FORMATS:
        return MediaInfo(kind="image", size_bytes=size, error=f"{header.format} images are not results")
    info = probe_image(path) if header.error is None else header
    if info.error:
        return MediaInfo(kind="image", size_bytes=size, error=info.error)
    return MediaInfo(kind="image", format=info.format, width=info.width, height=info.height, size_bytes=size)


def _probe_video(path: Path, size: int, demuxer: str) -> MediaInfo:
    suffix = path.suffix.lower()
    fmt = suffix.lstrip(".").upper() if suffix in VIDEO_SUFFIXES else DEMUXER_LABELS[demuxer]
    try:
        with _open(path, demuxer) as container:
            stream = _video_stream(container)
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > MAX_PIXELS:
                return MediaInfo(
                    kind="video", size_bytes=size, error=f"{width}x{height} px is too large a frame to preview"
                )
            # One decoded frame proves the stream plays; an index alone survives a damaged body.
            if next(container.decode(stream), None) is None:
                raise MediaError("the video has no decodable frame")
            audio = container.streams.audio
            return MediaInfo(
                kind="video",
                format=fmt,
                width=width,
                height=height,
                size_bytes=size,
                duration=_duration(container, stream),
                fps=float(stream.average_rate) if stream.average_rate else None,
                codec=stream.codec_context.name,
                frames=stream.frames or None,
                has_audio=bool(audio),
                audio_codec=audio[0].codec_context.name if audio else None,
            )
    except MediaError as exc:
        return MediaInfo(kind="video", size_bytes=size, error=str(exc))


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    # The video stream's own length: the container's can be longer when the audio runs on.
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base: container durations are in microseconds
    return None


def video_frame(path: Path, at_seconds: float = 0.0) -> Image.Image:
    """The frame shown at `at_seconds` (the first frame by default; the last one past the end), as RGB."""
    with _open(path, VIDEO_DEMUXERS.get(path.suffix.lower(), "mov")) as container:
        stream = _video_stream(container)
        if at_seconds > 0 and stream.time_base is not None:
            # lands on the keyframe at or before the time; decoding then walks forward to it
            start = stream.start_time or 0
            container.seek(start + int(Fraction(at_seconds) / stream.time_base), stream=stream)
        chosen = None
        for frame in container.decode(stream):
            if chosen is not None and frame.time is not None and frame.time > at_seconds + 1e-6:
                break
            chosen = frame
        if chosen is None:
            raise MediaError("the video has no decodable frame")
        return chosen.to_image()


def thumbnail(path: Path, max_w: int, max_h: int) -> Image.Image:
    """An image or video preview that fits in max_w x max_h, aspect kept. Cached by (path, mtime, size), so
    calling it on every repaint is cheap; a changed file is read again. Raises MediaError."""
    if max_w < 1 or max_h < 1:
        raise ValueError("thumbnail size must be positive")
    try:
        st = path.stat()
    except OSError as exc:
        raise MediaError(f"cannot read the file ({exc.strerror or exc})") from exc
    cached = _cached_thumbnail(str(path.resolve()), st.st_mtime_ns, st.st_size, max_w, max_h)
    return cached.copy()  # the cached one must not be changed by a caller


@functools.lru_cache(maxsize=THUMBNAIL_CACHE)
def _cached_thumbnail(path: str, mtime_ns: int, size: int, max_w: int, max_h: int) -> Image.Image:
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        raise MediaError("text results have no picture preview")
    if suffix in VIDEO_SUFFIXES:
        image = video_frame(file)
        image.thumbnail((max_w, max_h))
        return image
    return _image_thumbnail(file, max_w, max_h)


def _image_thumbnail(path: Path, max_w: int, max_h: int) -> Image.Image:
    info = probe_image(path, verify=False)  # header only: refuses a bomb before anything is decoded
    if info.error:
        raise MediaError(info.error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as img:
                img.draft("RGB", (max_w, max_h))  # JPEG decodes at a reduced scale; a no-op otherwise
                img.thumbnail((max_w, max_h))
                return img.convert("RGBA" if info.has_alpha else "RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        if "truncated" in str(exc).lower():
            raise MediaError("the image is truncated (incomplete file)") from exc
        raise MediaError(f"the image cannot be decoded ({str(exc)[:120]})") from exc


def describe(info: MediaInfo) -> str:
    """One line of facts: "1280x720 · 5.0 s · 24 fps · h264 · audio aac", "1280x1280 PNG"."""
    if info.error:
        return f"unreadable: {info.error}"
    if info.kind == "text":
        return f"{info.format} text · {human_bytes(info.size_bytes)}"
    if info.kind == "video":
        parts = [f"{info.width}x{info.height}"]
        if info.duration is not None:
            parts.append(f"{info.duration:.1f} s")
        if info.fps:
            parts.append(f"{info.fps:.2f}".rstrip("0").rstrip(".") + " fps")
        if info.codec:
            parts.append(info.codec)
        parts.append(f"audio {info.audio_codec or 'yes'}" if info.has_audio else "no audio")
        return " · ".join(parts)
    return f"{info.width}x{info.height} {info.format}"


def human_bytes(size: int) -> str:
    """1.5 MB, 730 B: a file size for people."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@contextmanager
def _open(path: Path, demuxer: str) -> Iterator[InputContainer]:
    """`av.open` for reading with a forced demuxer and local-file I/O only; every FFmpeg failure, at open or
    while decoding, becomes a MediaError."""
    import av

    try:
        container = av.open(str(path), mode="r", format=demuxer, options={"protocol_whitelist": "file"})
    except av.error.FFmpegError as exc:
        raise MediaError(_ffmpeg_reason(exc)) from exc
    except OSError as exc:
        raise MediaError(f"cannot read the file ({exc.strerror or exc})") from exc
    try:
        with container:
            yield container
    except av.error.FFmpegError as exc:
        raise MediaError(_ffmpeg_reason(exc)) from exc


def _video_stream(container: InputContainer) -> VideoStream:
    if not container.streams.video:
        raise MediaError("the file has no video stream")
    return container.streams.video[0]


def _ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    import av

    if isinstance(exc, av.error.InvalidDataError | av.error.EOFError):
        return NOT_A_VIDEO
    if isinstance(exc, FileNotFoundError):
        return "cannot read the file (no such file)"
    return f"the video cannot be decoded ({exc.strerror or type(exc).__name__})"
