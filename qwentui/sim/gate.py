"""The front door of every API route: connection faults, auth, storms and rate limits, in that order
(as the real service appears to apply them), then the handler, with errors turned into the JSON envelope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum

from starlette.requests import Request
from starlette.responses import Response

from qwentui.sim.auth import check_key
from qwentui.sim.config import SimConfig
from qwentui.sim.errors import (
    MSG_ARREARAGE,
    MSG_QUOTA,
    ApiError,
    DroppedResponse,
    SimulatedDrop,
    error_response,
)
from qwentui.sim.simulator import Simulator

API = "/api/v1"


class Kind(StrEnum):
    SUBMIT = "submit"
    QUERY = "query"  # GET /tasks/{id} and GET /tasks share the account's 20 QPS
    CANCEL = "cancel"
    POLICY = "policy"


Handler = Callable[[Request, Simulator, str, str], Awaitable[Response]]


def sim_of(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def base_url(request: Request, config: SimConfig) -> str:
    """Where clients reach us: the configured public URL, else the scheme and host they used."""
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


async def gate(request: Request, sim: Simulator, kind: Kind) -> str:
    """Faults, auth, storms and rate limits, in that order; returns the key's fingerprint."""
    cfg = sim.config
    if sim.faults.roll(cfg.drop_before_rate):
        raise SimulatedDrop("connection dropped before the request was processed")
    if cfg.slow_seconds > 0:
        await asyncio.sleep(cfg.slow_seconds)
    key = check_key(request.headers.get("authorization"), cfg)
    now = sim.now()
    storm = sim.faults.storm(now)
    if storm is not None:
        raise storm
    if kind is Kind.QUERY and (err := sim.faults.throttle_query(now)) is not None:
        raise err
    if kind is Kind.SUBMIT:
        if cfg.arrearage:
            raise ApiError(400, "Arrearage", MSG_ARREARAGE)
        if cfg.quota_exhausted:
            raise ApiError(429, "Throttling.AllocationQuota", MSG_QUOTA)
        if (err := sim.faults.throttle_submit(now)) is not None:
            raise err
    return key


def api(kind: Kind, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: gate, handler, and the error envelope / dropped connection around both."""

    async def endpoint(request: Request) -> Response:
        sim = sim_of(request)
        request_id = sim.new_id()
        try:
            key = await gate(request, sim, kind)
            return await handler(request, sim, request_id, key)
        except ApiError as err:
            return error_response(err, request_id)
        except SimulatedDrop:
            return DroppedResponse()  # a reset: nothing of the answer is sent

    return endpoint
