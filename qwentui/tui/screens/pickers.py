"""Small modal choosers: a recent prompt, a local file, or yes/no."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Label, OptionList
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
    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES)]


class FilePicker(ModalScreen[Path | None]):
    DEFAULT_CSS = MODAL_CSS.format(name="FilePicker") + "FilePicker DirectoryTree { height: 24; }"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("picker") + keymap.bindings("file-picker")

    def __init__(self, start: Path) -> None:
        super().__init__()
        self._start = start

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Pick a file — {self._start} (backspace: parent folder, esc: close)"), classes="title")
            yield _MediaTree(self._start)

    def on_mount(self) -> None:
        self.query_one(_MediaTree).focus()

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(event.path)

    def action_up(self) -> None:
        tree = self.query_one(_MediaTree)
        tree.path = Path(tree.path).resolve().parent

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
