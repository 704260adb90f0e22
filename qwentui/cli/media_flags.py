"""`qwentui submit` flags for the Wan 2.7 fields: ratio, the media slots, image sets, thinking mode, regions, palette.

Each flag writes the skill scripts' request key, so a flag and `--json` with the same key mean the same thing
(`--first-clip x` is `{"first_clip_url": "x"}`) and `GenerationRequest.from_dict` decides the rest.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from qwentui.core.errors import QwentuiError

# flag destination -> request key
MEDIA_FLAGS = {
    "first_frame": "first_frame_url",
    "last_frame": "last_frame_url",
    "first_clip": "first_clip_url",
    "driving_audio": "driving_audio_url",
}
JSON_FLAGS = ("bbox_list", "color_palette")


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true/false")


def add_arguments(p: argparse.ArgumentParser) -> None:
    wan = p.add_argument_group("Wan 2.7", "wan2.7-t2v / wan2.7-i2v / wan2.7-image(-pro); see `qwentui models`")
    wan.add_argument("--ratio", help="wan2.7-t2v aspect ratio: 16:9, 9:16, 1:1, 4:3 or 3:4 (with --resolution)")
    wan.add_argument("--first-frame", metavar="PATH_OR_URL", help="first frame (wan2.7-i2v; without --model: kf2v)")
    wan.add_argument("--last-frame", metavar="PATH_OR_URL", help="last frame (with a first frame or a first clip)")
    wan.add_argument("--first-clip", metavar="PATH_OR_URL", help="a clip to continue, MP4/MOV 2-10 s (wan2.7-i2v)")
    wan.add_argument("--driving-audio", metavar="PATH_OR_URL", help="WAV/MP3 3-30 s for lip sync (wan2.7-i2v)")
    wan.add_argument("--enable-sequential", type=_bool, metavar="true|false", help="an image set of up to 12")
    wan.add_argument("--thinking-mode", type=_bool, metavar="true|false", help="text-to-image only, not with sets")
    wan.add_argument("--bbox-list", metavar="JSON", help="regions per input image, e.g. '[[], [[10,20,300,400]]]'")
    wan.add_argument(
        "--color-palette", metavar="JSON", help='3-10 colours: \'[{"hex":"#C2D1E6","ratio":"40%%"}, ...]\''
    )


def apply(args: argparse.Namespace, data: dict[str, Any]) -> None:
    """Copy the flags that were given into the request dict (flags win over --json, as every other flag)."""
    if args.ratio is not None:
        data["ratio"] = args.ratio
    for dest, key in MEDIA_FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            data[key] = value
    for key in ("enable_sequential", "thinking_mode"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for key in JSON_FLAGS:
        raw = getattr(args, key)
        if raw is None:
            continue
        try:
            data[key] = json.loads(raw)
        except json.JSONDecodeError as exc:
            flag = "--" + key.replace("_", "-")
            raise QwentuiError(f"{flag} is not valid JSON: {exc.msg} at column {exc.colno}") from None
