"""The TUI's part of the settings file (`Paths.settings`, TOML): the `[tui]` and `[keys]` tables.

    [tui]
    image_renderer = "auto"   # auto | halfblock | none  (env QWENTUI_IMAGE_RENDERER wins)
    bell = false              # ring the terminal bell when a job finishes or fails
    desktop_notify = false    # a desktop notification (notify-send) when a whole batch is done
    theme = "textual-dark"

    [keys]                    # binding id -> keys (see qwentui/tui/keymap.py)
    cancel-job = "x"

Other tables in the same file belong to other parts of qwentui and are ignored here. A broken file never stops
the app: the defaults are used and the problems are shown as a notification.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qwentui.tui.keymap import parse_keymap

RENDERERS = ("auto", "halfblock", "none")
RENDERER_ENV = "QWENTUI_IMAGE_RENDERER"


@dataclass(frozen=True)
class TuiSettings:
    image_renderer: str = "auto"
    bell: bool = False
    desktop_notify: bool = False
    theme: str | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def load_settings(path: Path | None, env: Mapping[str, str] | None = None) -> TuiSettings:
    values = os.environ if env is None else env
    problems: list[str] = []
    data: dict[str, object] = {}
    if path is not None and path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: {exc}; using the default settings")
    tui = data.get("tui", {})
    if not isinstance(tui, dict):
        problems.append("[tui] must be a table")
        tui = {}
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        problems.append('[keys] must be a table of binding id = "keys"')
        keys = {}
    keymap, key_problems = parse_keymap(keys)
    problems += key_problems

    renderer = str(tui.get("image_renderer", "auto")).lower()
    env_renderer = values.get(RENDERER_ENV, "").strip().lower()
    if env_renderer:
        renderer = env_renderer
    if renderer not in RENDERERS:
        problems.append(f"image renderer {renderer!r} is not one of {', '.join(RENDERERS)}; using auto")
        renderer = "auto"
    bell = tui.get("bell", False)
    if not isinstance(bell, bool):
        problems.append("[tui] bell must be true or false")
        bell = False
    desktop = tui.get("desktop_notify", False)
    if not isinstance(desktop, bool):
        problems.append("[tui] desktop_notify must be true or false")
        desktop = False
    theme = tui.get("theme")
    return TuiSettings(
        image_renderer=renderer,
        bell=bell,
        desktop_notify=desktop,
        theme=theme if isinstance(theme, str) else None,
        keymap=keymap,
        problems=tuple(problems),
    )
