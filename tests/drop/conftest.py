"""Fixtures: a real SQLite store, the simulator in-process, a real engine, and drop-folder services on tmp folders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.download import make_download_client
from qwentui.core.dropfolder import DropFolderService, Rule
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.store import Store
from qwentui.sim import SimConfig, Simulator, create_app

BASE = "http://sim.local/api/v1"


class World:
    """One simulator shared by every engine a test starts (so submissions are counted across restarts)."""

    def __init__(self, tmp: Path, config: SimConfig) -> None:
        self.tmp = tmp
        self.app = create_app(config)
        self.sim: Simulator = self.app.state.sim
        self.transport = httpx.ASGITransport(app=self.app)
        self.root = tmp / "drop"
        self._closers: list[Any] = []

    def rule(
        self,
        name: str = "animate",
        mode: Mode = Mode.I2V,
        model: str = "wan2.6-i2v-flash",
        prompt: str = "slow push-in",
        **kw: Any,
    ) -> Rule:
        return Rule(name, self.root / name, mode, model, prompt, **kw)

    async def open_store(self) -> Store:
        """The test's database, closed after everything else at the end of the test."""
        store = await Store.open(self.tmp / "jobs.db")
        self._closers.insert(0, store.close)
        return store

    def client(self) -> DashScopeClient:
        client = DashScopeClient(ApiKey("test", "test"), BASE, transport=self.transport)
        self._closers.append(client.aclose)
        return client

    async def engine(self, store: Store, **config: Any) -> Engine:
        client = self.client()
        http = make_download_client(transport=self.transport)
        config.setdefault("tick", 0.05)
        cfg = EngineConfig(output_dir=self.tmp / "out", policy=SchedulePolicy(interval=0.05, time_scale=0.01), **config)
        engine = Engine(store, client, cfg, download_http=http)
        await engine.start()
        self._closers += [http.aclose, engine.stop]
        return engine

    async def service(
        self,
        rules: list[Rule],
        *,
        store: Store | None = None,
        engine: Engine | None = None,
        quiet: float = 0.3,
        give_up: float = 1.0,
        **kw: Any,
    ) -> DropFolderService:
        """A started service (its engine and store too, unless given); stopped by the fixture."""
        if store is None:
            store = await self.open_store()
        if engine is None:
            engine = await self.engine(store)
        service = DropFolderService(
            engine,
            store,
            rules,
            quiet=quiet,
            give_up=give_up,
            rescan=kw.pop("rescan", 5.0),
            **kw,
        )
        await service.start()
        await service.wait_started(timeout=30)
        self._closers.append(service.stop)
        return service

    async def close(self) -> None:
        for close in reversed(self._closers):
            await close()
        self._closers.clear()


def fast(**knobs: Any) -> SimConfig:
    base: dict[str, Any] = {
        "pending_seconds": 0.05,
        "running_seconds": 0.1,
        "seed": 1,
        "task_query_qps": None,
        "public_url": "http://sim.local",
    }
    base.update(knobs)
    return SimConfig(**base)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path, fast())
    try:
        yield w
    finally:
        await w.close()
