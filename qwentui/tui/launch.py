"""The front end's entry to the TUI: settings, the image renderer (chosen before Textual owns the terminal), the app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from qwentui.core.errors import QwentuiError
from qwentui.runtime import Context, RuntimeOptions, open_context, paths_for, start_drop_service
from qwentui.runtime.demo import prepare_demo, seed_demo
from qwentui.tui.app import QwenApp
from qwentui.tui.image_backend import choose
from qwentui.tui.log_sink import logs_to_file
from qwentui.tui.settings import load_settings

log = logging.getLogger(__name__)
LOG_NAME = "qwentui.log"  # beside the database: what went wrong while the TUI owned the terminal


@asynccontextmanager
async def open_with_drops(options: RuntimeOptions) -> AsyncIterator[Context]:
    """The engine's context, plus the drop-folder service watching next to it (stopped before the engine)."""
    async with open_context(options) as ctx:
        try:
            ctx.drops = await start_drop_service(ctx)
        except QwentuiError as exc:  # a broken rule must not keep the app from opening; the bar says why
            log.warning("drop folders not started: %s", exc)
            ctx.drops = None
        try:
            yield ctx
        finally:
            if ctx.drops is not None:
                await ctx.drops.stop()


def launch(options: RuntimeOptions) -> int:
    settings = load_settings(paths_for(options).settings)
    backend = choose(settings.image_renderer)  # may query the terminal: must happen before app.run()
    if options.demo:
        prepare_demo(options)
    app = QwenApp(
        opener=lambda: open_with_drops(options),
        settings=settings,
        backend=backend,
        on_ready=seed_demo if options.demo else None,
    )
    log_file = paths_for(options).db.parent / LOG_NAME

    def toast(text: str) -> None:
        app.notify(text, severity="error", markup=False, timeout=10)

    with logs_to_file(log_file, toast):
        app.run()
    return app.return_code or 0
