"""Start-up wiring shared by the CLI and the TUI: options in, an open store, client and engine out.

It sits below both front ends: it imports the core (and the simulator, for `--demo`), never `cli` or `tui`.
The CLI turns its arguments into `RuntimeOptions`; the TUI receives them ready-made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwentui.core.lazy import lazy_attributes
from qwentui.runtime.context import Context, RuntimeOptions, open_context, open_store, paths_for

if TYPE_CHECKING:
    from qwentui.runtime.drops import start_drop_service


# `start_drop_service` is loaded on first use: the drop-folder service (watchfiles, the intake pipeline) is
# start-up time that commands which never watch a folder should not pay.
__getattr__ = lazy_attributes(__name__, {"start_drop_service": "drops"})


__all__ = ["Context", "RuntimeOptions", "open_context", "open_store", "paths_for", "start_drop_service"]
