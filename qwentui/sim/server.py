"""Run the simulator on a real socket: `serve()` in the foreground, `running()` in a background thread.

Loopback by default. Dropped connections are exceptions raised on purpose; a logging filter keeps uvicorn
from printing a traceback for each one.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import uvicorn

from qwentui.sim.app import API, create_app
from qwentui.sim.config import SimConfig
from qwentui.sim.errors import SimulatedDrop
from qwentui.sim.simulator import Simulator


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedDrop)


def quiet_drops() -> None:
    """Install (once) the filter that hides tracebacks of deliberate drops."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def serve(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    log_level: str = "warning",
    sim: Simulator | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C)."""
    quiet_drops()
    app = create_app(config, sim)
    uvicorn.run(
        app, host=host, port=port, log_level=log_level, access_log=log_level == "debug", date_header=False
    )  # the app sends the simulator's own clock


class BackgroundServer:
    """The simulator on a free loopback port in a daemon thread, for tests and the demo.

    with running(SimConfig(time_scale=0.001)) as server:
        dashscope.base_http_api_url = server.api_url
        ... server.sim.submissions ...
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        sim: Simulator | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.sim = sim or Simulator(config)
        self.host = host
        self.port = port
        quiet_drops()
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(sim=self.sim),
                host=host,
                port=port,
                log_level=log_level,
                access_log=False,
                lifespan="off",
                date_header=False,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="qwentui-sim", daemon=True)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (the skill scripts' QWEN_BASE_URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:PORT/api/v1` (the SDK's base_http_api_url)."""
        return self.base_url + API

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        if self.port == 0:
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def running(config: SimConfig | None = None, sim: Simulator | None = None, port: int = 0) -> BackgroundServer:
    """A not-yet-started BackgroundServer; use it as a context manager."""
    return BackgroundServer(config, sim, port=port)
