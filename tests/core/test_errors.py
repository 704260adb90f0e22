"""Error codes and statuses map to the right classes; messages mask keys; describe() says what and where."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qwentui.core.api import DashScopeClient
from qwentui.core.config import ApiKey
from qwentui.core.errors import (
    AccessDenied,
    ApiError,
    AuthError,
    ContentRejected,
    InvalidParameter,
    MalformedResponse,
    MissingKey,
    ModelNotFound,
    QuotaExhausted,
    QwentuiError,
    RateLimited,
    ServerError,
    TransportError,
    UnsupportedOperation,
    UploadError,
    api_error,
    error_fields,
    mask_secrets,
)
from qwentui.core.limiter import RateLimiter

KEY = "sk-0123456789abcdef0123456789abcdef"

# (code, documented HTTP status, class) — docs/protocol.md §9 and §7
DOCUMENTED = [
    ("InvalidParameter", 400, InvalidParameter),
    ("DataInspectionFailed", 400, ContentRejected),
    ("BadRequest.EmptyInput", 400, InvalidParameter),
    ("BadRequest.EmptyParameters", 400, InvalidParameter),
    ("BadRequest.EmptyModel", 400, InvalidParameter),
    ("InvalidURL", 400, InvalidParameter),
    ("Arrearage", 400, QuotaExhausted),
    ("UnsupportedOperation", 400, UnsupportedOperation),
    ("InvalidApiKey", 401, AuthError),
    ("AccessDenied", 403, AccessDenied),
    ("AccessDenied.Unpurchased", 403, AccessDenied),
    ("Model.NotExist", 404, ModelNotFound),
    ("ModelNotFound", 404, ModelNotFound),
    ("Throttling", 429, RateLimited),
    ("Throttling.RateQuota", 429, RateLimited),
    ("Throttling.AllocationQuota", 429, QuotaExhausted),
    ("InternalError", 500, ServerError),
    ("ServiceUnavailable", 503, ServerError),
    ("GatewayTimeout", 504, ServerError),
]


@pytest.mark.parametrize(("code", "status", "cls"), DOCUMENTED, ids=[c for c, _, _ in DOCUMENTED])
def test_documented_codes(code: str, status: int, cls: type[ApiError]) -> None:
    err = api_error(status, code, "something", "req-1")
    assert type(err) is cls
    assert err.code == code
    assert err.status == status
    assert isinstance(err, ApiError) and isinstance(err, QwentuiError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("InvalidApiKey", AuthError),
        ("Throttling.RateQuota", RateLimited),
        ("Throttling.AllocationQuota", QuotaExhausted),
        ("Arrearage", QuotaExhausted),
        ("DataInspectionFailed", ContentRejected),
    ],
)
def test_code_wins_over_status(code: str, cls: type[ApiError]) -> None:
    """The code decides even when the status is unusual (the SDK maps Arrearage to 403, for one)."""
    for status in (400, 403, 429, 500):
        assert type(api_error(status, code, "m")) is cls


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (401, "", AuthError),
        (403, "invalid api-key", AuthError),  # what the real API answers to a Coding Plan key
        (403, "Invalid API-Key provided", AuthError),
        (403, "current user api does not support synchronous calls", AccessDenied),
        (404, "", ModelNotFound),
        (429, "", RateLimited),
        (500, "", ServerError),
        (502, "", ServerError),
        (503, "", ServerError),
        (504, "", ServerError),
        (400, "", InvalidParameter),
        (409, "", ApiError),
        (418, "", ApiError),
    ],
)
def test_status_fallbacks(status: int, message: str, cls: type[ApiError]) -> None:
    err = api_error(status, "", message)
    assert type(err) is cls
    assert err.code == f"HTTP{status}"
    err = api_error(status, "Some.NewCode", message)
    assert type(err) is cls
    assert err.code == "Some.NewCode"


def test_describe_has_code_status_message_hint_and_request_id() -> None:
    err = api_error(
        429,
        "Throttling.RateQuota",
        "Requests rate limit exceeded, please try again later.",
        "a1c0561c-1",
        retry_after=2.5,
    )
    text = err.describe()
    assert text.startswith("Throttling.RateQuota (HTTP 429): Requests rate limit exceeded")
    assert "[request a1c0561c-1]" in text
    assert RateLimited.hint in text
    assert str(err) == text
    assert err.retry_after == 2.5
    assert err.request_id == "a1c0561c-1"


def test_describe_without_message_or_request_id() -> None:
    err = api_error(418, "", "")
    assert err.describe() == "HTTP418 (HTTP 418)"
    assert "request" not in err.describe()


@pytest.mark.parametrize(
    "cls",
    [
        AuthError,
        AccessDenied,
        InvalidParameter,
        ContentRejected,
        ModelNotFound,
        RateLimited,
        QuotaExhausted,
        ServerError,
        UnsupportedOperation,
    ],
)
def test_every_class_has_a_hint(cls: type[ApiError]) -> None:
    assert cls.hint
    assert cls.hint in cls(400, "X", "m").describe()


def test_messages_mask_keys() -> None:
    err = api_error(401, "InvalidApiKey", f"Invalid API-key provided: {KEY}", "r")
    assert KEY not in err.message
    assert KEY not in str(err)
    assert KEY not in err.describe()
    assert "sk-***" in err.message
    assert KEY not in repr(err)


def test_mask_secrets() -> None:
    assert mask_secrets(f"key={KEY}.") == "key=sk-***."
    assert mask_secrets(f"{KEY} and sk-sp-abcdef123456 and sk_live") == "sk-*** and sk-*** and sk_live"
    assert mask_secrets("sk-short") == "sk-short"  # too short to be a key
    assert mask_secrets("Authorization: Bearer sk-abcdefgh_ij-kl") == "Authorization: Bearer sk-***"
    assert mask_secrets("") == ""


def test_transport_error_sent_flag_and_masking() -> None:
    not_sent = TransportError(f"cannot reach host with {KEY}", sent=False)
    assert not_sent.sent is False
    assert KEY not in str(not_sent)
    sent = TransportError("timed out", sent=True)
    assert sent.sent is True
    assert str(sent) == "timed out"
    assert isinstance(sent, QwentuiError)


def test_other_errors_are_qwentui_errors() -> None:
    for cls in (MalformedResponse, MissingKey, UploadError):
        assert issubclass(cls, QwentuiError)
        assert str(cls("why")) == "why"


def test_api_error_handles_none_message() -> None:
    err = api_error(500, "InternalError", None, "")  # type: ignore[arg-type]
    assert err.message == ""
    assert err.describe().startswith("InternalError (HTTP 500)")


# ---- the two error body shapes -------------------------------------------------------------------------------

OPENAI_STYLE = {
    "error": {
        "message": "The size is not supported.",
        "type": "invalid_request_error",
        "param": "size",
        "code": "InvalidParameter",
    }
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"request_id": "r1", "code": "InvalidApiKey", "message": "Invalid API-key provided."},
            ("InvalidApiKey", "Invalid API-key provided.", "r1"),
        ),
        ({"code": "Throttling", "msg": "slow down"}, ("Throttling", "slow down", "")),
        (OPENAI_STYLE, ("InvalidParameter", "The size is not supported.", "")),
        ({"error": {"message": "bad", "type": "invalid_request_error"}}, ("invalid_request_error", "bad", "")),
        ({"error": {"message": "size is wrong", "param": "size", "code": None}}, ("", "size is wrong", "")),
        ({"error": {"param": "n"}}, ("", "parameter: n", "")),
        (
            {"error": {"message": "out of range", "param": "n", "code": "InvalidParameter"}},
            ("InvalidParameter", "out of range (parameter: n)", ""),
        ),
        ({"error": "flat string"}, ("", "", "")),
        ({"code": 400, "message": None}, ("400", "", "")),
        ([1, 2], ("", "", "")),
        (None, ("", "", "")),
    ],
)
def test_error_fields_of_both_shapes(body: Any, expected: tuple[str, str, str]) -> None:
    assert error_fields(body) == expected


def client_answering(response: httpx.Response) -> DashScopeClient:
    return DashScopeClient(
        ApiKey(KEY, "test"),
        "http://api.test/api/v1",
        transport=httpx.MockTransport(lambda request: response),
        query_retries=0,
        limiter=RateLimiter(rate=1e6, burst=1e6),
    )


async def error_of(response: httpx.Response) -> ApiError:
    async with client_answering(response) as client:
        with pytest.raises(ApiError) as info:
            await client.cancel("t1")
    return info.value


async def test_client_decodes_the_nested_error_shape_with_the_header_request_id() -> None:
    err = await error_of(httpx.Response(400, json=OPENAI_STYLE, headers={"x-request-id": "hdr-7"}))
    assert isinstance(err, InvalidParameter)
    assert (err.code, err.request_id) == ("InvalidParameter", "hdr-7")
    assert "The size is not supported" in err.message and "size" in err.message


async def test_client_prefers_the_body_request_id_and_falls_back_to_the_header() -> None:
    native = {"request_id": "body-1", "code": "AccessDenied", "message": "no access"}
    err = await error_of(httpx.Response(403, json=native, headers={"x-request-id": "hdr-1"}))
    assert isinstance(err, AccessDenied) and err.request_id == "body-1"
    err = await error_of(
        httpx.Response(403, json={"code": "AccessDenied", "message": "no"}, headers={"x-request-id": "h"})
    )
    assert err.request_id == "h"


async def test_client_nested_error_keeps_masking_keys() -> None:
    leaked = {"error": {"message": f"key {KEY} is invalid", "type": "authentication_error", "code": "InvalidApiKey"}}
    err = await error_of(httpx.Response(401, json=leaked))
    assert isinstance(err, AuthError) and KEY not in str(err) and "sk-***" in err.message
