"""The Textual app: composition and wiring only.

The store and engine come either ready-made (`context=`, what tests pass: they own the life cycle) or from an
async context manager factory (`opener=`, what `launch` passes) that the app enters in a worker after the first
paint and leaves when it unmounts, so nothing is opened at import time and a slow database never freezes the
first screen.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack

from textual import work
from textual.app import App, ComposeResult
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import Static

from qwentui.core.errors import QwentuiError
from qwentui.core.store import StoreError
from qwentui.runtime import Context
from qwentui.tui import keymap
from qwentui.tui.commands import JobCommands
from qwentui.tui.image_backend import HALFBLOCK, ImageBackend
from qwentui.tui.key_order import InOrderKeys
from qwentui.tui.screens.main import MainScreen
from qwentui.tui.settings import TuiSettings
from qwentui.tui.widgets.key_bar import KeyBar

Opener = Callable[[], AbstractAsyncContextManager[Context]]


class StartingScreen(Screen[None]):
    """What shows while the database opens and the engine recovers."""

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static("Opening the job database…", id="starting")
        yield KeyBar()


class QwenApp(InOrderKeys):
    TITLE = "qwentui"
    CSS_PATH = "app.tcss"
    BINDINGS = keymap.bindings("app")
    COMMANDS = App.COMMANDS | {JobCommands}

    def __init__(
        self,
        *,
        context: Context | None = None,
        opener: Opener | None = None,
        settings: TuiSettings | None = None,
        backend: ImageBackend = HALFBLOCK,
        clock: Callable[[], float] = time.time,
        on_ready: Callable[[Context], Awaitable[None]] | None = None,
        live: bool = True,
    ) -> None:
        if (context is None) == (opener is None):
            raise ValueError("give either an open context or an opener, not both")
        super().__init__()
        self.context = context
        self._opener = opener
        self.settings = settings or TuiSettings()
        self.backend = backend
        self.clock = clock
        self._on_ready = on_ready
        self.live = live
        self._stack = AsyncExitStack()
        if opener is not None:
            # what is typed before the database is open (from the first key the terminal gives) is meant for the
            # main screen
            self.hold_keys()

    def get_default_screen(self) -> Screen[None]:
        return StartingScreen()

    def on_mount(self) -> None:
        self.set_keymap(self.settings.keymap)
        if self.settings.theme:
            try:
                self.theme = self.settings.theme
            except Exception:  # an unknown theme name: keep the default rather than refuse to start
                self.notify(f"Unknown theme {self.settings.theme!r}", severity="warning", markup=False)
        for problem in self.settings.problems:
            self.notify(problem, title="Settings", severity="warning", markup=False, timeout=10)
        if self.context is not None:
            self._show_main(self.context)
        else:
            self._open()

    @work(exclusive=True, group="startup", exit_on_error=False)
    async def _open(self) -> None:
        assert self._opener is not None
        try:
            context = await self._stack.enter_async_context(self._opener())
            if self._on_ready is not None:
                await self._on_ready(context)
        except (QwentuiError, StoreError, OSError) as exc:
            self.exit(return_code=1, message=f"qwentui: error: {exc}")
            return
        self.context = context
        await self._show_main(context)
        self.call_after_refresh(self.let_keys_in)  # behind the focus the main screen took as it mounted

    def _show_main(self, context: Context) -> AwaitMount:
        self.sub_title = f"{context.endpoint} · {context.paths.db}" if context.demo else context.endpoint
        return self.push_screen(MainScreen(context, self.settings, self.backend, clock=self.clock, live=self.live))

    async def on_unmount(self) -> None:
        await self._stack.aclose()  # stops the engine, closes the client and the store (only what we opened)

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()
