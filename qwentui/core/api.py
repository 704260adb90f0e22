"""The async DashScope client: submit, query, list, cancel, and upload local files.

Every call returns parsed types (`TaskResult`, `TaskPage`) or raises a typed error from `errors.py`.
Submissions are never retried here: whether a POST may be sent again is the engine's decision, and
`TransportError.sent` tells it whether the request can have reached the server. Task queries go through the
shared `RateLimiter`, and a 429 pauses every caller for its Retry-After.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import mimetypes
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from qwentui.core.config import ApiKey
from qwentui.core.errors import (
    ApiError,
    MalformedResponse,
    RateLimited,
    ServerError,
    TransportError,
    UploadError,
    api_error,
    error_fields,
    mask_secrets,
)
from qwentui.core.limiter import RateLimiter
from qwentui.core.requests import WireRequest
from qwentui.core.results import TaskPage, TaskResult, TaskStatus, parse_task, parse_task_list
from qwentui.core.serverclock import ServerClock
from qwentui.core.sync_call import NOT_SENT, Left, SyncCalls
from qwentui.core.tls import tls_context

USER_AGENT = "qwentui/0.1"
# Timeouts per kind of call, as the skill scripts use them (sync image generation can take minutes).
SYNC_TIMEOUT = 180.0
SUBMIT_TIMEOUT = 60.0
QUERY_TIMEOUT = 30.0
UPLOAD_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
MAX_RETRY_AFTER = 600.0  # longest Retry-After honoured

# Errors after which the server provably cannot have acted on the request (sync_call.py says why).
_NOT_SENT = NOT_SENT


# The service writes and reads its time strings in China/Singapore time (UTC+8), not UTC.
SERVER_TZ = timezone(timedelta(hours=8))


def format_list_time(moment: datetime) -> str:
    """`GET /tasks` time filters are `YYYYMMDDhhmmss` in the service's time zone (UTC+8)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SERVER_TZ).strftime("%Y%m%d%H%M%S")


class DashScopeClient:
    """One account on one base URL. Use as `async with DashScopeClient(...) as client:`."""

    def __init__(
        self,
        api_key: ApiKey,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        workspace: str | None = None,
        query_retries: int = 3,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.limiter = limiter or RateLimiter()
        self.submit_limiter = RateLimiter(rate=None)  # no known submit rate: only the pause after a 429
        self.query_retries = query_retries
        self._workspace = workspace
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
        timeout = httpx.Timeout(QUERY_TIMEOUT, connect=CONNECT_TIMEOUT)
        verify = tls_context() if transport is None else True  # a transport of our own needs no TLS context
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout, limits=limits, headers={"User-Agent": USER_AGENT}, verify=verify
        )
        # Uploads to OSS never carry the API key: a separate client without it.
        self._plain = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(UPLOAD_TIMEOUT),
            headers={"User-Agent": USER_AGENT},
            verify=verify,
        )
        self.requests_by_kind: dict[str, int] = {}
        self.server_clock = ServerClock()  # measured from every answer's Date header (see serverclock.py)
        # Set by the engine: sync calls then go through a helper process that outlives ours (sync_call.py).
        # Not for a transport of our own (an in-process simulator), which no other process can reach.
        self.calls: SyncCalls | None = None
        self.in_process = transport is not None

    async def __aenter__(self) -> DashScopeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._plain.aclose()

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._key.reveal()}", "Accept": "application/json"}
        if self._workspace:
            headers["X-DashScope-WorkSpace"] = self._workspace
        if extra:
            headers.update(extra)
        return headers

    async def _send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One HTTP exchange -> decoded JSON, or a typed error. No retries here."""
        self.requests_by_kind[kind] = self.requests_by_kind.get(kind, 0) + 1
        url = self.base_url + path
        sent = self.server_clock.local()
        try:
            response = await self._http.request(
                method,
                url,
                json=json_body,
                params=params,
                headers=self._headers(headers),
                timeout=httpx.Timeout(timeout or QUERY_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
        except _NOT_SENT as exc:
            raise TransportError(f"cannot reach {self._host()}: {type(exc).__name__} {exc}", sent=False) from None
        except httpx.TimeoutException as exc:
            raise TransportError(f"{self._host()} did not answer in time ({type(exc).__name__})", sent=True) from None
        except (httpx.TransportError, OSError) as exc:
            raise TransportError(
                f"connection to {self._host()} failed: {type(exc).__name__} {exc}", sent=True
            ) from None
        self.server_clock.observe_date(sent, self.server_clock.local(), response.headers.get("date"))
        return self._decode(response)

    def _host(self) -> str:
        return httpx.URL(self.base_url).host or self.base_url

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        data: Any = None
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError):  # nested past the limit
            data = None
        if response.is_success:
            if data is None:
                raise MalformedResponse(f"HTTP {response.status_code} answer is not JSON")
            return data
        retry_after = _retry_after(response.headers.get("retry-after"))
        code, message, body_request_id = error_fields(data)
        request_id = body_request_id or response.headers.get("x-request-id", "")  # the header when the body has none
        if not isinstance(data, dict):
            message = mask_secrets(response.text[:300]) if response.text else response.reason_phrase
        raise api_error(response.status_code, code, message, request_id, retry_after)

    async def _query(self, kind: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """A task query: rate-limited, retried on 429 (after the shared pause), 5xx and lost connections."""
        attempt = 0
        while True:
            await self.limiter.acquire()
            try:
                return await self._send(kind, "GET", path, params=params)
            except RateLimited as exc:
                self.limiter.pause(exc.retry_after if exc.retry_after is not None else 1.0)
                error: Exception = exc
            except (ServerError, TransportError) as exc:
                error = exc
            attempt += 1
            if attempt > self.query_retries:
                raise error
            if not isinstance(error, RateLimited):
                await asyncio.sleep(backoff(attempt, getattr(error, "retry_after", None)))

    # ---- the API ----------------------------------------------------------------------------------------

    async def submit(self, wire: WireRequest, call_name: str | None = None) -> TaskResult:
        """Send one generation request once. Async routes answer with a PENDING task id; the sync route
        answers with the finished result, through the helper of the ticket `call_name` when one was prepared
        (`prepare_call`), so that a crash of ours does not lose it (`answer_of` finds it after a restart)."""
        if wire.local_files:
            raise UploadError(f"local files must be uploaded before sending: {', '.join(wire.local_files)}")
        headers = _submit_headers(wire)
        timeout = SUBMIT_TIMEOUT if wire.is_async else SYNC_TIMEOUT
        await self.submit_limiter.acquire()  # after a 429, wait out its Retry-After: the next send would be refused
        try:
            data = await self._post(wire, headers, timeout, call_name)
        except RateLimited as exc:
            self.submit_limiter.pause(exc.retry_after if exc.retry_after is not None else 1.0)
            raise  # the job goes back to the queue (submitter.py)
        result = parse_task(data)
        if wire.is_async and not result.task_id:
            raise MalformedResponse("submit answer has no task_id")
        return result

    def prepare_call(self, wire: WireRequest, call_name: str) -> bool:
        """Write the ticket of a sync call that a helper process will make (sync_call.py), when the engine set
        those up (`calls`), before the job is committed as sending; False when the call is made here (async
        routes, no helpers, a ticket that could not be written)."""
        if self.calls is None or wire.is_async:
            return False
        spec = {
            "url": self.base_url + wire.route.value,
            "probe_url": self.base_url + "/tasks?page_no=1&page_size=1",  # asked right before the POST
            "headers": {k: v for k, v in self._headers(_submit_headers(wire)).items() if k != "Authorization"}
            | {"User-Agent": USER_AGENT},
            "body": wire.body,
            "timeout": SYNC_TIMEOUT,
            "connect_timeout": CONNECT_TIMEOUT,
        }
        try:
            self.calls.write_ticket(call_name, spec)
        except OSError:
            return False  # a full disk: the call is made here, as without helpers
        return True

    async def _post(self, wire: WireRequest, headers: dict[str, str], timeout: float, call_name: str | None) -> Any:
        if call_name is not None and self.calls is not None and not wire.is_async:
            self.requests_by_kind["submit"] = self.requests_by_kind.get("submit", 0) + 1
            return self._from_helper(await self.calls.call(call_name, self._key.reveal()))
        return await self._send(
            "submit", "POST", wire.route.value, json_body=wire.body, headers=headers, timeout=timeout
        )

    async def answer_of(self, call_name: str) -> TaskResult:
        """The answer of a sync call made through a helper before a restart: waits while the helper is at
        work; `TransportError` (sent or not) when there is none."""
        assert self.calls is not None
        return parse_task(self._from_helper(await self.calls.wait(call_name)))

    def _from_helper(self, answer: dict[str, Any] | Left) -> Any:
        """A helper's answer as `_send` would have returned or raised it."""
        if answer is Left.NOT_SENT:
            raise TransportError("qwentui stopped before the call's helper took it: never sent", sent=False)
        if answer is Left.LOST or not isinstance(answer, dict):
            raise TransportError("qwentui restarted and the call's helper was gone without an answer", sent=True)
        if "error" in answer:
            raise TransportError(str(answer["error"]), sent=bool(answer.get("sent", True)))
        try:
            response = httpx.Response(
                int(answer["status"]),
                headers=[(str(k), str(v)) for k, v in answer["headers"]],
                content=base64.b64decode(answer["body"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"the call's helper wrote an unreadable answer ({type(exc).__name__})") from None
        return self._decode(response)

    async def get_task(self, task_id: str) -> TaskResult:
        return parse_task(await self._query("task", f"/tasks/{task_id}"))

    async def list_tasks(
        self,
        *,
        page_no: int = 1,
        page_size: int = 100,
        start: datetime | None = None,
        end: datetime | None = None,
        model: str | None = None,
        status: TaskStatus | str | None = None,
    ) -> TaskPage:
        params: dict[str, Any] = {"page_no": page_no, "page_size": page_size}
        if start is not None:
            params["start_time"] = format_list_time(start)
        if end is not None:
            params["end_time"] = format_list_time(end)
        if model:
            params["model_name"] = model
        if status:
            params["status"] = str(status)
        return parse_task_list(await self._query("list", "/tasks", params))

    async def cancel(self, task_id: str) -> None:
        """Cancel a PENDING task (UnsupportedOperation once it has started)."""
        await self._send("cancel", "POST", f"/tasks/{task_id}/cancel")

    async def upload(self, path: Path, model: str) -> str:
        """Upload a local file to DashScope's temporary storage -> `oss://...` (valid 48 h, this model only)."""
        path = Path(path).expanduser()
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise UploadError(f"cannot read {path.name}: {exc.strerror or exc}") from None
        policy = await self._send("upload", "GET", "/uploads", params={"action": "getPolicy", "model": model})
        data = policy.get("data") if isinstance(policy, dict) else None
        if not isinstance(data, dict) or not data.get("upload_host") or not data.get("upload_dir"):
            raise UploadError(
                "the upload policy answer has no upload host; temporary upload may not be "
                "available in this region — give a public https:// URL instead"
            )
        host = str(data["upload_host"])
        if not _is_web_url(host):  # it comes from a server answer: nothing but an absolute http(s) URL
            raise UploadError("the upload policy answer names no usable upload host (not an http(s) URL)")
        key = f"{data['upload_dir']}/{path.name}"
        form = {
            "OSSAccessKeyId": str(data.get("oss_access_key_id", "")),
            "Signature": str(data.get("signature", "")),
            "policy": str(data.get("policy", "")),
            "x-oss-object-acl": str(data.get("x_oss_object_acl", "private")),
            "x-oss-forbid-overwrite": str(data.get("x_oss_forbid_overwrite", "true")),
            "key": key,
            "success_action_status": "200",
        }
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.requests_by_kind["upload"] = self.requests_by_kind.get("upload", 0) + 1
        try:
            response = await self._plain.post(host, data=form, files={"file": (path.name, content, mime)})
        except httpx.HTTPError as exc:
            raise UploadError(f"upload of {path.name} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise UploadError(f"upload of {path.name} was refused (HTTP {response.status_code})")
        return f"oss://{key}"

    async def upload_local_files(self, wire: WireRequest) -> WireRequest:
        """The same request with every local path uploaded and replaced by its `oss://` URL."""
        mapping = {p: await self.upload(Path(p), wire.model) for p in wire.local_files}
        return wire.with_urls(mapping)


def _submit_headers(wire: WireRequest) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if wire.is_async:
        headers["X-DashScope-Async"] = "enable"
    if wire.needs_oss_resolve:
        headers["X-DashScope-OssResourceResolve"] = "enable"
    return headers


def _is_web_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait, bounded: a broken or hostile answer ("inf", "99999999999") must not stop every query
    of the process for years; a real Retry-After is a few seconds."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return MAX_RETRY_AFTER if seconds > 0 else None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def backoff(attempt: int, retry_after: float | None = None, base: float = 0.5, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff, never shorter than a server's Retry-After."""
    delay = random.uniform(0, min(cap, base * 2**attempt))
    return max(delay, retry_after or 0.0)


__all__ = ["ApiError", "DashScopeClient", "backoff", "format_list_time"]
