"""API key checks. The key itself is never stored, logged or echoed: tasks keep a one-way fingerprint."""

from __future__ import annotations

import hashlib

from qwentui.sim.config import SimConfig
from qwentui.sim.errors import MSG_INVALID_KEY, MSG_NO_KEY, ApiError

CODING_PLAN_PREFIX = "sk-sp-"  # Coding Plan keys have no native API: the real service answers 403


def key_id(key: str) -> str:
    """A stable, non-reversible id for a key (the task list's `api_key_id`)."""
    return "ak-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def check_key(authorization: str | None, config: SimConfig) -> str:
    """The fingerprint of a valid Bearer key, or ApiError 401/403."""
    if config.revoked:
        raise ApiError(401, "InvalidApiKey", MSG_INVALID_KEY)
    if not authorization or not authorization.strip():
        raise ApiError(401, "InvalidApiKey", MSG_NO_KEY)
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "InvalidApiKey", MSG_INVALID_KEY)
    if config.api_keys is not None:
        if key not in config.api_keys:
            raise ApiError(401, "InvalidApiKey", MSG_INVALID_KEY)
    elif key.startswith(CODING_PLAN_PREFIX):
        raise ApiError(403, "InvalidApiKey", "invalid api-key")
    return key_id(key)
