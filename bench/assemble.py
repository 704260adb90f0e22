"""Assemble throughput: seconds of video put together per second of wall time, by `qwentui.core.assemble`
(PyAV decode + libx264 re-encode in-process), next to ffmpeg's concat demuxer when `ffmpeg` is installed.

    python3 dev.py bench bench/assemble.py                 # 4 clips of 5 s, 1280x720 at 24 fps, 3 runs
    python3 dev.py bench bench/assemble.py --runs 5 --clips 6 --seconds 10 --size 1920x1080

The clips are made once with PyAV (a moving gradient, so the encoder has real work), the same for every run.
Each run assembles them into a new MP4; the figure is the median over the runs. Three cases: clips that
already share size and rate (decode + encode only), clips of another rate and size mixed in (re-timing and
scaling too), the same clips with an audio track looped under them, and the first case at two other
libx264 presets (the default is PRESET in core/assemble.py). ffmpeg, when present, runs the
concat demuxer twice: re-encoding with the same encoder settings (the fair comparison) and stream copy
(`-c copy`, no re-encode: an upper bound that cannot normalise sizes or rates).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from _common import fmt, machine, median, write_result

from qwentui.core.assemble import CRF, PRESET, assemble


def make_clip(path: Path, seconds: float, size: tuple[int, int], fps: int, phase: int) -> Path:
    width, height = size
    row = bytes((x * 255 // max(1, width - 1)) for x in range(width))
    luma = row * height
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame(width, height, "yuv420p")
            shift = (phase * 37 + i * 7) % width
            frame.planes[0].update(luma[shift:] + luma[:shift])
            for plane in frame.planes[1:]:
                plane.update(bytes([(96 + 8 * phase + i) % 256]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_wav(path: Path, seconds: float, rate: int = 44100) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(4 * int(rate * seconds)))
    return path


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ffmpeg_concat(ffmpeg: str, clips: list[Path], dest: Path, copy: bool) -> None:
    listing = dest.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in clips))
    codec = ["-c", "copy"] if copy else ["-c:v", "libx264", "-preset", PRESET, "-crf", CRF, "-pix_fmt", "yuv420p"]
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), *codec, str(dest)],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=24)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    film_seconds = args.clips * args.seconds
    with tempfile.TemporaryDirectory(prefix="bench-assemble-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"making {args.clips} clips of {args.seconds:g} s at {w}x{h}, {args.fps} fps ...", file=sys.stderr)
        same = [make_clip(tmp / f"c{i}.mp4", args.seconds, (w, h), args.fps, i) for i in range(args.clips)]
        odd = make_clip(tmp / "odd.mp4", args.seconds, (w // 2, h // 2), 30, 99)  # half size, 30 fps
        mixed = [*same[:-1], odd]
        music = make_wav(tmp / "music.wav", 7.0)
        cases: dict[str, Any] = {
            "same size and rate": lambda: assemble(same, tmp / "a.mp4", clip_audio=False),
            "one clip of another size and rate": lambda: assemble(mixed, tmp / "b.mp4", clip_audio=False),
            "with an audio track (looped)": lambda: assemble(same, tmp / "c.mp4", audio=music),
            "same, --preset ultrafast": lambda: assemble(same, tmp / "d.mp4", clip_audio=False, preset="ultrafast"),
            "same, --preset veryfast": lambda: assemble(same, tmp / "e.mp4", clip_audio=False, preset="veryfast"),
        }
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg:
            cases["ffmpeg concat demuxer, re-encode"] = lambda: ffmpeg_concat(ffmpeg, same, tmp / "f.mp4", False)
            cases["ffmpeg concat demuxer, -c copy"] = lambda: ffmpeg_concat(ffmpeg, same, tmp / "g.mp4", True)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for run in range(args.runs):
            for name, fn in cases.items():  # taking turns, so a noisy moment hits every case
                times[name].append(timed(fn))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    rows = {}
    print(f"\n{film_seconds:g} s of video per film ({args.clips} clips), median of {args.runs} runs")
    print(f"{'case':<38} {'wall s':>8} {'video s per s':>14}")
    for name, values in times.items():
        wall = median(values)
        speed = film_seconds / wall if wall else None
        rows[name] = {"wall_seconds": values, "median_wall": wall, "video_seconds_per_second": speed}
        print(f"{name:<38} {fmt(wall):>8} {fmt(speed):>14}")
    if not ffmpeg:
        print("ffmpeg is not installed on this machine: no concat-demuxer comparison")
    write_result(
        "assemble",
        {
            "machine": machine(),
            "load_average_at_end": os.getloadavg(),  # the figures are only comparable on a quiet machine
            "clips": args.clips,
            "clip_seconds": args.seconds,
            "size": [w, h],
            "fps": args.fps,
            "encoder": {"codec": "libx264", "preset": PRESET, "crf": CRF},
            "runs": args.runs,
            "ffmpeg": ffmpeg,
            "cases": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
