"""The built-in DashScope simulator: the protocol of `docs/protocol.md`, real files, controllable faults.

    sim = Simulator(SimConfig(time_scale=0.01, clock=FakeClock()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(sim=sim)), base_url="http://sim") as client:
        ...
    sim.advance(10)  # with a FakeClock: every task moves on

`create_app(config)` gives the ASGI app (its simulator is `app.state.sim`); `serve(config, port=8765)` runs
it with uvicorn; `running(config)` runs it on a free loopback port in a background thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwentui.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from qwentui.sim.app import create_app
    from qwentui.sim.clock import FakeClock
    from qwentui.sim.config import SimConfig
    from qwentui.sim.server import BackgroundServer, running, serve
    from qwentui.sim.simulator import Simulator, Submission
    from qwentui.sim.tasks import Status, Task

# Loaded on first use: every `qwentui` command builds its parser with the `sim` subcommand, which needs only
# `qwentui.sim.config`; the ASGI app and its web framework cost ~0.3 s of start-up for nothing.
__getattr__ = lazy_attributes(
    __name__,
    {
        "create_app": "app",
        "FakeClock": "clock",
        "SimConfig": "config",
        "BackgroundServer": "server",
        "running": "server",
        "serve": "server",
        "Simulator": "simulator",
        "Submission": "simulator",
        "Status": "tasks",
        "Task": "tasks",
    },
)


__all__ = [
    "BackgroundServer",
    "FakeClock",
    "SimConfig",
    "Simulator",
    "Status",
    "Submission",
    "Task",
    "create_app",
    "running",
    "serve",
]
