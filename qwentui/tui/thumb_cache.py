"""Gallery thumbnails kept on disk: a result's picture (an image, or a video's first frame) scaled for one grid
cell, stored as a small PNG named by the file's hash and size and the cell's box.

Decoding a 2K image or opening a video takes tens of milliseconds; reading a 24x16 PNG takes well under one,
so a gallery opened again (or scrolled back) shows its cells at once. The name comes from the content (the
asset's sha256 when the store knows it, else a hash of the path, modification time and size), so a changed
file gets a new thumbnail and identical files share one. Everything here blocks: call it from a thread.
The counts of hits and misses are what bench/gallery.py reports.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from qwentui.core import media
from qwentui.tui.widgets.image_view import Fitted, fit_picture

SOURCE_PX = 256  # decoded at most this large before fitting: a cell is never wider than this


@dataclass(frozen=True)
class Thumb:
    """A cell's picture, or why there is none (`problem`, a few words)."""

    fitted: Fitted | None
    problem: str = ""


class ThumbCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def key(self, path: Path, sha256: str | None) -> str:
        """The file's identity: its content hash and size (or, without a hash, its path, mtime and size)."""
        st = path.stat()
        if sha256:
            return f"{sha256}-{st.st_size}"
        seed = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}".encode()
        return f"p{hashlib.sha256(seed).hexdigest()[:40]}-{st.st_size}"

    def thumb(self, path: Path, sha256: str | None, box: tuple[int, int]) -> Thumb:
        """The picture of `path` fitted to `box` cells (width, height), from the disk cache when it is there."""
        try:
            key = self.key(path, sha256)
        except OSError as exc:
            return Thumb(None, f"missing ({exc.strerror or exc})")
        cached = self.folder / key[:2] / f"{key}-{box[0]}x{box[1]}.png"
        try:
            with Image.open(cached, formats=["PNG"]) as img:
                picture = img.convert("RGB")
            self._count(hit=True)
            return Thumb(Fitted(box, picture))
        except (OSError, ValueError):
            pass  # not cached yet (or a damaged file, made again below)
        self._count(hit=False)
        try:
            source = media.thumbnail(path, SOURCE_PX, SOURCE_PX)
        except (media.MediaError, ValueError, OSError) as exc:
            return Thumb(None, str(exc)[:60] or "cannot decode")
        fitted = fit_picture(source, *box)
        if fitted.picture is not None:
            self._store(cached, fitted.picture)
        return Thumb(fitted)

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    @staticmethod
    def _store(dest: Path, picture: Image.Image) -> None:
        """Write under a temporary name and move into place: a reader never sees half a file. A cache that cannot
        be written (read-only or full disk) only costs the next open its speed."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".thumb-", suffix=".png")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                picture.save(out, format="PNG", compress_level=1)
            os.replace(tmp, dest)
        except OSError:
            Path(tmp).unlink(missing_ok=True)


def cache_folder(db: Path) -> Path:
    """The thumbnails of the database at `db`: beside it, under cache/thumbs."""
    return db.parent / "cache" / "thumbs"
