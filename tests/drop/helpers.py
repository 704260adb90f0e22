"""Drop-folder test helpers: real image files (good and bad), counting what the simulator received, waiting."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from qwentui.sim import Simulator
from tests.helpers import poll_until


def png_bytes(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (400, 400)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def write_png(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (400, 400)) -> str:
    """Write a PNG; returns its sha256."""
    data = png_bytes(colour, size)
    path.write_bytes(data)
    return sha256(data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    return sha256(path.read_bytes())


def colour(i: int) -> tuple[int, int, int]:
    """A distinct colour per index (up to 256**3)."""
    return (i % 256, (i // 256) % 256, 100 + (i * 7) % 100)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header declares an enormous image (one compressed row: decoding it would explode)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" + b"\x00" * width, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def submitted_shas(sim: Simulator) -> Counter[str]:
    """For every generation POST that created a task: the sha256 of each uploaded input it used."""
    counts: Counter[str] = Counter()
    for sub in sim.submissions:
        if not sub.created_task:
            continue
        for ref in _strings(sub.body):
            if ref.startswith("oss://"):
                upload = sim.uploads.get(ref)
                counts[upload.sha256 if upload else ref] += 1
    return counts


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def names(folder: Path) -> set[str]:
    try:
        return {p.name for p in folder.iterdir()}
    except FileNotFoundError:
        return set()


async def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Poll `check` until true; fail with `what` after a generous timeout (never a timing assertion)."""
    await poll_until(check, timeout=timeout, what=what or str(check))
