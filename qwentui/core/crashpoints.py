"""Named places where a test can have the process killed with SIGKILL, to prove recovery from each.

`QWENTUI_CRASHPOINT=after_post` makes the engine kill itself right after the POST returned and before the
task id is committed, and so on. Unset (always, outside tests) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = ("before_post", "after_post", "while_following", "mid_download")


def crashpoint(name: str) -> None:
    if os.environ.get("QWENTUI_CRASHPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
