"""The Textual TUI of qwentui: a thin face over the headless engine and store in `qwentui.core`.

Nothing here is imported by the core; `launch.launch(options)` is the only entry the CLI uses;
the start-up wiring comes from `qwentui.runtime`.
"""
