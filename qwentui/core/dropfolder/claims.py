"""The files of one drop: claiming them into `.processing/` and moving them to `done/`, `failed/`, `duplicates/`.

A claim is a rename on the same filesystem (atomic: two processes cannot both win it), which also takes the
file out of the user's view and out of the watch, so later events for the old name cannot re-trigger it.
Every file of one drop (the image, or the two frames of a kf2v pair, plus their sidecars) is renamed to
`.processing/<token>__<name>` with one shared token, so after a crash the group can be put back together
from the folder alone. Outcome folders never overwrite: a name already taken becomes `name (1).png`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from qwentui.core.catalog import Mode
from qwentui.core.config import private_dir
from qwentui.core.dropfolder.rules import Rule
from qwentui.core.dropfolder.stability import Kind, classify
from qwentui.core.store import LedgerEntry

PROCESSING = ".processing"
DONE = "done"
FAILED = "failed"
DUPLICATES = "duplicates"
OUTCOME_DIRS = (PROCESSING, DONE, FAILED, DUPLICATES)
Outcome = Literal["done", "failed", "duplicates"]
SEP = "__"
TOKEN_RE = re.compile(r"[0-9a-f]{12}")
PAIR_RE = re.compile(r"^(?P<stem>.+)_(?P<which>first|last)$", re.IGNORECASE)


@dataclass
class Claim:
    """One drop being processed: its images (in request order) and sidecars, all in `.processing/`."""

    rule: Rule
    token: str
    stem: str  # the drop's name without extension: `cat` for cat.png, `x` for x_first.png + x_last.png
    images: list[Path]
    sidecars: list[Path] = field(default_factory=list)
    sha: str | None = None  # the ledger key, once hashed
    job_id: int | None = None
    previous: LedgerEntry | None = None  # the same bytes' earlier drop, whose job failed: this is a new attempt

    @property
    def label(self) -> str:
        """How the user named it: `cat.png`, or `x_first/x_last` for a pair."""
        names = [original_name(p) for p in self.images]
        return names[0] if len(names) == 1 else f"{self.stem} ({', '.join(names)})"

    @property
    def files(self) -> list[Path]:
        return [*self.images, *self.sidecars]


def ensure_folders(rule: Rule) -> None:
    for sub in OUTCOME_DIRS:
        private_dir(rule.folder / sub)


def drop_stem(rule: Rule, name: str) -> str | None:
    """The stem that groups a drop's files; None for an image a kf2v rule cannot pair (wrong name)."""
    stem = os.path.splitext(name)[0]
    if rule.mode is not Mode.KF2V:
        return stem
    match = PAIR_RE.match(stem)
    return match["stem"] if match else None


def frame_order(path: Path) -> int:
    match = PAIR_RE.match(os.path.splitext(original_name(path))[0])
    return 0 if match is None or match["which"].lower() == "first" else 1


def original_name(path: Path) -> str:
    """`cat.png` for `.processing/<token>__cat.png`; any other name as it is (`my__cat.png` stays whole)."""
    token, sep, rest = path.name.partition(SEP)
    return rest if sep and TOKEN_RE.fullmatch(token) else path.name


def claim(rule: Rule, stem: str, images: list[Path], sidecars: list[Path]) -> Claim:
    """Rename the drop's files into `.processing/` (FileNotFoundError when an image vanished first)."""
    token = uuid.uuid4().hex[:12]
    processing = rule.folder / PROCESSING
    private_dir(processing)
    moved: list[Path] = []
    try:
        for path in images:
            dest = processing / f"{token}{SEP}{path.name}"
            os.rename(path, dest)
            moved.append(dest)
    except OSError:
        for dest in moved:  # give back what was taken: a pair is claimed whole or not at all
            with contextlib.suppress(OSError):
                os.rename(dest, rule.folder / original_name(dest))
        raise
    taken_sidecars = [_take_sidecar(s, processing / f"{token}{SEP}{s.name}") for s in sidecars]
    return Claim(rule, token, stem, moved, [s for s in taken_sidecars if s is not None])


def _take_sidecar(path: Path, dest: Path) -> Path | None:
    """Move a sidecar along; copy it when another image still in the folder shares its stem (cat.png + cat.jpg)."""
    others = [p for p in path.parent.glob(f"{glob_escape(path.stem)}.*") if classify(p.name) is Kind.IMAGE]
    try:
        if others:
            shutil.copy2(path, dest)
        else:
            os.rename(path, dest)
    except OSError:
        return None  # a sidecar that vanished is no sidecar; the rule's defaults apply
    return dest


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def materialise_link(path: Path, target: Path) -> None:
    """Replace a claimed symlink by a copy of its (in-folder) target, so the upload reads what was hashed."""
    tmp = path.with_name(path.name + ".copying")
    shutil.copyfile(target, tmp)
    os.replace(tmp, path)


def processing_groups(rule: Rule) -> list[Claim]:
    """Put the drops in `.processing/` back together after a restart (grouped by their token)."""
    folder = rule.folder / PROCESSING
    groups: dict[str, list[Path]] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    for path in entries:
        if path.is_dir() or path.name.endswith(".copying"):
            continue
        token, sep, _ = path.name.partition(SEP)
        groups.setdefault(token if sep and TOKEN_RE.fullmatch(token) else path.name, []).append(path)
    claims = []
    for token, paths in groups.items():
        images = sorted((p for p in paths if classify(original_name(p)) is not Kind.SIDECAR), key=frame_order)
        sidecars = [p for p in paths if p not in images]
        if not images:
            continue  # sidecars whose image already moved on: left for the user
        stem = drop_stem(rule, original_name(images[0])) or os.path.splitext(original_name(images[0]))[0]
        claims.append(Claim(rule, token, stem, images, sidecars))
    return claims


def unique_stem(folder: Path, stem: str, names: list[str]) -> str:
    """`stem`, or `stem (n)` with the smallest n for which none of `names` (renamed) exists in `folder`."""
    candidate, n = stem, 0
    while any((folder / _restem(name, stem, candidate)).exists() for name in names):
        n += 1
        candidate = f"{stem} ({n})"
    return candidate


def settle(
    item: Claim, outcome: Outcome, reason: str | None = None, outputs: list[Path] | None = None
) -> dict[Path, Path]:
    """Move a drop's files to its outcome folder, with a reason file (failed) or its results (done).

    Returns where each file went. Sidecars go first and images last, so a crash in the middle leaves the
    first image in `.processing/`, where the next start finds the drop (and its job) again.
    """
    folder = item.rule.folder / outcome
    private_dir(folder)
    names = [original_name(p) for p in item.files]
    outputs = outputs or []
    names += [_output_name(item.stem, i, len(outputs), o) for i, o in enumerate(outputs, 1)]
    if reason is not None:
        names.append(_reason_name(item, item.stem))
    stem = unique_stem(folder, item.stem, names)
    moved: dict[Path, Path] = {}
    for path in [*item.sidecars, *reversed(item.images)]:
        dest = folder / _restem(original_name(path), item.stem, stem)
        if _move(path, dest):
            moved[path] = dest
    if reason is not None:
        write_reason(folder / _reason_name(item, stem), reason)
    for i, out in enumerate(outputs, 1):
        place_output(out, folder / _output_name(stem, i, len(outputs), out), item.rule.outputs)
    return moved


def refuse(rule: Rule, paths: list[Path], stem: str, outcome: Outcome, reason: str | None) -> None:
    """Move files that were never claimed (broken, unpairable) straight to an outcome folder."""
    settle(Claim(rule, "", stem, paths), outcome, reason)


def _restem(name: str, old: str, new: str) -> str:
    return new + name[len(old) :] if name.startswith(old) else name


def reason_path(item: Claim) -> Path:
    """Where `settle(item, ..., reason)` wrote the drop's reason file (beside its first image)."""
    return item.images[0].parent / _reason_name(item, item.stem)


def _reason_name(item: Claim, stem: str) -> str:
    if len(item.images) == 1:
        return _restem(original_name(item.images[0]), item.stem, stem) + ".reason.txt"
    return f"{stem}.reason.txt"


def _output_name(stem: str, index: int, count: int, output: Path) -> str:
    return f"{stem}.result{output.suffix}" if count == 1 else f"{stem}.result-{index}{output.suffix}"


def _move(src: Path, dest: Path) -> bool:
    try:
        os.rename(src, dest)
    except FileNotFoundError:
        return False  # already moved (a second settle after a crash in the middle of the first)
    return True


def write_reason(path: Path, reason: str) -> None:
    text = " ".join(reason.split())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text.rstrip(".") + ".\n")


def place_output(src: Path, dest: Path, how: str) -> None:
    """Put a result beside the original: a hard link (a symlink across filesystems) or a copy."""
    if how == "none" or not src.is_file():
        return
    try:
        if how == "copy":
            shutil.copy2(src, dest)
            return
        try:
            os.link(src, dest)
        except OSError:
            os.symlink(src.resolve(), dest)
    except OSError:
        pass  # the result stays in the output folder either way; this is a convenience copy
