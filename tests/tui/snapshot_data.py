"""A small job history written straight into a store with a stepping clock: jobs in many states, with events
and a real result image, identical on every run (no engine, no simulator, no timing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey, Paths
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.runtime import Context

BASE = 1_790_000_000.0  # job times start here
NOW = BASE + 3_700.0  # the frozen "now" of the snapshots
URL = "https://dashscope-result.oss.example.com/1d/result.png?Expires=1790086400&Signature=abc"

S = JobState
PATHS: dict[JobState, list[JobState]] = {
    S.DONE: [S.SUBMITTING, S.PENDING, S.RUNNING, S.SUCCEEDED, S.DOWNLOADING, S.DONE],
    S.FAILED: [S.SUBMITTING, S.PENDING, S.RUNNING, S.FAILED],
    S.CANCELED: [S.CANCELED],
    S.REJECTED: [S.SUBMITTING, S.REJECTED],
    S.NEEDS_USER: [S.SUBMITTING, S.UNCERTAIN, S.NEEDS_USER],
    S.RUNNING: [S.SUBMITTING, S.PENDING, S.RUNNING],
    S.PENDING: [S.SUBMITTING, S.PENDING],
    S.QUEUED: [],
}

# (minutes before NOW it was created, state, request); the newest last, so it gets the highest id
JOBS: list[tuple[float, JobState, GenerationRequest]] = [
    (58, S.DONE, GenerationRequest(mode=Mode.T2I, prompt="A red fox in fresh snow, golden hour, 35mm photo")),
    (47, S.FAILED, GenerationRequest(mode=Mode.T2V, prompt="A paper boat sailing down a rainy street")),
    (
        40,
        S.CANCELED,
        GenerationRequest(
            mode=Mode.EDIT, prompt="Make it a watercolour painting", images=["https://example.com/cat.png"]
        ),
    ),
    (
        31,
        S.REJECTED,
        GenerationRequest(
            mode=Mode.T2I, model="qwen-image-plus", prompt="A poster that says [bold]qwentui[/bold] in neon"
        ),
    ),
    (22, S.NEEDS_USER, GenerationRequest(mode=Mode.INTERLEAVE, prompt="A three-step pancake recipe")),
    (
        3,
        S.RUNNING,
        GenerationRequest(
            mode=Mode.I2V, prompt="The cat slowly turns its head", images=["https://example.com/cat.png"]
        ),
    ),
    (1.5, S.PENDING, GenerationRequest(mode=Mode.T2I, prompt="A lighthouse in a storm, oil painting", n=2)),
    (
        0.5,
        S.QUEUED,
        GenerationRequest(
            mode=Mode.KF2V,
            prompt="From day to night",
            images=["https://example.com/day.png", "https://example.com/night.png"],
        ),
    ),
    (0.2, S.DONE, GenerationRequest(mode=Mode.T2I, prompt="A koi pond seen from above, ukiyo-e style")),
]


class SteppingClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def result_picture(path: Path) -> None:
    """A deterministic picture with shapes and colours, so the half-block rendering shows something real."""
    image = Image.new("RGB", (640, 640), (18, 42, 74))
    draw = ImageDraw.Draw(image)
    for i in range(0, 640, 40):
        draw.rectangle([i, 480 + (i % 80) // 4, i + 39, 640], fill=(20 + i // 4, 90, 120))
    draw.ellipse([200, 120, 440, 360], fill=(240, 140, 40))
    draw.ellipse([260, 180, 380, 300], fill=(250, 220, 120))
    draw.polygon([(60, 470), (200, 300), (340, 470)], fill=(40, 110, 70))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


async def build(db: Path, results: Path) -> None:
    """Write the history into a new database at `db`, result files under `results` (a relative path)."""
    clock = SteppingClock(BASE)
    store = await Store.open(db, clock=clock)
    try:
        for minutes, state, request in JOBS:
            clock.now = NOW - minutes * 60
            job = await store.add_job(request.to_dict(), source="tui", expected_seconds=40.0)
            for step, dst in enumerate(PATHS[state], start=1):
                clock.now += 2.0 * step
                fields: dict[str, Any] = {}
                if dst is S.SUBMITTING:
                    fields = {"submitted_at": clock.now, "attempts": 1}
                elif dst is S.PENDING:
                    fields = {"task_id": f"task-{job.id:04d}", "request_id": f"req-{job.id:04d}"}
                elif dst is S.SUCCEEDED:
                    fields = {
                        "results": [{"kind": "image", "url": URL, "text": None}],
                        "results_expire_at": clock.now + 86_400,
                    }
                elif dst in (S.FAILED, S.REJECTED):
                    fields = {
                        "error_code": "DataInspectionFailed" if dst is S.FAILED else "InvalidParameter",
                        "error_message": "Input data may contain inappropriate content. [red]x[/red]"
                        if dst is S.FAILED
                        else "The size is not supported for this model.",
                    }
                elif dst is S.NEEDS_USER:
                    fields = {
                        "error_code": "Uncertain",
                        "error_message": "the request may or may not have been "
                        "processed; resubmit it if no result appeared",
                    }
                await store.transition(job.id, dst, detail=f"to {dst.value}", **fields)
            if state is S.DONE:
                path = results / f"{job.id}_1.png"
                result_picture(path)
                await store.add_asset(
                    job.id, 1, kind="image", url=URL, path=str(path), size=path.stat().st_size, width=640, height=640
                )
    finally:
        await store.close()


@asynccontextmanager
async def open_snapshot_context(db: Path, tmp: Path) -> AsyncIterator[Context]:
    """The store opened inside the app's loop, and an engine that is never started (nothing moves)."""
    store = await Store.open(db)
    client = DashScopeClient(ApiKey("snapshot", "test"), "http://sim.invalid/api/v1")
    engine = Engine(store, client, EngineConfig(output_dir=tmp / "out"))
    engine.leader = True  # shown as the running engine; its loops are never started
    paths = Paths(db=db, output=tmp / "out", drop=tmp / "drop", settings=tmp / "settings.toml")
    try:
        yield Context(paths, store, client, engine, demo=False, endpoint="ap-southeast-1 (dashscope-intl)")
    finally:
        engine.leader = False
        await engine.stop()
        await client.aclose()
        await store.close()
