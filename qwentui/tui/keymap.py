"""Every key binding of the TUI in one table: its id, default keys, action and footer text.

Widgets and screens take their `BINDINGS` from here by group, so the ids a user can remap in the settings file
(`[keys]` table: binding id -> keys, e.g. `cancel-job = "x"`) are all listed in one place, and `App.set_keymap`
applies them everywhere. Keys are Textual key names, comma-separated for alternatives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class KeySpec:
    id: str
    keys: str
    action: str
    description: str
    show: bool = True
    priority: bool = False
    key_display: str | None = None


# Culling and building on results: the same keys over the job table and the gallery (one id each, so a remap
# applies to both screens).
RESULT_KEYS: tuple[KeySpec, ...] = (
    *(KeySpec(f"rate-{n}", str(n), f"mark('{n}')", f"Rate {n}", show=False) for n in range(1, 6)),
    KeySpec("star-result", "s", "mark('star')", "Star", show=False),
    KeySpec("reject-result", "x", "mark('reject')", "Reject", show=False),
    KeySpec("clear-marks", "0", "mark('clear')", "Clear marks", show=False),
    KeySpec("export-results", "E", "export_results", "Export", show=False),
    KeySpec("extend-video", "e", "extend_video", "Extend", show=False),
    KeySpec("assemble-clips", "A", "assemble_clips", "Assemble", show=False),
)

# Groups: which class takes which bindings. `app` keys work everywhere; `main` on the job list screen;
# `table` inside the job table; `composer` and `details` on their screens.
KEYS: dict[str, tuple[KeySpec, ...]] = {
    "app": (
        KeySpec("quit", "ctrl+q", "quit", "Quit", priority=True),
        KeySpec("help", "f1", "toggle_help", "Keys"),
    ),
    "main": (
        KeySpec("new-job", "n", "new_job", "New"),
        KeySpec("cancel-job", "c", "cancel_job", "Cancel"),
        KeySpec("retry-job", "r", "retry_job", "Retry"),
        KeySpec("duplicate-job", "d", "duplicate_job", "Duplicate"),
        KeySpec("animate-job", "a", "animate_job", "Animate"),
        KeySpec("delete-job", "delete", "delete_job", "Delete", key_display="del"),
        KeySpec("resubmit-job", "R", "resubmit_job", "Resubmit", show=False),
        KeySpec("show-details", "enter", "show_details", "Details", key_display="⏎"),
        KeySpec("open-file", "o", "open_file", "Open"),
        KeySpec("open-folder", "O", "open_folder", "Folder", show=False),
        KeySpec("copy-url", "y", "copy_url", "Copy URL", show=False),
        KeySpec("copy-path", "Y", "copy_path", "Copy path", show=False),
        KeySpec("prev-image", "left_square_bracket", "prev_image", "Prev image", show=False, key_display="["),
        KeySpec("next-image", "right_square_bracket", "next_image", "Next image", show=False, key_display="]"),
        KeySpec("focus-search", "slash", "focus_search", "Search", key_display="/"),
        KeySpec("clear-filters", "escape", "clear_filters", "Clear filters", show=False),
        KeySpec("focus-table", "t", "focus_table", "Table", show=False),
        KeySpec("resume-engine", "ctrl+u", "resume_engine", "Resume engine", show=False),
        KeySpec("toggle-drops", "p", "toggle_drops", "Pause drops", show=False),
        KeySpec("open-gallery", "v", "open_gallery", "Gallery"),
        KeySpec("show-family", "f", "show_family", "Family", show=False),
        KeySpec("play-video", "space", "play_video", "Play/pause", show=False, key_display="space"),
    ),
    "results": RESULT_KEYS,
    "gallery": (
        KeySpec("close-gallery", "escape,q", "close", "Close"),
        KeySpec("gallery-details", "enter", "show_details", "Details", key_display="⏎"),
        KeySpec("gallery-search", "slash", "focus_search", "Search", key_display="/"),
        KeySpec("gallery-open", "o", "open_file", "Open", show=False),
    ),
    "thumb-grid": (
        KeySpec("grid-left", "left,h", "move(0,-1)", "Left", show=False),
        KeySpec("grid-right", "right,l", "move(0,1)", "Right", show=False),
        KeySpec("grid-up", "up,k", "move(-1,0)", "Up", show=False),
        KeySpec("grid-down", "down,j", "move(1,0)", "Down", show=False),
        KeySpec("grid-page-up", "pageup", "page(-1)", "Page up", show=False),
        KeySpec("grid-page-down", "pagedown", "page(1)", "Page down", show=False),
        KeySpec("grid-top", "home,g", "edge(-1)", "First", show=False),
        KeySpec("grid-bottom", "end,G", "edge(1)", "Last", show=False),
    ),
    "table": (
        KeySpec("table-down", "j", "cursor_down", "Down", show=False),
        KeySpec("table-up", "k", "cursor_up", "Up", show=False),
        KeySpec("table-top", "g", "scroll_top", "Top", show=False),
        KeySpec("table-bottom", "G", "scroll_bottom", "Bottom", show=False),
    ),
    "composer": (
        # ctrl+s can be taken by a multiplexer or flow control; ctrl+enter and alt+enter reach the app only in
        # terminals with the kitty keyboard protocol (elsewhere they arrive as a plain enter); ctrl+j (a line
        # feed) works everywhere: several ways to submit, and the keymap can add more.
        KeySpec(
            "submit-request", "ctrl+s,ctrl+j,ctrl+enter,alt+enter", "submit", "Submit", priority=True, key_display="^s"
        ),
        # the key bar holds five at 80 columns: F3 and esc are named in the composer's title instead (F1 lists all)
        KeySpec("toggle-json", "f2", "toggle_json", "JSON"),
        KeySpec("recall-prompt", "f3", "recall_prompt", "Recent prompts", show=False),
        KeySpec("pick-file", "f4", "pick_file", "File"),
        # a qwentui output (or its .json sidecar) fills the whole form from the request that made it (not F6 or F7:
        # the prompt's TextArea selects with those)
        KeySpec("restore-request", "ctrl+o", "restore_request", "Restore", key_display="^o"),
        KeySpec("toggle-batch", "f5", "toggle_batch", "Batch"),
        KeySpec("close-composer", "escape", "close", "Close", show=False),
    ),
    "picker": (  # the recent-prompt list and the file picker
        KeySpec("close-picker", "escape", "dismiss_none", "Close"),
    ),
    "file-picker": (KeySpec("parent-folder", "backspace", "up", "Parent folder"),),
    "extend-choice": (  # e on a finished video, when a model can continue the clip itself
        KeySpec("extend-from-frame", "l", "choose('frame')", "From the last frame"),
        KeySpec("extend-continue-clip", "c", "choose('clip')", "Continue the clip"),
        KeySpec("extend-cancel", "escape", "choose('cancel')", "Cancel"),
    ),
    "draft": (  # esc on a composer with a typed draft
        KeySpec("draft-discard", "d", "choose('discard')", "Discard"),
        KeySpec("draft-keep", "k", "choose('keep')", "Keep for later"),
        KeySpec("draft-edit", "escape,e", "choose('edit')", "Keep editing"),
    ),
    "confirm": (
        KeySpec("confirm-yes", "y", "answer(True)", "Yes"),
        KeySpec("confirm-no", "n,escape", "answer(False)", "No"),
    ),
    "details": (
        KeySpec("close-details", "escape,q", "close", "Close"),
        KeySpec("copy-request", "y", "copy_request", "Copy request"),
        KeySpec("details-family", "f", "show_family", "Family in the table", show=False),
    ),
}

ALL_IDS = frozenset(spec.id for group in KEYS.values() for spec in group)


def bindings(*groups: str) -> list[BindingType]:
    """The Textual bindings of these groups, each with its id so the keymap can remap it."""
    return [
        Binding(s.keys, s.action, s.description, show=s.show, priority=s.priority, id=s.id, key_display=s.key_display)
        for group in groups
        for s in KEYS[group]
    ]


def spec(binding_id: str) -> KeySpec:
    for group in KEYS.values():
        for s in group:
            if s.id == binding_id:
                return s
    raise KeyError(binding_id)


def parse_keymap(table: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """The `[keys]` table of the settings file -> (keymap for App.set_keymap, problems to tell the user).

    A wrong entry is skipped with a message rather than refused outright: one typo must not cost the user
    every other remapping, nor the start of the app.
    """
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in table.items():
        if binding_id not in ALL_IDS:
            problems.append(f"[keys] {binding_id!r} is not a binding id (known: {', '.join(sorted(ALL_IDS))})")
        elif not isinstance(keys, str) or not keys.strip():
            problems.append(f'[keys] {binding_id} must be a string of keys like "ctrl+x" or "x,delete"')
        else:
            keymap[binding_id] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return keymap, problems
