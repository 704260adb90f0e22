"""Result files behind signed, expiring URLs, served like OSS does.

URLs look like OSS signed URLs (`...?Expires=<unix>&OSSAccessKeyId=sim&Signature=<base64, %-encoded>`),
need no auth, answer 403 in OSS's XML once expired or when the signature does not match, support
`Range` (206) and HEAD, and can be cut short on purpose (`truncate_rate`). Bytes are rendered on first
download from the task's spec and cached; the sha256 of every file served is kept for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import quote

from starlette.responses import Response

from qwentui.sim.config import SimConfig
from qwentui.sim.errors import DroppedResponse, OssError
from qwentui.sim.faults import Faults
from qwentui.sim.media import MediaCache, MediaSpec
from qwentui.sim.tasks import Task, TaskStore

FILES_PREFIX = "/files"
ACCESS_KEY_ID = "sim"
_PATH = re.compile(r"^/files/(?P<task>[0-9a-f-]{36})/(?P<index>\d+)\.(?P<ext>png|mp4)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class FileRef:
    task: Task
    index: int
    spec: MediaSpec
    expires: int


class ResultFiles:
    def __init__(self, config: SimConfig, store: TaskStore, faults: Faults) -> None:
        self.config = config
        self.store = store
        self.faults = faults
        self.media = MediaCache(config.media_cache_bytes)
        self.sha256: dict[str, str] = {}  # URL path -> sha256 hex of the bytes served there
        self._lock = threading.Lock()

    # ---- naming -------------------------------------------------------------------------------------------

    @staticmethod
    def path_for(task: Task, index: int) -> str:
        ext = "mp4" if task.job.is_video else "png"
        return f"{FILES_PREFIX}/{task.task_id}/{index}.{ext}"

    def expires_for(self, task: Task) -> int:
        return int(task.ends_at + self.config.result_url_ttl)

    def url_for(self, task: Task, index: int, base: str) -> str:
        path = self.path_for(task, index)
        expires = self.expires_for(task)
        sig = quote(self._sign(path, expires), safe="")
        return f"{base}{path}?Expires={expires}&OSSAccessKeyId={ACCESS_KEY_ID}&Signature={sig}"

    def _sign(self, path: str, expires: int) -> str:
        mac = hmac.new(self.store.secret, f"GET\n{expires}\n{path}".encode(), hashlib.sha1).digest()
        return base64.b64encode(mac).decode()

    def spec_for(self, task: Task, index: int) -> MediaSpec:
        job = task.job
        count = 1 if job.is_video else job.n
        label = f"{job.row.model} {index + 1}/{count}"
        if job.is_video:
            return MediaSpec(
                "mp4",
                job.width,
                job.height,
                job.prompt,
                task.seed,
                label,
                duration=job.duration or 5,
                audio=job.audio,
                fps=self.config.video_fps,
            )
        return MediaSpec("png", job.width, job.height, job.prompt, task.seed + index, label)

    # ---- lookup -------------------------------------------------------------------------------------------

    def lookup(self, path: str, now: float) -> FileRef | None:
        """The file at `path` if it exists now (no signature check)."""
        m = _PATH.match(path)
        task = self.store.get(m["task"]) if m else None
        if m is None or task is None or task.failure or task.canceled_at is not None or now < task.ends_at:
            return None
        index = int(m["index"])
        if index not in task.ok_items() or m["ext"] != ("mp4" if task.job.is_video else "png"):
            return None
        return FileRef(task, index, self.spec_for(task, index), self.expires_for(task))

    def resolve(self, path: str, query: Mapping[str, str], now: float) -> FileRef:
        """The file behind a signed URL, or OssError (404 NoSuchKey, 403 expired / bad signature)."""
        ref = self.lookup(path, now)
        if ref is None:
            raise OssError(404, "NoSuchKey", "The specified key does not exist.", {"Key": path.lstrip("/")})
        expires_raw, sig = query.get("Expires", ""), query.get("Signature", "")
        if not expires_raw or not sig or query.get("OSSAccessKeyId") != ACCESS_KEY_ID:
            raise OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
        if not expires_raw.isdigit() or not hmac.compare_digest(sig, self._sign(path, int(expires_raw))):
            raise OssError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        expires = int(expires_raw)
        if now > expires:
            raise OssError(
                403, "AccessDenied", "Request has expired.", {"Expires": _iso(expires), "ServerTime": _iso(now)}
            )
        return ref

    def data(self, ref: FileRef) -> bytes:
        data = self.media.get(ref.spec)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self.sha256[self.path_for(ref.task, ref.index)] = digest
        return data

    def forget(self, task_ids: list[str]) -> None:
        """Drop the recorded hashes of pruned tasks' files."""
        prefixes = tuple(f"{FILES_PREFIX}/{tid}/" for tid in task_ids)
        if prefixes:
            with self._lock:
                for path in [p for p in self.sha256 if p.startswith(prefixes)]:
                    del self.sha256[path]

    # ---- serving ------------------------------------------------------------------------------------------

    def response(self, ref: FileRef, data: bytes, method: str, range_header: str | None) -> Response:
        digest = self.sha256[self.path_for(ref.task, ref.index)]
        headers = {
            "ETag": f'"{digest[:32].upper()}"',
            "Accept-Ranges": "bytes",
            "Last-Modified": _http_date(ref.task.ends_at),
            "x-oss-object-type": "Normal",
        }
        status, body = 200, data
        if range_header:
            span = _parse_range(range_header, len(data))
            if span is None:
                headers["Content-Range"] = f"bytes */{len(data)}"
                return Response(b"", status_code=416, headers=headers)
            start, end = span
            body, status = data[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(b"", status_code=status, headers=headers, media_type=ref.spec.content_type)
        if len(body) > 1 and self.faults.roll(self.config.truncate_rate):
            return DroppedResponse(
                body, partial=len(body) // 2, status_code=status, headers=headers, media_type=ref.spec.content_type
            )
        return Response(body, status_code=status, headers=headers, media_type=ref.spec.content_type)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range -> inclusive (start, end), or None when unsatisfiable or malformed."""
    m = _RANGE.match(header.strip())
    if not m or (not m[1] and not m[2]):
        return None
    if not m[1]:  # suffix range: the last N bytes
        n = int(m[2])
        return (max(0, size - n), size - 1) if n > 0 else None
    start = int(m[1])
    end = min(int(m[2]), size - 1) if m[2] else size - 1
    return (start, end) if start <= end and start < size else None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)
