"""Probe a local audio or video input (driving audio, an audio track, a first clip) before it is uploaded.

The image side is `imagecheck.py`; this is its sibling for clips: the container's format, length and frame
size read with PyAV (FFmpeg, in-process), and one sentence saying why a file breaks a `ClipRule`. Only the
demuxers the rule's formats name are tried, and only local files are read (no playlists, no URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qwentui.core.catalog import ClipRule

# Suffix -> the FFmpeg demuxer that reads it. A suffix outside this table is refused before FFmpeg sees it.
DEMUXERS = {"mp4": "mov", "mov": "mov", "wav": "wav", "mp3": "mp3"}


@dataclass(frozen=True)
class ClipInfo:
    format: str = ""  # the suffix, lower case ("mp4", "wav")
    seconds: float | None = None
    width: int = 0  # 0 for audio
    height: int = 0
    has_video: bool = False
    has_audio: bool = False
    error: str | None = None  # one sentence saying why the file cannot be read


def probe_clip(path: Path) -> ClipInfo:
    """Format, length and frame size of the clip at `path`, or a ClipInfo whose `error` says why not."""
    import av  # FFmpeg is loaded only when a local clip is checked

    suffix = path.suffix.lower().lstrip(".")
    demuxer = DEMUXERS.get(suffix)
    if demuxer is None:
        return ClipInfo(format=suffix, error=f".{suffix or '?'} files are not audio or video qwentui can check")
    try:
        if path.stat().st_size == 0:
            return ClipInfo(format=suffix, error="the file is empty (0 bytes)")
        with av.open(str(path), mode="r", format=demuxer, options={"protocol_whitelist": "file"}) as container:
            videos, audios = container.streams.video, container.streams.audio
            seconds = None
            if container.duration is not None:
                seconds = container.duration / av.time_base
            elif videos and videos[0].duration is not None and videos[0].time_base is not None:
                seconds = float(videos[0].duration * videos[0].time_base)
            width = videos[0].codec_context.width if videos else 0
            height = videos[0].codec_context.height if videos else 0
            return ClipInfo(suffix, seconds, width, height, bool(videos), bool(audios))
    except av.error.FFmpegError:
        return ClipInfo(format=suffix, error=f"not a readable .{suffix} file (truncated, corrupt or another format)")
    except OSError as exc:
        return ClipInfo(format=suffix, error=f"cannot read the file ({exc.strerror or exc})")


def clip_problem(path: Path, rule: ClipRule, model: str) -> str | None:
    """Why the local file at `path` breaks `rule` for `model` (one sentence), or None when it is fine."""
    size = path.stat().st_size
    if size > rule.max_bytes:
        return f"{path.name} is {size / 1e6:.1f} MB; {model} takes at most {rule.max_bytes // (1024 * 1024)} MB"
    suffix = path.suffix.lower().lstrip(".")
    allowed = ", ".join(f.upper() for f in rule.formats)
    if suffix not in rule.formats:
        return f"{path.name} is not {allowed}; {model} takes {rule.kind} as {allowed}"
    info = probe_clip(path)
    if info.error:
        return f"{path.name}: {info.error}"
    if rule.kind == "video" and not info.has_video:
        return f"{path.name} has no video stream"
    if rule.kind == "audio" and not info.has_audio:
        return f"{path.name} has no audio stream"
    if info.seconds is None:
        return f"{path.name}: its length cannot be read; {model} takes {rule.min_seconds:g}-{rule.max_seconds:g} s"
    if not rule.min_seconds <= info.seconds <= rule.max_seconds:
        return f"{path.name} is {info.seconds:.1f} s long; {model} takes {rule.min_seconds:g}-{rule.max_seconds:g} s"
    if rule.kind == "video":
        short, long = min(info.width, info.height), max(info.width, info.height)
        if (rule.min_side and short < rule.min_side) or (rule.max_side and long > rule.max_side):
            return (
                f"{path.name} is {info.width}x{info.height} px; each side must be "
                f"{rule.min_side or 1}-{rule.max_side or '∞'} px for {model}"
            )
        if rule.max_aspect and short and long / short > rule.max_aspect + 1e-9:
            return (
                f"{path.name} is {info.width}x{info.height} px; the aspect ratio must be within 1:{rule.max_aspect:g}"
            )
    return None
