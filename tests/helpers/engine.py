"""A real engine on the in-process simulator, with the fast schedule the tests use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.store import Store
from tests.helpers.sim import SimHarness
from tests.helpers.wait import poll_until


def engine_config(tmp_path: Path, **overrides: object) -> EngineConfig:
    base: dict[str, object] = {
        "output_dir": tmp_path / "out",
        "policy": SchedulePolicy(interval=0.05, max_interval=0.5, time_scale=0.001),
        "tick": 0.02,
        "idle_look": 0.2,  # paused loops come round often enough for engine_rounds(); wake-ups: test_engine_wakes
        "reconcile_settle": 0.3,
    }
    base.update(overrides)
    return EngineConfig(**base)  # type: ignore[arg-type]


@asynccontextmanager
async def running_engine(
    tmp_path: Path, store: Store, harness: SimHarness, **overrides: object
) -> AsyncIterator[Engine]:
    """A started engine on the simulator (`engine_config` overrides, and `clock=`), stopped and closed after."""
    clock = overrides.pop("clock", None)
    extra = {"clock": clock} if clock is not None else {}
    client, http = harness.client(), harness.download_client()
    eng = Engine(store, client, engine_config(tmp_path, **overrides), download_http=http, **extra)  # type: ignore[arg-type]
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()
        await http.aclose()
        await client.aclose()


async def engine_rounds(eng: Engine, rounds: int, *, timeout: float = 60) -> None:
    """Let the engine's loops come round `rounds` more times: each asks whether the engine is paused before it
    sends anything, so an absence ("nothing went out while paused") is checked over that many real chances,
    not over a fixed time that a loaded machine could fill with nothing."""
    looks = 0
    paused = eng._paused

    def counting(everything: bool = False) -> bool:
        nonlocal looks
        looks += 1
        return paused(everything)

    eng._paused = counting  # type: ignore[method-assign]
    try:
        await poll_until(lambda: looks >= rounds, timeout=timeout, what=f"{rounds} rounds of the engine's loops")
    finally:
        del eng._paused
