"""Typed errors of the DashScope API and of the transport, each with a message a user can act on.

Server text is untrusted: it is kept as data (code, message) and any API key it might echo is masked.
`TransportError.sent` is what the engine's "retry only when provably not sent" rule turns on.
"""

from __future__ import annotations

import re

KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-]{8,}")


def mask_secrets(text: str) -> str:
    """Replace anything that looks like a DashScope key with a placeholder."""
    return KEY_PATTERN.sub("sk-***", text)


class QwentuiError(Exception):
    """Base of every error qwentui reports to a user (CLI prints str(exc); TUI shows it)."""


class ApiError(QwentuiError):
    """The service answered with an error envelope (or an unexpected non-2xx)."""

    hint = ""

    def __init__(
        self, status: int, code: str, message: str, request_id: str = "", retry_after: float | None = None
    ) -> None:
        self.status = status
        self.code = code or f"HTTP{status}"
        self.message = mask_secrets(message or "")
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self.describe())

    def describe(self) -> str:
        text = f"{self.code} (HTTP {self.status}): {self.message}".rstrip(": ")
        if self.hint:
            text += f" — {self.hint}"
        if self.request_id:
            text += f" [request {self.request_id}]"
        return text


class AuthError(ApiError):
    hint = "check the API key (QWEN_API_KEY / DASHSCOPE_API_KEY) and that it belongs to this region"


class AccessDenied(ApiError):
    hint = "the key may not have access to this model, or the model is not available in this region"


class InvalidParameter(ApiError):
    hint = "the request was refused as invalid; fix the named field and submit again"


class ContentRejected(ApiError):
    hint = "content moderation refused the prompt or an input image; rephrase or change the input"


class ModelNotFound(ApiError):
    hint = "the model name is unknown in this region"


class RateLimited(ApiError):
    hint = "too many requests; qwentui slows down and retries by itself"


class QuotaExhausted(ApiError):
    hint = "the account is out of quota or overdue; top up or wait, then resume"


class ServerError(ApiError):
    hint = "the service had a problem; it is retried with backoff"


class UnsupportedOperation(ApiError):
    hint = "only a task that is still PENDING can be cancelled"


_BY_CODE: dict[str, type[ApiError]] = {
    "InvalidApiKey": AuthError,
    "AccessDenied": AccessDenied,
    "AccessDenied.Unpurchased": AccessDenied,
    "InvalidParameter": InvalidParameter,
    "BadRequest.EmptyInput": InvalidParameter,
    "BadRequest.EmptyParameters": InvalidParameter,
    "BadRequest.EmptyModel": InvalidParameter,
    "InvalidURL": InvalidParameter,
    "DataInspectionFailed": ContentRejected,
    "Model.NotExist": ModelNotFound,
    "ModelNotFound": ModelNotFound,
    "Throttling": RateLimited,
    "Throttling.RateQuota": RateLimited,
    "Throttling.AllocationQuota": QuotaExhausted,
    "Arrearage": QuotaExhausted,
    "UnsupportedOperation": UnsupportedOperation,
}


def api_error(status: int, code: str, message: str, request_id: str = "", retry_after: float | None = None) -> ApiError:
    """The most specific ApiError subclass for this code / status."""
    cls = _BY_CODE.get(code)
    if cls is None:
        if status == 401:
            cls = AuthError
        elif status == 403:
            cls = AuthError if "api-key" in (message or "").lower() else AccessDenied
        elif status == 404:
            cls = ModelNotFound
        elif status == 429:
            cls = RateLimited
        elif status >= 500:
            cls = ServerError
        elif status == 400:
            cls = InvalidParameter
        else:
            cls = ApiError
    return cls(status, code, message, request_id, retry_after)


def error_fields(body: object) -> tuple[str, str, str]:
    """(code, message, request_id) of an error body, in either shape the service answers with.

    The native shape is top-level `{"request_id", "code", "message"}` (the SDK also accepts `msg`); the same
    host also answers `{"error": {"message", "type", "param", "code"}}` (OpenAI style), with the request id
    only in the `x-request-id` header. Missing parts are empty strings; the caller falls back to the header."""
    if not isinstance(body, dict):
        return "", "", ""
    request_id = _text(body.get("request_id"))
    nested = body.get("error")
    if isinstance(nested, dict):
        code = _text(nested.get("code")) or _text(nested.get("type"))
        message = _text(nested.get("message"))
        param = _text(nested.get("param"))
        if param and not re.search(rf"\b{re.escape(param)}\b", message):  # name the field unless it is named
            message = f"{message} (parameter: {param})" if message else f"parameter: {param}"
        return code, message, request_id
    return _text(body.get("code")), _text(body.get("message")) or _text(body.get("msg")), request_id


def _text(value: object) -> str:
    """A server value as text: strings and numbers kept, anything else (null, objects) is nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


class TransportError(QwentuiError):
    """No usable HTTP answer. `sent` is False only when the request provably never reached the server."""

    def __init__(self, message: str, sent: bool) -> None:
        self.sent = sent
        super().__init__(mask_secrets(message))


class MalformedResponse(QwentuiError):
    """The service answered 2xx with a body we cannot understand."""


class MissingKey(QwentuiError):
    """No API key could be found."""


class UploadError(QwentuiError):
    """A local file could not be uploaded to temporary storage."""
