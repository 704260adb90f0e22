"""Render the README's SVG screenshots: the main screen, the composer and the details screen.

    .venv/bin/python assets/make_screenshots.py          # writes assets/screenshots/*.svg

The screens are drawn from the same frozen history the snapshot tests use (`tests/tui/snapshot_data.py`: the
demo's prompts in many states, written straight into a store, no engine moving anything), with the app's
clock frozen, half-block images and UTC local times, so a run with unchanged code gives unchanged files and a
diff of the SVGs shows what a change did to the screen.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `tests.tui.snapshot_data` lives beside the package, not inside it

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input, Static, TextArea  # noqa: E402

from qwentui.tui.app import QwenApp  # noqa: E402
from qwentui.tui.image_backend import HALFBLOCK  # noqa: E402
from qwentui.tui.screens.composer import ComposerScreen  # noqa: E402
from qwentui.tui.screens.details import DetailsScreen  # noqa: E402
from qwentui.tui.widgets.image_view import HalfBlockImage  # noqa: E402
from tests.tui.snapshot_data import NOW, build, open_snapshot_context  # noqa: E402

OUT = ROOT / "assets" / "screenshots"

Step = Callable[[Pilot[Any]], Awaitable[None]]


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition of the screen (up to 20 s), then let it settle."""
    deadline = time.monotonic() + 20.0
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"make_screenshots: the {what} never appeared")
        await pilot.pause(0.025)
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()


async def main_ready(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(
        pilot,
        lambda: type(app.screen).__name__ == "MainScreen" and bool(app.screen.query(HalfBlockImage)),
        "main screen",
    )


def _text(pilot: Pilot[Any], selector: str) -> str:
    widgets = pilot.app.screen.query(selector)
    return str(widgets.first(Static).content) if widgets else ""


async def composer(pilot: Pilot[Any]) -> None:
    await main_ready(pilot)
    await pilot.press("d")  # duplicate the selected (finished) job into the composer
    await until(pilot, lambda: isinstance(pilot.app.screen, ComposerScreen), "composer")
    # validation runs after a debounce; the shot waits for its verdict and the JSON body it shows
    await until(pilot, lambda: _text(pilot, "#composer-summary").startswith("✓"), "composer's verdict")
    await until(pilot, lambda: _text(pilot, "#composer-json").startswith("POST"), "composer's JSON body")


async def details(pilot: Pilot[Any]) -> None:
    await main_ready(pilot)
    await pilot.press("enter")
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, DetailsScreen) and bool(pilot.app.screen.query("#details-events")),
        "details screen",
    )


SHOTS: list[tuple[str, tuple[int, int], Step]] = [
    ("main", (130, 36), main_ready),
    ("composer", (130, 40), composer),
    ("details", (120, 44), details),
]


async def shoot(work: Path, name: str, size: tuple[int, int], step: Step) -> Path:
    db = work / name / "jobs.db"
    db.parent.mkdir()
    os.chdir(db.parent)  # result paths are relative ("results/9_1.png"): the same text on every machine
    await build(db, Path("results"))
    app = QwenApp(opener=lambda: open_snapshot_context(db, db.parent), backend=HALFBLOCK, clock=lambda: NOW, live=False)
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        await step(pilot)
        svg = app.export_screenshot(title=f"qwentui — {name}")
    path = OUT / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


async def main() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    # A blinking cursor would make two renders of the same screen differ.
    Input._toggle_cursor = lambda self: None  # type: ignore[method-assign]
    TextArea._toggle_cursor_blink_visible = lambda self: None  # type: ignore[method-assign]
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qwentui-shots-") as tmp:
        for name, size, step in SHOTS:
            path = await shoot(Path(tmp), name, size, step)
            print(f"{path.relative_to(ROOT)}  {size[0]}x{size[1]}  {path.stat().st_size:,} bytes")
        os.chdir(ROOT)


if __name__ == "__main__":
    asyncio.run(main())
