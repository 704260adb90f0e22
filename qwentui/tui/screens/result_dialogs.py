"""The questions the result actions ask before they act: where to export, how to extend a clip, and how to
assemble a film (sound track, frames trimmed at the seams). Each answers a value, or None when cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from qwentui.tui import keymap
from qwentui.tui.screens.pickers import MODAL_CSS


class PathPrompt(ModalScreen[str | None]):
    """One line of text (a folder or a .zip path); enter accepts, escape cancels."""

    DEFAULT_CSS = MODAL_CSS.format(name="PathPrompt") + "PathPrompt Label { width: 100%; }"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str) -> None:
        super().__init__()
        self._question = question
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._question), classes="title", id="path-question")
            yield Input(self._value, id="path-input")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


ExtendHow = Literal["frame", "clip"]


class ExtendChoice(ModalScreen[ExtendHow | None]):
    """From the clip's last frame (any i2v model), or the clip itself continued by a model that reads clips."""

    # one button a line: the model's name makes them too wide to sit side by side in 80 columns
    DEFAULT_CSS = MODAL_CSS.format(name="ExtendChoice") + "ExtendChoice Button { width: 100%; }"
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("extend-choice")

    def __init__(self, job_id: int, clip_model: str) -> None:
        super().__init__()
        self._job_id = job_id
        self._clip_model = clip_model

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Extend job {self._job_id}: how should the next clip start?", classes="title")
            yield Button("From its last frame, any i2v model (l)", variant="primary", id="frame")
            yield Button(Text(f"Continue the clip itself with {self._clip_model} (c)"), id="clip")
            yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#frame", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "cancel")

    def action_choose(self, how: str) -> None:
        self.dismiss("frame" if how == "frame" else "clip" if how == "clip" else None)


@dataclass(frozen=True)
class AssembleOptions:
    audio: Path | None = None  # a sound track, looped or cut to the film's length
    trim_frames: int = 0  # frames dropped at each end of every clip


class AssembleDialog(ModalScreen[AssembleOptions | None]):
    """The clips, in order; an optional sound track and a trim at each seam. Enter (or the button) assembles."""

    DEFAULT_CSS = MODAL_CSS.format(name="AssembleDialog") + (
        "AssembleDialog Label { width: 100%; }"
        "AssembleDialog Horizontal { height: auto; }"
        "AssembleDialog #assemble-problem { color: $error; }"
        "AssembleDialog Input#assemble-trim { width: 12; }"
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, job_ids: list[int]) -> None:
        super().__init__()
        self._job_ids = job_ids

    def compose(self) -> ComposeResult:
        listed = ", ".join(str(i) for i in self._job_ids)
        with Vertical():
            yield Label(f"Assemble jobs {listed} into one film, in this order", classes="title")
            yield Label("Sound track: a local audio file, looped or cut to the film's length (empty: the clips' sound)")
            yield Input(placeholder="path/to/music.mp3", id="assemble-audio")
            yield Label("Frames to drop at each end of every clip (hides the seams):")
            yield Input("0", id="assemble-trim", type="integer")
            yield Label("", id="assemble-problem")
            with Horizontal():
                yield Button("Assemble (enter)", variant="primary", id="assemble")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#assemble-audio", Input).focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._accept()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "assemble":
            self._accept()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _accept(self) -> None:
        options, problem = read_assemble_options(
            self.query_one("#assemble-audio", Input).value, self.query_one("#assemble-trim", Input).value
        )
        if options is None:
            self.query_one("#assemble-problem", Label).update(Text(problem))
            return
        self.dismiss(options)


def read_assemble_options(audio: str, trim: str) -> tuple[AssembleOptions | None, str]:
    """The options typed, or None and what to fix."""
    trim = trim.strip() or "0"
    if not trim.isdigit():
        return None, f"Frames to drop: a whole number of 0 or more, not {trim!r}"
    path: Path | None = None
    if audio.strip():
        path = Path(audio.strip()).expanduser()
        if not path.is_file():
            return None, f"No audio file at {path}: type the path of a local file, or leave it empty"
    return AssembleOptions(audio=path, trim_frames=int(trim)), ""
