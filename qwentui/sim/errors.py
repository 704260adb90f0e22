"""Error answers as the real service gives them, and the simulated broken connection.

API errors are `{"request_id","code","message"}` with `application/json` and an `X-Request-ID` header
(the SDK only parses the body when the content type says JSON). OSS (uploads, result files) answers errors
in XML like Alibaba OSS does. A dropped connection is an exception (`SimulatedDrop`), turned into a cut
socket by the app's edge layer, or handed to an in-process client as an httpx transport error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

# Messages copied from the documented/recorded answers, so clients see the real wording.
MSG_INVALID_KEY = "Invalid API-key provided."
MSG_NO_KEY = "No API-key provided."
MSG_SYNC_UNSUPPORTED = "current user api does not support synchronous calls"
MSG_ASYNC_UNSUPPORTED = "current user api does not support asynchronous calls"
MSG_RATE = "Requests rate limit exceeded, please try again later."
MSG_QUOTA = "Allocated quota exceeded, please increase your quota limit."
MSG_ARREARAGE = "Access denied, please make sure your account is in good standing."
MSG_CANCEL = "Failed to cancel the task, please confirm if the task is in PENDING status."
MSG_EMPTY_INPUT = "Required input parameter missing from request."
MSG_EMPTY_MODEL = "Model not specified, please check the request parameters."
MSG_INTERNAL = "An internal error has occured, please try again later or contact service support."
MSG_UNAVAILABLE = "The service is temporarily unavailable, please try again later."
MSG_THROTTLED = "Requests throttling triggered."

# The (code, message) of storm answers by HTTP status.
STATUS_ERRORS: dict[int, tuple[str, str]] = {
    429: ("Throttling", MSG_THROTTLED),
    500: ("InternalError", MSG_INTERNAL),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", MSG_UNAVAILABLE),
    504: ("GatewayTimeout", "Gateway timeout, please try again later."),
}


class ApiError(Exception):
    """An error answer of the DashScope API."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, "InvalidParameter", message)

    @classmethod
    def for_status(cls, status: int, retry_after: float | None = None) -> ApiError:
        code, message = STATUS_ERRORS.get(status, ("InternalError", MSG_INTERNAL))
        return cls(status, code, message, retry_after)


class OssError(Exception):
    """An error answer of the OSS side (upload host, result files)."""

    def __init__(self, status: int, code: str, message: str, extra: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})


class SimulatedDrop(httpx.RemoteProtocolError):
    """The connection was cut on purpose. Subclassing httpx's error makes in-process clients see what a
    real socket client sees (an `httpx.TransportError`)."""

    def __init__(self, message: str = "simulated connection drop") -> None:
        super().__init__(message)


def json_response(
    body: Mapping[str, Any], request_id: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    hdrs = {"X-Request-ID": request_id, **(headers or {})}
    return Response(data, status_code=status, headers=hdrs, media_type="application/json")


def error_response(err: ApiError, request_id: str) -> Response:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    body = {"request_id": request_id, "code": err.code, "message": err.message}
    return json_response(body, request_id, err.status, headers)


def oss_error_response(err: OssError, request_id: str) -> Response:
    extra = "".join(f"  <{k}>{_xml(v)}</{k}>\n" for k, v in err.extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{_xml(err.code)}</Code>\n  <Message>{_xml(err.message)}</Message>\n"
        f"  <RequestId>{_xml(request_id)}</RequestId>\n  <HostId>dashscope-sim.local</HostId>\n{extra}</Error>\n"
    )
    return Response(
        body, status_code=err.status, media_type="application/xml", headers={"x-oss-request-id": request_id}
    )


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DroppedResponse(Response):
    """Cut the connection: with `partial=None` before any byte of the answer (a reset), else after the
    status line, the headers (with the full Content-Length) and `partial` bytes of the body.

    The cut itself happens in the app's edge layer, which sees the exception raised here: on a uvicorn
    socket it aborts the transport (nothing was sent) or lets uvicorn close it (something was sent); in
    process (httpx.ASGITransport) the exception reaches the client as an httpx transport error.
    """

    def __init__(
        self,
        body: bytes = b'{"request_id":"lost"}',
        partial: int | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "application/json",
    ) -> None:
        # A non-empty body, so the announced Content-Length can never be met.
        super().__init__(body or b"{}", status_code=status_code, headers=headers, media_type=media_type)
        self.partial = partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.partial is None:
            raise SimulatedDrop("connection reset before the answer")
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if self.partial > 0:
            await send({"type": "http.response.body", "body": self.body[: self.partial], "more_body": True})
        raise SimulatedDrop("connection closed in the middle of the answer")
