"""Downloads against an in-process result host (Starlette through httpx.ASGITransport) serving real bytes."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from qwentui.core import download as dl
from qwentui.core.download import (
    DownloadError,
    UnsafePathError,
    choose_ext,
    download,
    make_download_client,
    redact_url,
    safe_output_path,
    url_expiry,
)

BODY = os.urandom(1024 * 1024 + 123)  # not a multiple of any chunk size
SHA = hashlib.sha256(BODY).hexdigest()
HOST = "http://results.test"


class ResultHost:
    """A result host with one route per misbehaviour; it records every request's headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.calls: dict[str, int] = {}
        self.app = Starlette(routes=[Route("/{name}", self.serve)])

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.seen.append((name, dict(request.headers)))
        self.calls[name] = n = self.calls.get(name, 0) + 1
        if name == "file.png":
            return ranged(request, BODY)
        if name == "truncated.png":  # Content-Length says more than the body holds
            return Response(BODY[:1000], headers={"content-length": str(len(BODY))}, media_type="image/png")
        if name == "truncated-then-ranged.png":
            if n == 1:
                return Response(BODY[:300_000], headers={"content-length": str(len(BODY))}, media_type="image/png")
            return ranged(request, BODY)
        if name == "no-ranges.png":  # ignores Range, always the whole file
            return Response(BODY, media_type="image/png")
        if name == "flaky.png":
            return Response(b"oops", status_code=500) if n == 1 else ranged(request, BODY)
        if name == "expired.png":
            return Response(b"<Error><Code>AccessDenied</Code></Error>", status_code=403)
        if name == "to-file":
            return RedirectResponse("file:///etc/passwd", status_code=302)
        if name == "to-other-host":
            return RedirectResponse("http://cdn.test/file.png", status_code=302)
        if name == "loop":
            return RedirectResponse(f"{HOST}/loop", status_code=302)
        return Response(status_code=404)


def ranged(request: Request, body: bytes) -> Response:
    """Serve `body`, honouring a `Range: bytes=N-` header the way OSS does (206, or 416 past the end)."""
    header = request.headers.get("range")
    if not header:
        return Response(body, media_type="image/png")
    start = int(header.removeprefix("bytes=").rstrip("-"))
    if start >= len(body):
        return Response(status_code=416, headers={"content-range": f"bytes */{len(body)}"})
    return Response(
        body[start:],
        status_code=206,
        media_type="image/png",
        headers={"content-range": f"bytes {start}-{len(body) - 1}/{len(body)}"},
    )


@pytest.fixture
def host() -> ResultHost:
    return ResultHost()


@pytest.fixture
async def client(host: ResultHost) -> AsyncIterator[httpx.AsyncClient]:
    async with make_download_client(transport=httpx.ASGITransport(app=host.app)) as c:
        yield c


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


async def test_normal_download(client: httpx.AsyncClient, host: ResultHost, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "job_1.png"
    seen: list[tuple[int, int | None]] = []
    got = await download(
        client, f"{HOST}/file.png", dest, chunk=64 * 1024, progress=lambda done, total: seen.append((done, total))
    )
    assert dest.read_bytes() == BODY
    assert (got.path, got.size, got.sha256, got.content_type) == (dest, len(BODY), SHA, "image/png")
    assert dest.stat().st_mode & 0o777 == 0o600
    assert (dest.parent.stat().st_mode & 0o777) == 0o700
    assert not part_of(dest).exists()
    assert seen[-1] == (len(BODY), len(BODY))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    headers = host.seen[0][1]
    assert "authorization" not in headers
    assert headers["user-agent"].startswith("qwentui/")


async def test_expected_size_mismatch_is_refused(client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / "job_1.png"
    with pytest.raises(DownloadError) as info:
        await download(client, f"{HOST}/file.png", dest, expected_size=10)
    assert not info.value.retryable
    assert not dest.exists() and not part_of(dest).exists()


async def test_api_client_key_is_never_sent(host: ResultHost, tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=host.app)
    async with httpx.AsyncClient(transport=transport, headers={"Authorization": "Bearer sk-secret"}) as api:
        await download(api, f"{HOST}/file.png", tmp_path / "a.png")
    async with httpx.AsyncClient(transport=transport, auth=("user", "sk-secret")) as api:
        await download(api, f"{HOST}/file.png", tmp_path / "b.png")
    assert len(host.seen) == 2
    assert all("authorization" not in headers for _, headers in host.seen)


async def test_truncated_body_keeps_part_then_resumes_with_range(
    client: httpx.AsyncClient, host: ResultHost, tmp_path: Path
) -> None:
    dest = tmp_path / "job_1.png"
    url = f"{HOST}/truncated-then-ranged.png?Expires=9999999999&Signature=abc"
    with pytest.raises(DownloadError) as info:
        await download(client, url, dest)
    assert info.value.retryable and not info.value.expired
    assert "truncated" in info.value.message and "Signature" not in info.value.message
    assert part_of(dest).read_bytes() == BODY[:300_000]
    assert not dest.exists()

    seen: list[tuple[int, int | None]] = []
    got = await download(client, url, dest, progress=lambda done, total: seen.append((done, total)))
    assert host.seen[-1][1]["range"] == "bytes=300000-"
    assert got.sha256 == SHA and got.size == len(BODY)
    assert dest.read_bytes() == BODY
    assert not part_of(dest).exists()
    assert seen[0] == (300_000, len(BODY))


async def test_always_truncated_is_retryable(client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / "job_1.png"
    with pytest.raises(DownloadError) as info:
        await download(client, f"{HOST}/truncated.png", dest)
    assert info.value.retryable
    assert part_of(dest).stat().st_size == 1000


async def test_server_ignoring_range_restarts_from_zero(
    client: httpx.AsyncClient, host: ResultHost, tmp_path: Path
) -> None:
    dest = tmp_path / "job_1.png"
    part_of(dest).write_bytes(b"stale bytes that must not end up in the file")
    got = await download(client, f"{HOST}/no-ranges.png", dest)
    assert "range" in host.seen[0][1]
    assert got.sha256 == SHA and dest.read_bytes() == BODY


async def test_part_longer_than_file_416_restarts(client: httpx.AsyncClient, host: ResultHost, tmp_path: Path) -> None:
    dest = tmp_path / "job_1.png"
    part_of(dest).write_bytes(b"x" * (len(BODY) + 10))
    got = await download(client, f"{HOST}/file.png", dest)
    assert got.sha256 == SHA
    assert [("range" in h) for _, h in host.seen] == [True, False]


async def test_stale_part_permissions_are_tightened(client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / "job_1.png"
    part_of(dest).write_bytes(BODY[:5000])
    part_of(dest).chmod(0o644)
    await download(client, f"{HOST}/file.png", dest)
    assert dest.stat().st_mode & 0o777 == 0o600


async def test_expired_url_403(client: httpx.AsyncClient, tmp_path: Path) -> None:
    past = int(time.time()) - 3600
    with pytest.raises(DownloadError) as info:
        await download(
            client, f"{HOST}/expired.png?Expires={past}&OSSAccessKeyId=k&Signature=s", tmp_path / "job_1.png"
        )
    err = info.value
    assert err.expired and not err.retryable and err.status == 403
    assert "expired" in err.message and "Signature" not in err.message and "OSSAccessKeyId" not in err.message


async def test_403_before_expiry_is_expired_but_retryable(client: httpx.AsyncClient, tmp_path: Path) -> None:
    future = int(time.time()) + 3600
    with pytest.raises(DownloadError) as info:
        await download(client, f"{HOST}/expired.png?Expires={future}&Signature=s", tmp_path / "job_1.png")
    assert info.value.expired and info.value.retryable


async def test_500_then_ok(client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / "job_1.png"
    with pytest.raises(DownloadError) as info:
        await download(client, f"{HOST}/flaky.png", dest)
    assert info.value.retryable and info.value.status == 500 and not info.value.expired
    got = await download(client, f"{HOST}/flaky.png", dest)
    assert got.sha256 == SHA


async def test_redirect_to_file_scheme_is_refused(client: httpx.AsyncClient, host: ResultHost, tmp_path: Path) -> None:
    dest = tmp_path / "job_1.png"
    with pytest.raises(DownloadError) as info:
        await download(client, f"{HOST}/to-file", dest)
    assert not info.value.retryable
    assert not dest.exists() and not part_of(dest).exists()
    # the client refuses too when used on its own (its redirect following goes through the same guard)
    with pytest.raises(DownloadError):
        await client.get(f"{HOST}/to-file")


async def test_redirect_to_another_http_host_is_followed(
    client: httpx.AsyncClient, host: ResultHost, tmp_path: Path
) -> None:
    got = await download(client, f"{HOST}/to-other-host", tmp_path / "job_1.png")
    assert got.sha256 == SHA
    assert [h["host"] for _, h in host.seen] == ["results.test", "cdn.test"]


async def test_redirect_loop_and_host_allowlist(client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="redirects"):
        await download(client, f"{HOST}/loop", tmp_path / "a.png")
    with pytest.raises(DownloadError, match="allowed"):
        await download(client, f"{HOST}/to-other-host", tmp_path / "b.png", allowed_hosts=["results.test"])
    got = await download(client, f"{HOST}/to-other-host", tmp_path / "c.png", allowed_hosts=["*.test"])
    assert got.sha256 == SHA


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://results.test/x.png", "gopher://x/", "not a url"])
async def test_non_http_urls_are_refused(client: httpx.AsyncClient, tmp_path: Path, url: str) -> None:
    with pytest.raises(DownloadError) as info:
        await download(client, url, tmp_path / "job_1.png")
    assert not info.value.retryable


async def test_connection_dropped_mid_body_is_retryable(tmp_path: Path) -> None:
    class Dropping(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield BODY[:4096]
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(len(BODY))}, stream=Dropping())

    dest = tmp_path / "job_1.png"
    async with make_download_client(transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(DownloadError) as info:
            await download(c, f"{HOST}/file.png", dest)
    assert info.value.retryable
    assert part_of(dest).read_bytes() == BODY[:4096]


async def test_network_error_is_retryable(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    async with make_download_client(transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(DownloadError) as info:
            await download(c, f"{HOST}/file.png?Signature=s", tmp_path / "job_1.png")
    assert info.value.retryable and "Signature" not in info.value.message


async def test_disk_full(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def full(fd: int, data: bytes | bytearray) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dl, "_write_all", full)
    dest = tmp_path / "job_1.png"
    with pytest.raises(DownloadError) as info:
        await download(client, f"{HOST}/file.png", dest)
    err = info.value
    assert err.disk_full and err.retryable
    assert err.message == "disk full while writing job_1.png; free space and it will resume"
    assert not part_of(dest).exists() and not dest.exists()


# ---------------------------------------------------------------- paths and URLs


def test_safe_output_path(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    path = safe_output_path(out, "01JABCDEF", 1, "png")
    assert path == out.resolve() / "01JABCDEF_1.png"
    assert out.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700
    assert safe_output_path(out, "job-2", 3, ".MP4").name == "job-2_3.mp4"


@pytest.mark.parametrize(
    ("job", "index", "ext"),
    [
        ("../../etc/x", 1, "png"),
        ("job", 1, "../../etc/x"),
        ("job/../../x", 1, "png"),
        (".hidden", 1, "png"),
        ("job", 0, "png"),
        ("job", 1, "exe"),
        ("job", 1, "png/../../x"),
    ],
)
def test_safe_output_path_refuses_escapes(tmp_path: Path, job: str, index: int, ext: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_output_path(tmp_path, job, index, ext)
    assert list(tmp_path.iterdir()) == []


def test_safe_output_path_refuses_planted_symlink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "job_1.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(UnsafePathError):
        safe_output_path(out, "job", 1, "png")


def test_choose_ext() -> None:
    assert choose_ext("image/jpeg; charset=binary", f"{HOST}/x.png") == "jpg"
    assert choose_ext("application/octet-stream", f"{HOST}/a/x.MP4?Expires=1") == "mp4"
    assert choose_ext(None, f"{HOST}/x.php?name=a.png") == "png"
    assert choose_ext(None, f"{HOST}/x.php", default="mp4") == "mp4"
    with pytest.raises(UnsafePathError):
        choose_ext(None, f"{HOST}/x", default="sh")


def test_redact_url() -> None:
    url = "https://user:pw@bucket.oss-cn-beijing.aliyuncs.com/1/a.png?Expires=1&OSSAccessKeyId=K&Signature=S#f"
    assert redact_url(url) == "https://bucket.oss-cn-beijing.aliyuncs.com/1/a.png"
    assert redact_url("http://[::1") == "<unparseable URL>"


def test_url_expiry() -> None:
    assert url_expiry("https://h/a.png?OSSAccessKeyId=K&Expires=1700000000&Signature=S") == 1700000000.0
    v4 = "https://h/a.png?x-oss-date=20240101T000000Z&x-oss-expires=86400&x-oss-signature=S"
    assert url_expiry(v4) == 1704067200.0 + 86400
    assert url_expiry("https://h/a.png") is None
    assert url_expiry("https://h/a.png?Expires=soon") is None
