"""Everything about one job: the request, the body sent, the service's answer, its files and its history.

Result URLs are signed and act as credentials until they expire, so they are shown redacted here (the main
screen's copy key gives the full URL on purpose). All text from the job is shown with markup off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from qwentui.core.download import redact_url
from qwentui.core.lineage import lineage_of, origin
from qwentui.core.media import human_bytes
from qwentui.core.states import describe
from qwentui.core.store import Asset, Event, Job, Store
from qwentui.tui import keymap
from qwentui.tui.presentation import elapsed_text, redact_urls, short_duration, state_text
from qwentui.tui.widgets.key_bar import KeyBar

# how a job with a parent came from it, by the job's source (other sources: "made from job N")
RELATIONS = {
    "retry": "retry of",
    "duplicate": "duplicated from",
    "animate": "animated from",
    "extend": "extended from",
    "continue": "continued from",
    "assemble": "assembled from",
}


def _json(value: Any) -> Syntax:
    return Syntax(
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True),
        "json",
        word_wrap=True,
        background_color="default",
    )


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S") if at else "—"


class DetailsScreen(Screen[None]):
    BINDINGS = keymap.bindings("details")
    DEFAULT_CSS = """
    DetailsScreen #details-title { background: $primary; color: $text; padding: 0 1; height: 1; }
    DetailsScreen #details-body { padding: 0 1; }
    DetailsScreen .section { text-style: bold; color: $accent; margin: 1 0 0 0; }
    DetailsScreen #details-events { height: auto; max-height: 20; }
    """

    def __init__(self, store: Store, job_id: int, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.store = store
        self.job_id = job_id
        self.clock = clock
        self.job: Job | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Job {self.job_id} — esc closes, y copies the request", id="details-title")
        yield VerticalScroll(Static("loading…"), id="details-body")
        yield KeyBar()

    async def on_mount(self) -> None:
        job = await self.store.get_job(self.job_id)
        body = self.query_one("#details-body", VerticalScroll)
        body.focus()  # arrows and page keys scroll the details at once
        await body.remove_children()
        if job is None:
            await body.mount(Static(f"Job {self.job_id} does not exist."))
            return
        self.job = job
        events = await self.store.events(job.id)
        assets = await self.store.assets(job.id)
        family, jobs = await lineage_of(self.store, job.id)
        await body.mount_all(self._sections(job, events, assets))
        if family.up or family.down or origin(job):
            # after the head and the prompt: where it came from and what was made from it
            tree = Static(Text("\n".join(family.lines(jobs))), id="details-lineage")
            await body.mount(Static("Lineage", classes="section"), tree, after=2)
        table = self.query_one("#details-events", DataTable)
        table.add_columns("when", "from", "to", "detail")
        for event in events:
            table.add_row(
                _when(event.at),
                event.from_state.value if event.from_state else "—",
                event.to_state.value,
                Text(redact_url(event.detail or "")),
            )

    def _sections(self, job: Job, events: list[Event], assets: list[Asset]) -> list[Static | DataTable[Any]]:
        now = self.clock()
        head = Text()
        head.append_text(state_text(job.state))
        if describe(job.state) != job.state.value:
            head.append(f" — {describe(job.state)}")
        head.append("\n")
        head.append(f"{job.mode.value} · {job.model} · source {job.source}")
        if job.source_path:
            head.append(f" ({job.source_path})")
        if job.parent_id:
            head.append(f" · {RELATIONS.get(job.source, 'made from')} job {job.parent_id}", style="bold")
        head.append(
            f"\ncreated {_when(job.created_at)} ({short_duration(now - job.created_at)} ago)"
            f" · sent {_when(job.submitted_at)} · ended {_when(job.finished_at)}"
            f" · took {elapsed_text(job, now, None)}"
        )
        head.append(
            f"\ntask {job.task_id or '—'} · request {job.request_id or '—'} · attempts {job.attempts}"
            f" · status checks {job.poll_count}"
        )
        parts: list[Static | DataTable[Any]] = [
            Static(head),
            Static("Prompt", classes="section"),
            Static(job.prompt or "(none)", markup=False),
        ]
        if job.error_code or job.error_message:
            parts += [
                Static("Error", classes="section"),
                Static(Text(f"{job.error_code or ''} {job.error_message or ''}".strip(), style="red")),
            ]
        parts += [Static("Request", classes="section"), Static(_json(redact_urls(job.request)))]
        if job.wire is not None:
            parts += [Static("Body sent", classes="section"), Static(_json(redact_urls(job.wire)))]
        if job.results:
            parts += [Static("Response", classes="section"), Static(_json(redact_urls(job.results)))]
        if job.usage:
            parts += [Static("Usage", classes="section"), Static(_json(job.usage))]
        if assets:
            lines = Text()
            for asset in assets:
                size = human_bytes(asset.size) if asset.size else ""
                lines.append(f"{asset.idx}. {asset.kind} {asset.path or redact_url(asset.url or '')} {size}\n")
            parts += [Static("Files", classes="section"), Static(lines)]
        parts += [
            Static(f"History ({len(events)} events)", classes="section"),
            DataTable(id="details-events", cursor_type="row", zebra_stripes=True),
        ]
        return parts

    def action_close(self) -> None:
        self.dismiss(None)

    def action_show_family(self) -> None:
        """Back to the table, narrowed to this job's family."""
        if self.job is None:
            return
        job_id = self.job_id
        self.dismiss(None)
        screen = self.app.screen
        select = getattr(screen, "select_when_seen", None)
        if select is not None:
            select(job_id)
        show = getattr(screen, "action_show_family", None)
        if show is not None:
            self.app.call_later(show)

    def action_copy_request(self) -> None:
        if self.job is not None:
            self.app.copy_to_clipboard(json.dumps(self.job.request, ensure_ascii=False, sort_keys=True))
            self.notify("Copied the request as JSON")
