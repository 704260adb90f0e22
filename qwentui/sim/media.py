"""Real result files: PNGs (Pillow) and H.264 MP4s (PyAV), rendered on demand and cached.

A file is a pure function of its `MediaSpec` (size, prompt, seed, duration, audio), so the same spec
always gives the same bytes: a bounded LRU cache keeps recent files and anything evicted is rendered
again identically (sha256 stays stable). Videos are real H.264 at the requested width and height with the
requested duration in their metadata, but at a low frame rate so rendering stays well under a second.
"""

from __future__ import annotations

import array
import colorsys
import io
import math
import random
import textwrap
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

AUDIO_RATE = 16_000


@dataclass(frozen=True)
class MediaSpec:
    kind: str  # "png" or "mp4"
    width: int
    height: int
    prompt: str
    seed: int
    label: str = ""  # a footer line: model, index
    duration: int = 0  # seconds (mp4)
    audio: bool = False  # mp4 with an AAC track (a short beep each second)
    fps: int = 1

    @property
    def content_type(self) -> str:
        return "image/png" if self.kind == "png" else "video/mp4"


def render(spec: MediaSpec) -> bytes:
    return _png(spec) if spec.kind == "png" else _mp4(spec)


# ---- pictures ---------------------------------------------------------------------------------------------


def colour(seed: int) -> tuple[int, int, int]:
    """A saturated colour that depends on the seed (the same seed, the same colour)."""
    hue = random.Random(seed).random()
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.75)
    return int(r * 255), int(g * 255), int(b * 255)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def picture(spec: MediaSpec) -> Image.Image:
    w, h = spec.width, spec.height
    bg = colour(spec.seed)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    rng = random.Random(spec.seed)
    for _ in range(6):  # a few seed-dependent shapes, so different seeds differ at a glance
        r = int(min(w, h) * rng.uniform(0.05, 0.2))
        cx, cy = rng.randrange(w), rng.randrange(h)
        shade = tuple(min(255, c + rng.randint(20, 80)) for c in bg)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
    size = max(10, min(w, h) // 18)
    font = _font(size)
    chars = max(8, int(w / (size * 0.55)) - 2)
    max_lines = max(1, int(h * 0.7 / (size * 1.25)))
    lines = textwrap.wrap(spec.prompt or "(no prompt)", chars)[:max_lines]
    y = h * 0.1
    for line in lines:
        draw.text(
            (w * 0.04, y), line, fill=(255, 255, 255), font=font, stroke_width=max(1, size // 16), stroke_fill=(0, 0, 0)
        )
        y += size * 1.25
    foot = f"qwentui sim | {spec.label} | seed {spec.seed} | {w}x{h}".replace("|  |", "|")
    small = _font(max(8, size // 2))
    draw.text((w * 0.04, h - size), foot, fill=(255, 255, 255), font=small)
    return img


def _png(spec: MediaSpec) -> bytes:
    buf = io.BytesIO()
    picture(spec).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# ---- videos -----------------------------------------------------------------------------------------------


def _mp4(spec: MediaSpec) -> bytes:
    import av  # imported here: only video downloads pay for loading FFmpeg

    fps = max(1, spec.fps)
    seconds = max(1, spec.duration)
    # Convert the picture to YUV once; each frame only paints a bar into a copy of the luma plane.
    yuv = av.VideoFrame.from_image(picture(spec)).reformat(format="yuv420p")
    luma, chroma_u, chroma_v = (bytes(p) for p in yuv.planes)
    stride = yuv.planes[0].line_size
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "32"}
        audio = container.add_stream("aac", rate=AUDIO_RATE) if spec.audio else None
        if audio is not None:
            audio.layout = "mono"
        frames = seconds * fps
        bar, bar_h = max(4, spec.width // 40), max(2, spec.height // 24)
        for i in range(frames):  # a white bar sweeps across the top: visibly a video, cheap to encode
            plane = bytearray(luma)
            x = int(i / frames * (spec.width - bar))
            for row in range(bar_h):
                plane[row * stride + x : row * stride + x + bar] = b"\xeb" * bar
            frame = av.VideoFrame(spec.width, spec.height, "yuv420p")
            for target, data in zip(frame.planes, (plane, chroma_u, chroma_v), strict=True):
                target.update(bytes(data))
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            _audio(container, audio, seconds, spec.seed)
    return buf.getvalue()


def _audio(container: Any, stream: Any, seconds: int, seed: int) -> None:
    import av

    pcm = _beeps(seed) * seconds
    step = 1024 * 4  # 1024 float32 samples per frame
    for pts, start in enumerate(range(0, len(pcm), step)):
        chunk = pcm[start : start + step]
        frame = av.AudioFrame(format="flt", layout="mono", samples=len(chunk) // 4)
        frame.planes[0].update(chunk)
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts * 1024
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


@lru_cache(maxsize=8)
def _beeps(seed: int) -> bytes:
    """One second of mono float32 PCM: a 0.2 s tone (pitch from the seed), then silence."""
    freq = 330 + (seed % 7) * 55
    tone = int(AUDIO_RATE * 0.2)
    samples = array.array("f", (0.2 * math.sin(2 * math.pi * freq * i / AUDIO_RATE) for i in range(tone)))
    samples.extend([0.0] * (AUDIO_RATE - tone))
    return samples.tobytes()


def clip_seconds(data: bytes) -> float | None:
    """The length of an uploaded clip (MP4/MOV), or None when it cannot be read."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", format="mov") as container:
            return container.duration / av.time_base if container.duration is not None else None
    except (av.error.FFmpegError, OSError):
        return None


# ---- the cache --------------------------------------------------------------------------------------------


class MediaCache:
    """Rendered files by spec, least recently used evicted beyond `max_bytes` (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._files: OrderedDict[MediaSpec, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.renders = 0  # how many times a file was rendered (tests check reuse)

    def get(self, spec: MediaSpec) -> bytes:
        with self._lock:
            data = self._files.get(spec)
            if data is not None:
                self._files.move_to_end(spec)
                return data
        data = render(spec)  # outside the lock: rendering a video takes a moment
        with self._lock:
            self.renders += 1
            if spec not in self._files:
                self._files[spec] = data
                self._size += len(data)
            while self._size > self.max_bytes and len(self._files) > 1:
                _, old = self._files.popitem(last=False)
                self._size -= len(old)
        return data

    @property
    def size(self) -> int:
        return self._size
