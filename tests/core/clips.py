"""Real audio and video files for input checks: a WAV written with the standard library, an MP4 with PyAV."""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av


def make_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A silent mono 16-bit WAV of `seconds`."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(2 * int(rate * seconds)))
    return path


def make_mp4(path: Path, seconds: int, size: tuple[int, int] = (320, 240), fps: int = 2) -> Path:
    """An H.264 MP4 of `seconds` at `size` (a grey picture, a few frames a second)."""
    width, height = size
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(seconds * fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
