"""The CLI's entry to the TUI: settings, the image renderer (chosen before Textual owns the terminal), the app."""

from __future__ import annotations

import argparse

from qwentui.cli.context import open_context, paths_for
from qwentui.tui.image_backend import choose
from qwentui.tui.settings import load_settings


def launch(args: argparse.Namespace) -> int:
    from qwentui.tui.app import QwenApp  # Textual is imported only when the TUI really starts
    from qwentui.tui.demo import reset_demo_database, seed_demo

    settings = load_settings(paths_for(args).settings)
    backend = choose(settings.image_renderer)  # may query the terminal: must happen before app.run()
    if args.demo:
        reset_demo_database(args)
    app = QwenApp(opener=lambda: open_context(args), settings=settings, backend=backend,
                  on_ready=seed_demo if args.demo else None)
    app.run()
    return app.return_code or 0
