"""The command palette (ctrl+p): every job action by name, for the selected job, plus a few global ones, and
the batch commands (show, cancel, retry) for the selected job's batch or the batch the table shows.

Each command runs the same screen action as its key, so the palette and the keys can never disagree; the
palette shows the key next to it, as remapped by the user's keymap.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from qwentui.tui import keymap

# (binding id, title; {job} is replaced by the selected job's number, help)
JOB_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("cancel-job", "Cancel job {job}", "stop it before it runs (queued or PENDING only)"),
    ("retry-job", "Retry job {job}", "a new job with the same request"),
    ("duplicate-job", "Duplicate job {job} into the composer", "edit a copy of its request, then send it"),
    ("animate-job", "Animate job {job} (image to video)", "its image becomes the first frame of a video"),
    ("delete-job", "Delete job {job} from the list", "the files stay on disk"),
    ("resubmit-job", "Resubmit job {job}", "a job that needs you: send it again, accepting a possible duplicate"),
    ("show-details", "Show details of job {job}", "request, response and history"),
    ("open-file", "Open the result of job {job}", "in the system viewer"),
    ("open-folder", "Open the folder of job {job}", "in the system file manager"),
    ("copy-url", "Copy the result URL of job {job}", "OSC 52 clipboard; valid 24 h"),
    ("copy-path", "Copy the local path of job {job}", "OSC 52 clipboard"),
    ("star-result", "Star job {job}", "a keeper (culling); 1-5 rate, x rejects"),
    ("reject-result", "Reject job {job}", "not a keeper (culling)"),
    ("show-family", "Show the family of job {job}", "what it came from and what was made from it"),
    ("extend-video", "Extend the video of job {job}", "a new clip from its last frame, in the composer"),
    ("assemble-clips", "Assemble the clips of job {job} into one film", "its chain of extends, in order"),
    ("play-video", "Play or pause the video of job {job}", "in the preview, at a low frame rate"),
)
GLOBAL_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("new-job", "New job", "open the composer"),
    ("focus-search", "Search prompts", "full-text search over every job"),
    ("clear-filters", "Clear filters", "show every job"),
    ("resume-engine", "Resume the engine", "lift a pause after fixing the key or the account"),
    ("open-gallery", "Gallery of results", "finished results as thumbnails"),
    ("export-results", "Export the starred results", "copies with a JSON sidecar each (or the selected one)"),
)


class JobCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        from qwentui.tui.screens.main import MainScreen  # the palette is only meaningful over the main screen

        screen = self.screen
        if not isinstance(screen, MainScreen):
            return []
        selected = screen.table.selected_id
        commands: list[tuple[str, str, Callable[[], object]]] = []
        for binding_id, title, help_text in GLOBAL_COMMANDS + (JOB_COMMANDS if selected is not None else ()):
            spec = keymap.spec(binding_id)
            keys = screen.settings.keymap.get(binding_id) or spec.key_display or spec.keys  # as remapped, if so
            text = title.format(job=selected)
            commands.append((text, f"{help_text} · key {keys}", partial(screen.run_action, spec.action)))
        batch = screen.selected_batch()
        if batch is not None:
            commands += [
                (
                    f"Show only batch {batch}",
                    "its jobs in the table; escape shows every job",
                    partial(screen.show_batch, batch),
                ),
                (f"Cancel batch {batch}", "every job of it not run yet", partial(screen.cancel_batch, batch)),
                (
                    f"Retry batch {batch}",
                    "a new job for each of it that failed, was refused, canceled or expired",
                    partial(screen.retry_batch, batch),
                ),
            ]
        drops = screen.context.drops
        for rule in drops.status().rules if drops is not None else []:
            if rule.state == "disabled":
                continue
            verb = "Resume" if rule.state == "paused" else "Pause"
            commands.append(
                (
                    f"{verb} drop folder {rule.name}",
                    f"{escape(str(rule.folder))} · all rules: key p",
                    partial(screen.toggle_drop_rule, rule.name),
                )
            )
        return commands

    async def discover(self) -> Hits:
        for text, help_text, run in self._commands():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, run in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, help=help_text)
