"""Plain-text output for the headless commands: short tables, one-line job summaries, progress lines."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from qwentui.core.store import Job
from qwentui.core.timefmt import duration


def age(seconds: float) -> str:
    """How long ago, for a job line: 45s, 3m, 1.5h, 2.0d."""
    return duration(seconds, "decimal")


# C0 and C1 control characters but newline and tab: ESC, BEL, CSI (0x9b)... never reach the user's terminal.
_CONTROL = {c: "\ufffd" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}


def safe(text: str) -> str:
    """Untrusted text (prompts, server messages, file names) with terminal control characters made visible."""
    return text.translate(_CONTROL)


def one_line(text: str, width: int) -> str:
    text = " ".join(safe(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def job_line(job: Job, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return (
        f"{job.id:>6}  {job.state.value:<11} {job.mode:<10} {one_line(job.model, 20):<20} "
        f"{age(now - job.created_at):>5}  {one_line(job.prompt, 60)}"
    )


JOB_HEADER = f"{'ID':>6}  {'STATE':<11} {'MODE':<10} {'MODEL':<20} {'AGE':>5}  PROMPT"


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": job.state.value,
        "mode": job.mode,
        "model": job.model,
        "prompt": job.prompt,
        "task_id": job.task_id,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "submitted_at": job.submitted_at,
        "finished_at": job.finished_at,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "source": job.source,
        "parent_id": job.parent_id,
        "request": job.request,
    }


def print_json(data: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up at call time, so redirected output is honoured
    json.dump(data, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")
