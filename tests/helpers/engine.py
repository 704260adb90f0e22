"""A real engine on the in-process simulator, with the fast schedule the tests use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.store import Store
from tests.helpers.sim import SimHarness


def engine_config(tmp_path: Path, **overrides: object) -> EngineConfig:
    base: dict[str, object] = {
        "output_dir": tmp_path / "out",
        "policy": SchedulePolicy(interval=0.05, max_interval=0.5, time_scale=0.001),
        "tick": 0.02,
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
