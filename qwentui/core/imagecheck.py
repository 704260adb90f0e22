"""Probe an image file safely: format and size without decoding a bomb, and a clear reason when it is bad.

Used before anything is uploaded (composer, CLI, drop folder), so a user hears "truncated PNG" instead of an
API error or a crash. Pillow's own decompression-bomb guard is kept on and given a tighter limit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# The API takes at most 8000 px a side; anything with more pixels than 8000*8000 is refused unread.
MAX_PIXELS = 8000 * 8000


@dataclass(frozen=True)
class ImageInfo:
    format: str = ""
    width: int = 0
    height: int = 0
    has_alpha: bool = False
    error: str | None = None  # one sentence saying why the file cannot be used


def probe_image(path: Path, verify: bool = True) -> ImageInfo:
    """Format and size of the image at `path`, or an ImageInfo whose `error` says why it is not usable."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return ImageInfo(error=f"cannot read the file ({exc.strerror or exc})")
    if size == 0:
        return ImageInfo(error="the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = (img.format or "").upper()
                width, height = img.size
                has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
                if width * height > MAX_PIXELS:
                    return ImageInfo(
                        fmt,
                        width,
                        height,
                        has_alpha,
                        error=f"{width}x{height} px is too many pixels to be a real photo "
                        "(refused as a possible decompression bomb)",
                    )
                if verify:
                    img.load()  # decodes the pixels: catches truncated files
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return ImageInfo(error="the image declares an enormous size (refused as a possible decompression bomb)")
    except UnidentifiedImageError:
        return ImageInfo(error="not an image Pillow can read (wrong extension or corrupt file)")
    except (OSError, SyntaxError, ValueError) as exc:
        text = str(exc)
        if "truncated" in text.lower():
            return ImageInfo(error="the image is truncated (incomplete file)")
        return ImageInfo(error=f"the image cannot be decoded ({text[:120]})")
    return ImageInfo(fmt, width, height, has_alpha)
