"""Start-up wiring shared by the CLI and the TUI: options in, an open store, client and engine out.

It sits below both front ends: it imports the core (and the simulator, for `--demo`), never `cli` or `tui`.
The CLI turns its arguments into `RuntimeOptions`; the TUI receives them ready-made.
"""

from qwentui.runtime.context import Context, RuntimeOptions, open_context, open_store, paths_for
from qwentui.runtime.drops import start_drop_service

__all__ = ["Context", "RuntimeOptions", "open_context", "open_store", "paths_for", "start_drop_service"]
