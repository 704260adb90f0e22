"""The drop-folder service started next to an engine (by the TUI and by `qwentui run`)."""

from __future__ import annotations

import sys

from qwentui.core.dropfolder import DropFolderService, load_settings
from qwentui.runtime.context import Context


async def start_drop_service(ctx: Context, *, echo: bool = False) -> DropFolderService | None:
    """Start watching the drop folders next to `ctx.engine`; None when no rule is enabled.

    Raises `RuleError` (a QwentuiError: one clear line) when the settings file has a broken rule.
    With `echo`, every drop event is printed to stderr (for `qwentui run`).
    """
    settings = load_settings(ctx.paths.settings, ctx.paths.drop)
    if not any(rule.enabled for rule in settings.rules):
        return None
    service = DropFolderService.from_settings(ctx.engine, ctx.store, settings)
    if echo:
        printed: dict[str, float | None] = {}
        service.on_change(lambda name: _echo(service, name, printed))
    await service.start()
    return service


def _echo(service: DropFolderService, name: str, printed: dict[str, float | None]) -> None:
    rule = service.board.get(name)
    if rule.last_event and printed.get(name) != rule.last_event_at:  # counts change too; print events only
        printed[name] = rule.last_event_at
        print(f"drop {name}: {plain(rule.last_event)}", file=sys.stderr, flush=True)


def plain(text: str) -> str:
    """One line without control characters (file names and prompts are untrusted)."""
    return "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(text).split()))
