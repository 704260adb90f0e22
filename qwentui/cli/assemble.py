"""`qwentui assemble JOB... -o film.mp4`: clips put together into one MP4 here (PyAV, no API call), recorded
as a job of its own whose lineage lists its clips."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import safe
from qwentui.core.assemble import PRESET, PRESETS, assemble_jobs
from qwentui.core.errors import QwentuiError
from qwentui.core.lineage import chain
from qwentui.runtime import open_store


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().replace("*", "x").partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 16 or int(h) < 16:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 1280x720")
    return int(w), int(h)


def _rate(text: str) -> Fraction:
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate like 24 or 30000/1001") from None
    if not 1 <= rate <= 240:
        raise argparse.ArgumentTypeError("the frame rate must be between 1 and 240")
    return rate


def _clip(text: str) -> int | Path:
    return int(text) if text.isdigit() else Path(text)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "assemble",
        help="put clips together into one MP4 (in order, one size and frame rate, optional audio)",
        description="Clips are jobs (their video) or video files, in the order given. They are re-encoded "
        "at the first clip's size and frame rate unless --size/--fps say otherwise. The film becomes a "
        "finished job of its own (mode assemble), made here without any API call.",
    )
    p.add_argument("clips", nargs="*", type=_clip, metavar="JOB|FILE")
    p.add_argument("-o", "--to", dest="dest", type=Path, required=True, metavar="FILM.mp4")
    p.add_argument("--chain", type=int, metavar="JOB", help="the clips of a chain of extends ending at JOB")
    p.add_argument("--audio", type=Path, metavar="FILE", help="a sound track, looped or cut to the film's length")
    p.add_argument("--silent", action="store_true", help="drop the clips' own sound (when no --audio)")
    p.add_argument("--trim-frames", type=int, default=0, metavar="N", help="drop N frames at each end of each clip")
    p.add_argument("--size", type=_size, metavar="WxH", help="the film's size (default: the first clip's)")
    p.add_argument("--fps", type=_rate, help="the film's frame rate (default: the first clip's)")
    p.add_argument("--preset", choices=PRESETS, default=PRESET, help=f"encoder speed/size trade (default: {PRESET})")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    if args.dest.suffix.lower() != ".mp4":
        raise QwentuiError(f"the film is written as MP4: name it something.mp4, not {args.dest.name}")
    async with open_store(options(args)) as store:
        clips: list[int | Path] = list(args.clips)
        if args.chain is not None:
            clips = [*clips, *await chain(store, args.chain)]
        if not clips:
            raise QwentuiError("give the clips (job ids or files), or --chain JOB")
        job, film = await assemble_jobs(
            store,
            clips,
            args.dest,
            audio=args.audio,
            trim_frames=args.trim_frames,
            size=args.size,
            rate=args.fps,
            clip_audio=not args.silent,
            preset=args.preset,
        )
    sound = "with sound" if film.audio else "silent"
    print(
        safe(
            f"job {job.id}: {film.path} · {len(film.clips)} clips · {film.duration:.2f} s · "
            f"{film.width}x{film.height} at {float(film.rate):g} fps · {sound}"
        )
    )
    return 0
