"""Export results: copy them to a folder, or into one .zip, each with a JSON sidecar saying how it was made.

The sidecar of `7_1.mp4` is `7_1.mp4.json`: the record qwentui writes into every output (provenance.py: the
request, the model, the seed, the task id; `qwentui submit --from` reads it), plus the usage, the culling
marks and where the job came from, so a result keeps its recipe wherever it goes. Files are written
under a temporary name and moved into place (a zip as a whole), so an interrupted export never leaves a
truncated file under the final name. Everything here blocks on the disk: the async entry point runs the
copying in a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwentui.core import provenance
from qwentui.core.errors import QwentuiError
from qwentui.core.store import Asset, Job, Link, Store

SIDECAR_SUFFIX = ".json"
# already compressed: deflating them again costs time for nothing
STORED_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".png", ".jpg", ".jpeg", ".webp"})


class ExportError(QwentuiError):
    """Nothing could be exported, or the destination cannot be written; the message says why."""


@dataclass(frozen=True)
class Item:
    """One result to export: its file (or text), the name it gets, and its sidecar."""

    job_id: int
    name: str
    source: Path | None  # the result file on disk
    text: str | None  # a text result kept in the database only
    sidecar: dict[str, Any]


@dataclass
class ExportReport:
    written: list[str] = field(default_factory=list)  # names inside the folder or zip (files and sidecars)
    skipped: list[str] = field(default_factory=list)  # "job 4: still running", one line each


def sidecar(job: Job, asset: Asset, parents: Sequence[Link]) -> dict[str, Any]:
    """How a result was made, as plain JSON: the record every qwentui output carries (provenance.py, so
    `qwentui submit --from <file>.json` reads it back), plus what an export adds (never the API key: the store
    refuses to keep one)."""
    record = provenance.record_for(job, asset.idx).to_dict()
    added = {
        "file": Path(asset.path).name if asset.path else None,
        "kind": asset.kind,
        "usage": job.usage,
        "request_id": job.request_id,
        "finished_at": job.finished_at,
        "width": asset.width,
        "height": asset.height,
        "duration": asset.duration,
        "sha256": asset.sha256,
        "rating": job.rating,
        "starred": job.starred,
        "rejected": job.rejected,
        "lineage": [{"parent_id": lk.parent_id, "relation": lk.relation, "position": lk.position} for lk in parents],
        "source": job.source,
        "source_path": job.source_path,
    }
    return {**record, **{k: v for k, v in added.items() if k not in record}}


async def collect(store: Store, job_ids: Sequence[int]) -> tuple[list[Item], list[str]]:
    """The results of these jobs, in order, and a line for each job (or file) that has none to export."""
    items: list[Item] = []
    skipped: list[str] = []
    names: set[str] = set()
    for job_id in dict.fromkeys(job_ids):
        job = await store.get_job(job_id)
        if job is None:
            skipped.append(f"job {job_id}: no such job")
            continue
        assets = await store.assets(job.id)
        if not assets:
            skipped.append(f"job {job.id}: no results ({job.state.value})")
            continue
        parents = await store.parents(job.id)
        for asset in assets:
            path = Path(asset.path) if asset.path else None
            if path is not None and not path.is_file():
                skipped.append(f"job {job.id}: result {asset.idx} is missing on disk ({path})")
                continue
            if path is None and asset.text is None:
                skipped.append(f"job {job.id}: result {asset.idx} was never downloaded")
                continue
            name = path.name if path is not None else f"{job.id}_{asset.idx}.txt"
            if name in names:  # two jobs' files with one name (a folder of files assembled, say)
                name = f"{job.id}_{name}"
            names.add(name)
            items.append(Item(job.id, name, path, asset.text, sidecar(job, asset, parents)))
    return items, skipped


def _sidecar_bytes(item: Item) -> bytes:
    return (json.dumps(item.sidecar, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def _write_atomic(dest: Path, data: bytes | None = None, source: Path | None = None) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        if source is not None:
            shutil.copyfile(source, tmp)
        else:
            Path(tmp).write_bytes(data or b"")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_folder(items: Sequence[Item], folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for item in items:
        if item.source is not None:
            _write_atomic(folder / item.name, source=item.source)
        else:
            _write_atomic(folder / item.name, data=(item.text or "").encode())
        _write_atomic(folder / (item.name + SIDECAR_SUFFIX), data=_sidecar_bytes(item))
        written += [item.name, item.name + SIDECAR_SUFFIX]
    return written


def write_zip(items: Sequence[Item], dest: Path) -> list[str]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    written = []
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for item in items:
                if item.source is not None:
                    stored = item.source.suffix.lower() in STORED_SUFFIXES
                    zf.write(item.source, item.name, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
                else:
                    zf.writestr(item.name, item.text or "")
                zf.writestr(item.name + SIDECAR_SUFFIX, _sidecar_bytes(item))
                written += [item.name, item.name + SIDECAR_SUFFIX]
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written


async def export(store: Store, job_ids: Sequence[int], dest: Path) -> ExportReport:
    """Copy the results of `job_ids` into the folder `dest`, or into the zip `dest` when it ends in .zip."""
    items, skipped = await collect(store, job_ids)
    if not items:
        why = "; ".join(skipped) or "no jobs given"
        raise ExportError(f"nothing to export: {why}")
    try:
        if dest.suffix.lower() == ".zip":
            written = await asyncio.to_thread(write_zip, items, dest)
        else:
            written = await asyncio.to_thread(write_folder, items, dest)
    except OSError as exc:
        raise ExportError(f"cannot write {dest}: {exc.strerror or exc}") from None
    return ExportReport(written, skipped)
