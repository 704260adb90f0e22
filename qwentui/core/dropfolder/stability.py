"""Deciding that a dropped file is complete and usable before anything is done with it.

There is no "file closed" event (watchfiles drops close events), so completeness is inferred: temp names are
ignored, the file (and its sidecars) must keep the same size and mtime across two looks at least `quiet`
seconds apart, and it must decode as an image within the model's limits. A file that looks *unfinished*
(empty, truncated) gets a longer grace period before it is called broken, because a slow copy with long
pauses looks exactly like that; a file that is wrong whatever happens next (a bomb, 1x1 px, a text file) is
refused at once.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from qwentui.core.catalog import ImageRule
from qwentui.core.dropfolder.rules import Rule, frame_rule
from qwentui.core.imagecheck import probe_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
SIDECAR_SUFFIXES = frozenset({".txt", ".json"})
# Names that browsers, sync tools, editors and NAS boxes use while a file is still being written, or for
# their own bookkeeping (docs/reliability.md §6). Dot files and `~` files are ignored wholesale.
TEMP_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".filepart", ".tmp", ".temp", ".swp", "~")
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
TEMP_MARKERS = (".sync-conflict-", ".goutputstream-", "~syncthing~")


class Kind(Enum):
    IGNORE = "ignore"  # temp, hidden or bookkeeping names: never touched
    IMAGE = "image"  # a candidate for a job
    SIDECAR = "sidecar"  # name.txt / name.json: travels with its image, never taken on its own
    OTHER = "other"  # anything else: moved to failed/ once stable, so the user learns why nothing happened


def classify(name: str) -> Kind:
    lower = name.lower()
    if (
        name.startswith((".", "~"))
        or lower in IGNORED_NAMES
        or lower.endswith(TEMP_SUFFIXES)
        or any(m in lower for m in TEMP_MARKERS)
    ):
        return Kind.IGNORE
    suffix = os.path.splitext(lower)[1]
    if suffix in IMAGE_SUFFIXES:
        return Kind.IMAGE
    if suffix in SIDECAR_SUFFIXES:
        return Kind.SIDECAR
    return Kind.OTHER


Signature = tuple[tuple[str, int, int], ...]


def signature(paths: Iterable[Path]) -> Signature | None:
    """(name, size, mtime) of each existing path; None when the first (the image) is gone."""
    out = []
    for i, path in enumerate(paths):
        try:
            st = os.stat(path)  # follows an in-folder link, so a growing target keeps it unstable
        except OSError:
            try:
                st = os.lstat(path)  # a dangling link: still there, and refused once it is stable
            except OSError:
                if i == 0:
                    return None
                continue
        out.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


@dataclass
class _Seen:
    signature: Signature | None
    since: float  # when the signature (or an event) last changed, monotonic
    looks: int = 0


class StabilityTracker:
    """Per path: has it stayed the same for `quiet` seconds, across at least two looks?"""

    def __init__(self, quiet: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self.clock = clock
        self._seen: dict[Path, _Seen] = {}

    def __contains__(self, path: object) -> bool:
        return path in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def paths(self) -> list[Path]:
        return list(self._seen)

    def touch(self, path: Path) -> None:
        """An event for `path`: start (or restart) its quiet period."""
        seen = self._seen.get(path)
        if seen is None:
            self._seen[path] = _Seen(None, self.clock())
        else:
            seen.since = self.clock()

    def look(self, path: Path, sig: Signature | None) -> bool:
        """Record what `path` looks like now; True when it has been unchanged for the quiet period."""
        now = self.clock()
        seen = self._seen.setdefault(path, _Seen(None, now))
        if sig != seen.signature:
            seen.signature, seen.since, seen.looks = sig, now, 1
            return False
        seen.looks += 1
        return sig is not None and seen.looks >= 2 and now - seen.since >= self.quiet

    def quiet_for(self, path: Path) -> float:
        seen = self._seen.get(path)
        return 0.0 if seen is None else self.clock() - seen.since

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)


@dataclass(frozen=True)
class Verdict:
    reason: str | None = None  # one sentence why the file cannot be used; None = usable
    unfinished: bool = False  # the problem may be a copy still in progress (empty, truncated)

    @property
    def ok(self) -> bool:
        return self.reason is None


def image_rule(rule: Rule) -> ImageRule:
    return frame_rule(rule)


def check_link(path: Path, folder: Path) -> str | None:
    """Refuse a symbolic link whose target leaves the rule's folder (it could expose any file on disk)."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "it is a symbolic link to a file that does not exist"
    if not target.is_relative_to(folder.resolve()):
        return "it is a symbolic link to a file outside the drop folder, which is refused for safety"
    if not target.is_file():
        return "it is a symbolic link to something that is not a file"
    return None


def check_image(path: Path, rule: Rule) -> Verdict:
    """Does the file decode as an image this rule's model takes (format, side range, size, no bomb)?"""
    if classify(path.name) is Kind.OTHER:
        return Verdict(
            f"{path.suffix or 'a file without an extension'} is not an image type the drop folder "
            f"takes ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    limits = image_rule(rule)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Verdict(f"the file cannot be read ({exc.strerror or exc})", unfinished=True)
    if size > limits.max_bytes:
        return Verdict(
            f"the file is {size / 1e6:.1f} MB; {rule.model} takes at most {limits.max_bytes // (1024 * 1024)} MB"
        )
    info = probe_image(path)
    if info.error:
        # A file that starts like an image (or is too short to tell) may still be arriving; a bomb or a
        # text file renamed to .png never gets better.
        unfinished = "bomb" not in info.error and starts_like_image(path)
        return Verdict(f"{info.error[0].upper()}{info.error[1:]}", unfinished=unfinished)
    if info.format not in limits.formats:
        return Verdict(f"it is a {info.format} image; {rule.model} takes {', '.join(limits.formats)}")
    if min(info.width, info.height) < limits.min_side or max(info.width, info.height) > limits.max_side:
        return Verdict(
            f"it is {info.width}x{info.height} px; each side must be {limits.min_side}-"
            f"{limits.max_side} px for {rule.model}"
        )
    return Verdict()


# Magic numbers of the formats the drop folder takes (None: any byte). A partial copy starts with one.
SIGNATURES: tuple[tuple[int | None, ...], ...] = (
    tuple(b"\x89PNG\r\n\x1a\n"),
    tuple(b"\xff\xd8\xff"),
    (*b"RIFF", None, None, None, None, *b"WEBP"),
    tuple(b"BM"),
    tuple(b"GIF8"),
    tuple(b"II*\x00"),
    tuple(b"MM\x00*"),
)


def starts_like_image(path: Path) -> bool:
    """Do the first bytes match (or, for a very short file, begin) a supported image signature?"""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return True  # unreadable now (locked by the copying program on SMB): maybe later
    return any(all(want is None or got == want for got, want in zip(head, sig, strict=False)) for sig in SIGNATURES)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
