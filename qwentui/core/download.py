"""Streaming downloads of result files: `.part`, fsync, rename, sha256, Range resume, and the URL rules.

Result URLs are signed OSS links that expire after 24 h and act as bearer credentials until then, so they are
redacted in every message. They come from a server response, so they are untrusted: only http(s) is fetched
(at every redirect hop), the API key is never sent with them, and local file names are built by qwentui
(`<job>_<n>.<ext>`), never taken from the URL or a header.

`download()` makes one attempt (following redirects) and raises `DownloadError` saying whether another attempt
can help; the engine owns the retry schedule and the expiry deadline. A `.part` left by an interrupted attempt
is resumed with an HTTP Range request.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from qwentui.core.config import private_dir
from qwentui.core.tls import tls_context

CHUNK = 256 * 1024
MAX_REDIRECTS = 5
TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=30.0, pool=15.0)
ALLOWED_SCHEMES = frozenset({"http", "https"})
ALLOWED_EXTS = frozenset({"png", "jpg", "jpeg", "webp", "bmp", "mp4", "mov", "webm", "md", "json"})
CONTENT_TYPE_EXTS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "application/json": "json",
}
# OSS answers 403 for an expired signature; 404/410 mean the object is gone. Either way the URL is dead
# unless it is still inside its validity window (then it may be a transient refusal).
EXPIRED_STATUSES = frozenset({403, 404, 410})
RETRYABLE_STATUSES = frozenset({408, 425, 429})
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)

Progress = Callable[[int, int | None], None]


def _user_agent() -> str:
    try:
        return f"qwentui/{version('qwentui')}"
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "qwentui/dev"


USER_AGENT = _user_agent()


class DownloadError(Exception):
    """One failed download attempt. `retryable`: another attempt may succeed. `expired`: the host refused the
    signed URL (403/404/410). `disk_full`: the local disk is full. The message never holds a URL's query."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        expired: bool = False,
        disk_full: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.expired = expired
        self.disk_full = disk_full
        self.status = status


class UnsafePathError(ValueError):
    """An output path that would not be a plain file name inside the output folder."""


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    size: int
    sha256: str
    content_type: str | None


class _RangeRefused(Exception):
    """The server cannot continue the .part (416, or a 206 for another offset): start again from zero."""


# ---------------------------------------------------------------- URLs


def redact_url(url: str) -> str:
    """`url` without its query, fragment and user info: safe for logs (the query holds the signature)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_SIGNED_QUERY = re.compile(r"(?i)[?&](signature|x-oss-signature|x-oss-credential|ossaccesskeyid|security-token)=")


class _RedactSignedUrls(logging.Filter):
    """httpx logs every request's URL at INFO (`-v`): keep the query of signed URLs out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_SIGNED_QUERY.search(str(a)) for a in record.args):
            record.args = tuple(redact_url(str(a)) if _SIGNED_QUERY.search(str(a)) else a for a in record.args)
        return True


if not any(isinstance(f, _RedactSignedUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(_RedactSignedUrls())


def url_expiry(url: str) -> float | None:
    """Unix time at which an OSS signed URL expires: `Expires=<unix>` (V1) or `x-oss-date` + `x-oss-expires`
    (V4). None when the URL carries neither (or they do not parse)."""
    try:
        query = {key.lower(): value for key, value in parse_qsl(urlsplit(url).query)}
    except ValueError:
        return None
    try:
        if "expires" in query:
            return float(int(query["expires"]))
        if "x-oss-date" in query and "x-oss-expires" in query:
            signed = datetime.strptime(query["x-oss-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return signed.timestamp() + int(query["x-oss-expires"])
    except ValueError:
        return None
    return None


def check_url(url: str, allowed_hosts: Collection[str] | None = None) -> None:
    """Raise a non-retryable DownloadError unless `url` is http(s) with a host (in `allowed_hosts`, if given:
    exact names or `*.suffix` patterns)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DownloadError(f"not a valid URL: {redact_url(url)}", retryable=False) from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise DownloadError(
            f"refused to fetch a {parsed.scheme or 'scheme-less'}: URL (only http and https)", retryable=False
        )
    host = parsed.host.lower()
    if not host:
        raise DownloadError(f"the URL has no host: {redact_url(url)}", retryable=False)
    if allowed_hosts is not None and not any(_host_matches(host, p) for p in allowed_hosts):
        raise DownloadError(f"refused to fetch from {host}: not an allowed result host", retryable=False)


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


# ---------------------------------------------------------------- local paths


def choose_ext(content_type: str | None, url: str, default: str = "png") -> str:
    """A whitelisted extension: from the content type, else the URL path's suffix, else `default`."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in CONTENT_TYPE_EXTS:
        return CONTENT_TYPE_EXTS[mime]
    try:
        suffix = PurePosixPath(urlsplit(url).path).suffix.lower().lstrip(".")
    except ValueError:
        suffix = ""
    if suffix in ALLOWED_EXTS:
        return suffix
    return _clean_ext(default)


def _clean_ext(ext: str) -> str:
    clean = ext.lower().lstrip(".")
    if clean not in ALLOWED_EXTS:
        raise UnsafePathError(f"extension {ext!r} is not one qwentui writes ({', '.join(sorted(ALLOWED_EXTS))})")
    return clean


def ensure_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700 (existing folders are left as they are)."""
    return private_dir(path)


def safe_output_path(output_dir: Path, job_id: str, index: int, ext: str) -> Path:
    """`<output_dir>/<job_id>_<index>.<ext>` with `index` 1-based (the first result is 1). Creates output_dir
    (0700); raises UnsafePathError for a job id or extension that is not a plain name, or a path that resolves
    outside output_dir (e.g. through a symlink planted at the target)."""
    clean_ext = _clean_ext(ext)
    if not _JOB_ID.fullmatch(job_id):
        raise UnsafePathError(f"job id {job_id!r} is not a plain name")
    if isinstance(index, bool) or index < 1:
        raise UnsafePathError(f"result index must be 1 or more, not {index!r}")
    root = ensure_private_dir(output_dir).resolve()
    path = root / f"{job_id}_{index}.{clean_ext}"
    if not path.resolve().is_relative_to(root):
        raise UnsafePathError(f"{path.name} would be written outside {root}")
    return path


# ---------------------------------------------------------------- the client


async def _guard_request(request: httpx.Request) -> None:
    # Runs for every hop, redirects included: the scheme rule holds wherever the server sends us.
    check_url(str(request.url))
    request.headers.pop("Authorization", None)


def make_download_client(
    *, transport: httpx.AsyncBaseTransport | None = None, timeout: httpx.Timeout = TIMEOUT
) -> httpx.AsyncClient:
    """The client for result files: no auth, a qwentui User-Agent, timeouts, redirects only to http(s).
    Keep it apart from the API client so the API key can never reach a result host."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_guard_request]},
        verify=tls_context() if transport is None else True,  # one context a process (qwentui/core/tls.py)
    )


# ---------------------------------------------------------------- download


async def download(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    chunk: int = CHUNK,
    progress: Progress | None = None,
    allowed_hosts: Collection[str] | None = None,
) -> DownloadedFile:
    """Download `url` to `dest` (via `dest` + `.part`, resumed if one exists), mode 0600, sha256 computed
    while streaming. Raises DownloadError. On a truncated body the `.part` is kept for the next attempt;
    on a full disk it is removed (it holds space the user needs back, and its last write is suspect)."""
    if chunk < 1:
        raise ValueError("chunk must be positive")
    part = dest.with_suffix(dest.suffix + ".part")
    try:
        ensure_private_dir(dest.parent)
        have = _size_of(part)
        while True:
            try:
                return await _attempt(client, url, dest, part, have, expected_size, chunk, progress, allowed_hosts)
            except _RangeRefused:
                if not have:
                    raise DownloadError(
                        f"{dest.name}: the server sent a partial body for a plain GET", retryable=True
                    ) from None
                part.unlink(missing_ok=True)  # it cannot be continued: start again from zero
                have = 0
    except OSError as exc:
        raise _local_error(exc, part, dest.name) from exc


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    part: Path,
    have: int,
    expected_size: int | None,
    chunk: int,
    progress: Progress | None,
    allowed_hosts: Collection[str] | None,
) -> DownloadedFile:
    async with _open_response(client, url, have, allowed_hosts) as response:
        offset, total = _resume_point(response, have)
        if expected_size is not None and total is not None and total != expected_size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{dest.name}: the server sends {total} bytes, {expected_size} were expected", retryable=False
            )
        hasher = await asyncio.to_thread(_hash_prefix, part, offset) if offset else hashlib.sha256()
        if progress and offset:
            progress(offset, total)
        fd = _open_part(part, offset)
        try:
            size = await _stream(response, fd, hasher, offset, total, chunk, progress, dest.name)
            _check_length(response, part, dest.name, size, total)
        except BaseException:
            os.close(fd)
            raise
        # The thread closes the fd itself, so a cancellation here cannot close it under a running fsync.
        await asyncio.to_thread(_fsync_and_close, fd)
        content_type = response.headers.get("Content-Type")
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{dest.name}: got {size} bytes, {expected_size} were expected", retryable=False)
    await asyncio.to_thread(_commit, part, dest)
    mime = content_type.split(";")[0].strip().lower() if content_type else None
    return DownloadedFile(dest, size, hasher.hexdigest(), mime or None)


@asynccontextmanager
async def _open_response(
    client: httpx.AsyncClient, url: str, have: int, allowed_hosts: Collection[str] | None
) -> AsyncIterator[httpx.Response]:
    """GET `url`, following redirects by hand so the rules hold whatever client the caller passes in."""
    # identity: lengths and ranges then count the file's own bytes
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    hop = url
    for _ in range(MAX_REDIRECTS + 1):
        check_url(hop, allowed_hosts)
        request = client.build_request("GET", hop, headers=headers)
        request.headers.pop("Authorization", None)  # a client built for the API must not leak its key here
        request.headers.pop("Cookie", None)
        try:
            response = await client.send(request, stream=True, follow_redirects=False, auth=None)
        except httpx.TransportError as exc:
            raise DownloadError(
                f"network error fetching {redact_url(hop)} ({type(exc).__name__})", retryable=True
            ) from exc
        if response.has_redirect_location:
            await response.aclose()
            hop = str(response.url.join(response.headers["Location"]))
            continue
        try:
            _check_status(response, url, have)
            yield response
        finally:
            await response.aclose()
        return
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects from {redact_url(url)}", retryable=False)


def _check_status(response: httpx.Response, url: str, have: int) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status == 416 and have:
        raise _RangeRefused
    where = redact_url(str(response.url))
    if status in EXPIRED_STATUSES:
        expires = url_expiry(url)
        if expires is not None and time.time() >= expires:
            when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise DownloadError(
                f"the result URL expired at {when} (HTTP {status} from {where})",
                retryable=False,
                expired=True,
                status=status,
            )
        # Inside its validity window (or no known expiry) a refusal may be passing: let the engine decide.
        raise DownloadError(
            f"the result host refused the URL (HTTP {status} from {where})",
            retryable=expires is not None,
            expired=True,
            status=status,
        )
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    raise DownloadError(f"HTTP {status} from {where}", retryable=retryable, status=status)


def _resume_point(response: httpx.Response, have: int) -> tuple[int, int | None]:
    """(bytes already in the .part that this response continues, the file's full size if known)."""
    length = _content_length(response)
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    if response.status_code == 200:
        return 0, None if encoded else length
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if not match or int(match.group(1)) != have or encoded:
        raise _RangeRefused
    if match.group(3) != "*":
        return have, int(match.group(3))
    return have, None if length is None else have + length


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


async def _stream(
    response: httpx.Response,
    fd: int,
    hasher: hashlib._Hash,
    done: int,
    total: int | None,
    chunk: int,
    progress: Progress | None,
    name: str,
) -> int:
    """Append the body to `fd` in writes of about `chunk` bytes; return the file's size."""
    # Pieces are gathered here rather than by aiter_bytes(chunk), whose buffer would be lost when the
    # connection drops: everything received is on disk before the error is raised, ready for a resume.
    pending = bytearray()
    try:
        async for piece in response.aiter_bytes():
            hasher.update(piece)
            pending += piece
            if len(pending) >= chunk:
                done = _flush(fd, pending, done, total, progress)
    except httpx.TransportError as exc:
        done = _flush(fd, pending, done, total, progress)
        raise DownloadError(
            f"connection dropped after {done} of {total or '?'} bytes of {name} "
            f"({type(exc).__name__}); the .part is kept to resume",
            retryable=True,
        ) from exc
    except httpx.HTTPError as exc:
        raise DownloadError(f"cannot read the body of {name} ({type(exc).__name__})", retryable=False) from exc
    return _flush(fd, pending, done, total, progress)


def _flush(fd: int, pending: bytearray, done: int, total: int | None, progress: Progress | None) -> int:
    if not pending:
        return done
    _write_all(fd, pending)
    done += len(pending)
    pending.clear()
    if progress:
        progress(done, total)
    return done


def _check_length(response: httpx.Response, part: Path, name: str, size: int, total: int | None) -> None:
    # The wire count catches a body that just stops early (no error raised by the transport).
    wire = _content_length(response)
    got = response.num_bytes_downloaded
    if wire is not None and got < wire:
        raise DownloadError(
            f"{name} is truncated: {got} of {wire} bytes arrived; the .part is kept to resume", retryable=True
        )
    if (wire is not None and got > wire) or (total is not None and size != total):
        part.unlink(missing_ok=True)
        raise DownloadError(f"{name}: the server sent {size} bytes for a {total or wire}-byte file", retryable=True)


# ---------------------------------------------------------------- local files


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _hash_prefix(part: Path, length: int) -> hashlib._Hash:
    hasher = hashlib.sha256()
    with part.open("rb") as fh:
        remaining = length
        while remaining and (block := fh.read(min(CHUNK, remaining))):
            hasher.update(block)
            remaining -= len(block)
    return hasher


def _open_part(part: Path, offset: int) -> int:
    fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a .part left by an older run may carry other bits
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _commit(part: Path, dest: Path) -> None:
    os.replace(part, dest)
    try:
        dir_fd = os.open(dest.parent, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename is still done
        return
    try:
        os.fsync(dir_fd)  # makes the rename itself durable
    finally:
        os.close(dir_fd)


def _local_error(exc: OSError, part: Path, name: str) -> DownloadError:
    if exc.errno in DISK_FULL_ERRNOS:
        try:
            part.unlink(missing_ok=True)
        except OSError:
            pass
        return DownloadError(
            f"disk full while writing {name}; free space and it will resume", retryable=True, disk_full=True
        )
    # A local problem (read-only or missing folder, permissions) is the user's to fix while the URL is still
    # valid: retryable, and the engine's expiry deadline bounds the retries.
    return DownloadError(
        f"cannot write {name} in {part.parent}: {exc.strerror or exc}; fix the folder and it will resume",
        retryable=True,
    )
