"""Download the results of a SUCCEEDED job, resumably, before their URLs expire.

Files are named by qwentui (`<job>_<n>.<ext>`), written through `.part` + fsync + rename by `download.py`, and
recorded as assets with their size and sha256. Items already recorded are skipped, so a restart in the middle
resumes where it stopped. Interleaved results keep their text in `<job>_text.md` beside the images.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import httpx

from qwentui.core import provenance
from qwentui.core.config import write_private
from qwentui.core.crashpoints import crashpoint
from qwentui.core.download import DownloadError, choose_ext, download, ensure_private_dir, safe_output_path
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store

log = logging.getLogger(__name__)

# Tests shrink the chunk to stop in the middle of a small file; 256 KiB otherwise.
DOWNLOAD_CHUNK = int(os.environ.get("QWENTUI_DOWNLOAD_CHUNK", 256 * 1024))


def result_items(job: Job) -> list[dict[str, str | None]]:
    try:
        items = json.loads(job.results_json or "[]")
    except ValueError:
        return []
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


class Fetcher:
    def __init__(
        self,
        store: Store,
        http: httpx.AsyncClient,
        output_dir: Path,
        policy: SchedulePolicy,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.http = http
        self.output_dir = output_dir
        self.policy = policy
        self.clock = clock
        self.bytes_downloaded = 0
        self.disk_full = False
        self.sidecars: provenance.Sidecars = "drop"  # `<file>.json` beside outputs: settings [outputs] sidecar

    async def fetch(self, job: Job) -> Job:
        job = await self.store.transition(job.id, JobState.DOWNLOADING, expect=JobState.SUCCEEDED, detail="downloading")
        out = Path(job.output_dir) if job.output_dir else self.output_dir
        done = {a.idx for a in await self.store.assets(job.id)}
        items = result_items(job)
        try:
            for idx, item in enumerate(items, start=1):
                url = item.get("url")
                if idx in done or not url:
                    continue
                dest = safe_output_path(out, str(job.id), idx, _ext(item.get("kind"), url))
                got = await download(self.http, url, dest, chunk=DOWNLOAD_CHUNK, progress=_crash_mid_download)
                self.bytes_downloaded += got.size
                # the request goes into the file; the asset records the tagged file (the record, the served one)
                saved = await provenance.remember(self.store, job, idx, got, sidecars=self.sidecars)
                kind: Literal["image", "video"] = "video" if item.get("kind") == "video" else "image"
                await self.store.add_asset(
                    job.id, idx, kind=kind, url=url, path=str(got.path), size=saved.size, sha256=saved.sha256
                )
            text = _markdown(job, items)
            if text and 0 not in done:
                dest = ensure_private_dir(out) / f"{job.id}_text.md"
                write_private(dest, text)
                await self.store.add_asset(
                    job.id, 0, kind="text", url=None, path=str(dest), size=dest.stat().st_size, sha256=None
                )
        except DownloadError as exc:
            return await self._failed(job, exc)
        except OSError as exc:
            return await self._failed(
                job, DownloadError(f"cannot write to {out}: {exc.strerror or exc}", retryable=True)
            )
        self.disk_full = False
        return await self.store.transition(
            job.id,
            JobState.DONE,
            expect=JobState.DOWNLOADING,
            detail=f"{len(items)} result(s) saved",
            finished_at=self.clock(),
        )

    async def _failed(self, job: Job, exc: DownloadError) -> Job:
        now = self.clock()
        # download.py says whether another try can help (a 403 inside the URL's validity may be transient)
        expired = job.results_expire_at is not None and now >= job.results_expire_at
        if expired or not exc.retryable:
            return await self.store.transition(
                job.id,
                JobState.EXPIRED,
                expect=JobState.DOWNLOADING,
                detail="download impossible",
                error_code="DownloadFailed",
                finished_at=now,
                error_message=f"the results could not be downloaded: {exc}",
            )
        if getattr(exc, "disk_full", False):
            self.disk_full = True
        attempt = job.poll_count + 1
        return await self.store.transition(
            job.id,
            JobState.SUCCEEDED,
            expect=JobState.DOWNLOADING,
            detail=f"download will retry: {exc}",
            next_check_at=now + self.policy.retry_delay(min(attempt, 6)),
            poll_count=attempt,
            error_message=f"download retrying: {exc}",
        )


def _ext(kind: str | None, url: str) -> str:
    return choose_ext(None, url, default="mp4" if kind == "video" else "png")


def _crash_mid_download(done: int, total: int | None) -> None:
    # bytes are in the .part, the file is not committed yet (with a small chunk, not even complete)
    if done > 0:
        crashpoint("mid_download")


def _markdown(job: Job, items: list[dict[str, str | None]]) -> str:
    """Interleaved text with the images in place, as `<job>_<n>.<ext>` links (or nothing when no text)."""
    if not any(i.get("kind") == "text" and i.get("text") for i in items):
        return ""
    lines = [f"# Job {job.id}: {job.prompt}", ""]
    for idx, item in enumerate(items, start=1):
        if item.get("kind") == "text" and item.get("text"):
            lines += [str(item["text"]), ""]
        elif item.get("url"):
            name = f"{job.id}_{idx}.{_ext(item.get('kind'), str(item['url']))}"
            lines += [f"![image {idx}]({name})", ""]
    return "\n".join(lines)
