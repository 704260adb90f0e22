"""Small modal choosers: a recent prompt, a local file, yes/no, and what to do with a composer draft."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Label, OptionList
from textual.widgets.directory_tree import DirEntry
from textual.widgets.option_list import Option

from qwentui.tui import keymap
from qwentui.tui.presentation import one_line

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 80%; max-width: 110; height: auto; max-height: 80%;
    border: round $primary; background: $surface; padding: 0 1;
}}
{name} Label.title {{ text-style: bold; padding: 0 0 1 0; }}
"""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".mp4", ".mov", ".wav", ".mp3")
# files that can carry the request that made them: qwentui's outputs and their JSON sidecars
RECORD_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".mov", ".json")


class PromptPicker(ModalScreen[str | None]):
    DEFAULT_CSS = MODAL_CSS.format(name="PromptPicker") + "PromptPicker OptionList { height: auto; max-height: 20; }"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("picker")

    def __init__(self, prompts: Iterable[str]) -> None:
        super().__init__()
        self._prompts = list(prompts)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Recent prompts (enter picks, esc closes)", classes="title")
            # Text, not str: a prompt is untrusted and must not be read as markup
            yield OptionList(*(Option(Text(one_line(p, 300)), id=str(i)) for i, p in enumerate(self._prompts)))

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._prompts[int(event.option.id or 0)])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class _MediaTree(DirectoryTree):
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in self.suffixes)]


class FilePicker(ModalScreen[Path | None]):
    """A tree of media files (or of files with `suffixes`) from `start`; its title says what to pick and names the
    folder under the cursor, and `folder` is that folder when the picker closes (the composer starts the next pick
    there)."""

    # The title wraps (it names the folder, which can be long) rather than being cut at 80 columns, and the tree
    # takes the height the title leaves: a tree of fixed height ran past the box on a 24-row terminal, and the cursor
    # went out of sight below it.
    DEFAULT_CSS = MODAL_CSS.format(name="FilePicker") + (
        "FilePicker > Vertical { height: 80%; } FilePicker DirectoryTree { height: 1fr; } "
        "FilePicker #picker-title { width: 1fr; }"
    )
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("picker") + keymap.bindings("file-picker")

    def __init__(self, start: Path, *, what: str = "Pick a file", suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> None:
        super().__init__()
        self.folder = start
        self._what = what
        self._suffixes = suffixes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title(), classes="title", id="picker-title")
            tree = _MediaTree(self.folder)
            tree.suffixes = self._suffixes
            yield tree

    def _title(self) -> Text:
        return Text(f"{self._what} — {self.folder} (enter: pick or open, backspace: parent folder, esc: close)")

    def on_mount(self) -> None:
        self.query_one(_MediaTree).focus()

    def _show_folder(self, folder: Path) -> None:
        if folder != self.folder:
            self.folder = folder
            self.query_one("#picker-title", Label).update(self._title())

    @on(DirectoryTree.NodeHighlighted)
    def _highlighted(self, event: DirectoryTree.NodeHighlighted[DirEntry]) -> None:
        entry = event.node.data
        if entry is not None:
            self._show_folder(entry.path if entry.path.is_dir() else entry.path.parent)

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        self.folder = event.path.parent
        self.dismiss(event.path)

    def action_up(self) -> None:
        tree = self.query_one(_MediaTree)
        parent = Path(tree.path).resolve().parent
        tree.path = parent
        self._show_folder(parent)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = MODAL_CSS.format(name="Confirm") + "Confirm Horizontal { height: auto; align: right middle; }"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("confirm")

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._question), classes="title")
            with Horizontal():
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


DraftAnswer = Literal["discard", "keep", "edit"]


class DraftChoice(ModalScreen[DraftAnswer]):
    """Esc on a composer with typed text: discard it, keep it for the next new job, or go on editing."""

    DEFAULT_CSS = MODAL_CSS.format(name="DraftChoice") + "DraftChoice Horizontal { height: auto; align: right middle; }"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("draft")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Close the composer? It holds a draft you typed.", classes="title")
            with Horizontal():
                yield Button("Discard (d)", variant="error", id="discard")
                yield Button("Keep for later (k)", id="keep")
                yield Button("Keep editing (esc)", variant="primary", id="edit")

    def on_mount(self) -> None:
        self.query_one("#edit", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "edit")

    def action_choose(self, answer: str) -> None:
        choice: DraftAnswer = "discard" if answer == "discard" else "keep" if answer == "keep" else "edit"
        self.dismiss(choice)
