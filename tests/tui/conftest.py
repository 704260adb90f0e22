"""Fixtures for the TUI tests: a real SQLite store, the real simulator in-process, a real engine, the app.

Dependencies are injected, as the app allows (`QwenApp(context=...)`): the test owns the store, client and
engine and closes them; the app only uses them. The image renderer is forced to half blocks so no test ever
probes the terminal, and cursors do not blink, so snapshots are stable.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from textual import events
from textual.app import App
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, TextArea

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey, Paths
from qwentui.core.download import make_download_client
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.requests import GenerationRequest
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Job, Store
from qwentui.runtime import Context
from qwentui.sim import SimConfig, create_app
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import HALFBLOCK
from qwentui.tui.screens.main import MainScreen
from tests.helpers.wait import NOT_YET, poll_until

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QWENTUI_IMAGE_RENDERER", "halfblock")
    # A blinking cursor would make two renders of the same screen differ.
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None, raising=False)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None, raising=False)


@pytest.fixture(autouse=True)
def _paint_sparingly(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Behaviour tests assert on widgets, not on the characters a frame would send to a terminal, and painting
    those frames was a third of their CPU time. So a screen's frames are painted when it is first shown and once
    more in full as the test ends (a widget whose rendering fails still fails its test); layout runs as ever.
    Tests marked `paint` paint every frame, and every test does with QWENTUI_TEST_PAINT=every."""
    if request.node.get_closest_marker("paint") is not None or os.environ.get("QWENTUI_TEST_PAINT") == "every":
        return
    painted: weakref.WeakSet[Screen[Any]] = weakref.WeakSet()
    refresh = Screen._compositor_refresh

    def sparing_refresh(screen: Screen[Any]) -> None:
        app = screen.app
        if screen is app.screen and screen in painted:  # what Textual does after a paint, without the paint
            screen._dirty_widgets.clear()
            screen._compositor._dirty_regions.clear()
            app._update_mouse_over(screen)
            return
        if screen is app.screen:
            painted.add(screen)
        refresh(screen)

    shutdown = App._shutdown

    async def paint_last_frame_then_shutdown(app: App[Any]) -> None:
        if app._exception is None and app._running and app.screen_stack:
            app.screen._compositor.render_update(full=True)
        await shutdown(app)

    monkeypatch.setattr(Screen, "_compositor_refresh", sparing_refresh)
    monkeypatch.setattr(App, "_shutdown", paint_last_frame_then_shutdown)


def t2i(prompt: str, **fields: object) -> GenerationRequest:
    return GenerationRequest(mode=Mode.T2I, prompt=prompt, **fields)  # type: ignore[arg-type]


def make_paths(tmp_path: Path) -> Paths:
    return Paths(
        db=tmp_path / "jobs.db", output=tmp_path / "out", drop=tmp_path / "drop", settings=tmp_path / "settings.toml"
    )


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(seed=3, pending_seconds=0.2, running_seconds=0.3, public_url="http://sim.local")


@asynccontextmanager
async def sim_context(tmp_path: Path, sim_config: SimConfig, **config: Any) -> AsyncIterator[Context]:
    """A store, a client on the in-process simulator and a started engine: what `open_context` gives. `config`:
    more `EngineConfig` fields (prices, settings, ...)."""
    transport = httpx.ASGITransport(app=create_app(sim_config))
    client = DashScopeClient(ApiKey("test", "test"), "http://sim.local/api/v1", transport=transport)
    paths = make_paths(tmp_path)
    store = await Store.open(paths.db)
    engine = Engine(
        store,
        client,
        EngineConfig(output_dir=paths.output, policy=SchedulePolicy(interval=0.05, time_scale=0.01), **config),
        download_http=make_download_client(transport=transport),
    )
    await engine.start()
    try:
        yield Context(paths, store, client, engine, demo=False, endpoint="simulator (tests)")
    finally:
        await engine.stop()
        await client.aclose()
        await store.close()


@pytest.fixture
async def context(tmp_path: Path, sim_config: SimConfig) -> AsyncIterator[Context]:
    async with sim_context(tmp_path, sim_config) as ctx:
        yield ctx


def quiet(app: QwenApp) -> QwenApp:
    """No animations: a focus change would otherwise animate its scroll, and Pilot waits for every animation."""
    app.animation_level = "none"
    return app


@pytest.fixture
def app(context: Context) -> QwenApp:
    return quiet(QwenApp(context=context, backend=HALFBLOCK))


def main_screen(app: QwenApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), f"expected the main screen, got {screen!r}"
    return screen


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Let the app run until `condition` holds (no fixed sleeps: only the outcome is asserted, never a time). A
    widget not on screen yet (`NoMatches`) is "not yet", as a row not there yet is."""
    await poll_until(condition, timeout=timeout, what=what, nap=pilot.pause, not_yet=(*NOT_YET, NoMatches))


async def wait_for_state(
    pilot: Pilot[None], store: Store, job_id: int, states: set[JobState] | frozenset[JobState], timeout: float = 30.0
) -> Job:
    found: list[Job] = []

    async def check() -> bool:
        job = await store.get_job(job_id)
        if job is not None and job.state in states:
            found.append(job)
            return True
        return False

    await wait_until(pilot, check, timeout, what=f"job {job_id} to reach {sorted(s.value for s in states)}")
    return found[-1]


async def wait_terminal(pilot: Pilot[None], store: Store, job_id: int) -> Job:
    return await wait_for_state(pilot, store, job_id, TERMINAL | {JobState.NEEDS_USER})


async def palette_offers(pilot: Pilot[None], text: str) -> None:
    """Wait until the command palette lists a command whose name holds `text`, highlighted (enter runs it)."""
    from textual.command import CommandList

    def offered() -> bool:
        found = pilot.app.screen.query_one(CommandList)
        option = found.highlighted_option
        return option is not None and text.lower() in str(option.prompt).lower()

    await wait_until(pilot, offered, what=f"the palette to offer {text!r}")


async def validated(pilot: Pilot[None], composer: Any) -> None:
    """Wait until the composer shows the validation of its form as it is now (its debounce has run)."""
    await wait_until(pilot, lambda: (composer._request, composer._problems) == composer.current(), what="validation")


@pytest.fixture
def png(tmp_path: Path) -> Path:
    """A real 512x512 PNG on disk, for modes that take local images."""
    path = tmp_path / "input.png"
    image = Image.new("RGB", (512, 512))
    for x in range(512):
        for y in range(0, 512, 8):
            image.putpixel((x, y), (x // 2, y // 2, 128))
    image.save(path)
    return path


async def focus(pilot: Pilot[None], widget_id: str) -> None:
    """Move the focus to `#widget_id` with tab or shift+tab (whichever is shorter), as a user would."""
    app = pilot.app
    chain = app.screen.focus_chain
    ids = [w.id for w in chain]
    if widget_id not in ids:
        raise AssertionError(f"#{widget_id} cannot take the focus (chain: {ids})")
    here = chain.index(app.focused) if app.focused in chain else 0
    forward = (ids.index(widget_id) - here) % len(ids)
    key, count = ("tab", forward) if forward <= len(ids) - forward else ("shift+tab", len(ids) - forward)
    await pilot.press(*[key] * count)
    assert app.focused is not None and app.focused.id == widget_id, f"focus is on {app.focused!r}"


def keys_for(text: str) -> list[str]:
    """The key names that type `text` (Pilot and the driver name the space key "space")."""
    return [{" ": "space"}.get(ch, ch) for ch in text]


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*keys_for(text))


async def typist(pilot: Pilot[None], *keys: str, gap: int = 20) -> None:
    """Keys as a fast typist delivers them: each one `gap` turns of the event loop after the last, whether or
    not the app has settled (pilot.press waits for the app to go idle after every key, which hides a slow
    handler that a real typist runs into)."""
    app = pilot.app
    for key in keys:
        char = {"space": " "}.get(key, key if len(key) == 1 else None)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)  # type: ignore[union-attr]
        for _ in range(gap):
            await asyncio.sleep(0)
    await pilot.pause()


async def choose(pilot: Pilot[None], widget_id: str, value: str) -> None:
    """Pick `value` in a Select with the keyboard: focus it, open it, arrow to the option, enter."""
    from textual.widgets import Select

    await focus(pilot, widget_id)
    select = pilot.app.screen.query_one(f"#{widget_id}", Select)
    values = [v for _, v in select._options]
    current, target = values.index(select.value), values.index(value)
    await pilot.press("enter")
    await pilot.press(*(["down" if target > current else "up"] * abs(target - current)))
    await pilot.press("enter")
    await pilot.pause()
    assert select.value == value, f"#{widget_id} is {select.value!r}, wanted {value!r}"


async def paste(pilot: Pilot[None], text: str) -> None:
    """Paste `text` into the focused field, as a terminal's bracketed paste delivers it (one event, not one key
    per character: long URLs and paths would otherwise dominate the suite's run time)."""
    from textual import events

    pilot.app.post_message(events.Paste(text))
    await pilot.pause()
