"""Shared pieces of the fault-injection tests: the engine as a real process, a job mix of every kind, the
checks a run must pass at the end, a tiny real filesystem (tmpfs) when the machine allows one, and an ASGI
wrapper that records what reached the simulator's result-file host."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from qwentui.core import provenance
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest, validate
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Asset, Job, Store
from qwentui.sim import Simulator
from tests.helpers import wait_for

CHAOS_KEY = "sk-chaos0123456789abcdef0123456789ab"

# ---- the engine as a process ------------------------------------------------------------------------------


def engine_cmd(
    db: Path, out: Path, base_url: str, *command: str, verbose: bool = False, time_scale: float = 0.02
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "qwentui",
        "--db",
        str(db),
        "--output",
        str(out),
        "--base-url",
        base_url,
        "--time-scale",
        str(time_scale),
    ]
    if verbose:
        cmd.append("-v")
    return [*cmd, *command]


def engine_env(home: Path, key: str = CHAOS_KEY, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QWEN_API_KEY", "DASHSCOPE_API_KEY", "QWENTUI_CRASHPOINT", "QWEN_BASE_URL", "QWEN_REGION")
    }
    env.update(DASHSCOPE_API_KEY=key, QWENTUI_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


# ---- a job mix of every kind ------------------------------------------------------------------------------


def sample_png(path: Path, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 140))
    for x in range(0, size[0], 16):
        for y in range(0, size[1], 16):
            image.putpixel((x, y), ((x + seed) % 256, y % 256, 30))
    image.save(path)
    return path


def mixed_requests(n: int, photos: list[Path], tag: str = "") -> list[GenerationRequest]:
    """`n` requests cycling through every kind: async and sync images, interleave, local-file uploads, videos.
    Every prompt is unique, so the simulator's `duplicates()` (by prompt) finds any double submission."""
    url = "https://example.com/reference.png"
    kinds: list[tuple[Mode, str | None, int]] = [  # (mode, model or default, local photos)
        (Mode.T2I, None, 0),
        (Mode.T2V, None, 0),
        (Mode.EDIT, None, 1),
        (Mode.T2I, "qwen-image-plus", 0),
        (Mode.I2V, None, 1),
        (Mode.T2I, "qwen-image-2.0", 0),
        (Mode.I2I, None, 1),
        (Mode.INTERLEAVE, None, 0),
        (Mode.T2I, "wan2.2-t2i-flash", 0),
        (Mode.KF2V, None, 2),
        (Mode.R2V, None, 0),
        (Mode.T2V, None, 0),
    ]
    out: list[GenerationRequest] = []
    for i in range(n):
        mode, model, local = kinds[i % len(kinds)]
        prompt = f"chaos{tag} job {i}: {mode.value} {uuid.uuid4().hex[:6]}"
        images: list[str] = [str(photos[(i + k) % len(photos)]) for k in range(local)]
        if mode is Mode.R2V:
            images = [url]
        request = GenerationRequest(mode=mode, model=model, prompt=prompt, images=images)
        problems = validate(request)
        assert not problems, (mode, model, problems)
        out.append(request)
    return out


async def queue_requests(db: Path, requests: list[GenerationRequest]) -> list[int]:
    """Queue jobs straight into the database, as another qwentui process (`submit`, the TUI) would."""
    async with await Store.open(db) as store:
        ids = []
        for req in requests:
            job = await store.add_job(
                req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt, source="test"
            )
            ids.append(job.id)
        return ids


async def read_jobs(db: Path) -> list[tuple[Job, list[Asset]]]:
    async with await Store.open(db) as store:
        jobs = await store.list_jobs(limit=100_000)
        return [(j, await store.assets(j.id)) for j in jobs]


def read_jobs_sync(db: Path) -> list[tuple[Job, list[Asset]]]:
    return asyncio.run(read_jobs(db))


# ---- what a finished run must show ------------------------------------------------------------------------


@dataclass
class Outcome:
    """The figures of a finished run (also what bench/chaos.py prints)."""

    states: Counter[str] = field(default_factory=Counter)
    unsettled: list[str] = field(default_factory=list)  # jobs neither terminal nor NEEDS_USER-with-a-reason
    duplicates: dict[str, int] = field(default_factory=dict)
    duplicate_details: list[str] = field(default_factory=list)  # the POSTs behind each duplicate
    misadopted: list[str] = field(default_factory=list)  # jobs following a task made for another prompt
    sha_mismatches: list[str] = field(default_factory=list)
    part_files: list[str] = field(default_factory=list)
    integrity: str = ""
    files: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.unsettled
            and not self.duplicates
            and not self.misadopted
            and not self.sha_mismatches
            and not self.part_files
            and self.integrity == "ok"
        )

    def lines(self) -> list[str]:
        return [
            "jobs by final state: " + ", ".join(f"{s} {n}" for s, n in sorted(self.states.items())),
            f"unsettled jobs: {len(self.unsettled)} {self.unsettled[:5]}",
            f"tasks submitted twice: {len(self.duplicates)} {dict(list(self.duplicates.items())[:5])}",
            *(f"  {line}" for line in self.duplicate_details[:20]),
            f"jobs following another job's task: {len(self.misadopted)} {self.misadopted[:5]}",
            f"files checked: {self.files}, sha256 mismatches: {len(self.sha_mismatches)} {self.sha_mismatches[:5]}",
            f".part files left: {len(self.part_files)} {self.part_files[:5]}",
            f"integrity_check: {self.integrity}",
        ]


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(r[0]) for r in rows)


def _served_sha256(path: Path, local: str) -> str | None:
    """The sha256 of the bytes as served: the record's, or the file's own when it could not be tagged (the
    job's history then says why)."""
    try:
        return provenance.read(path).source_sha256
    except provenance.ProvenanceError:
        return local


def check_run(db: Path, sim: Simulator, roots: list[Path]) -> Outcome:
    outcome = Outcome()
    for job, assets in read_jobs_sync(db):
        outcome.states[job.state.value] += 1
        if job.state is JobState.NEEDS_USER:
            if not (job.error_message and job.error_message.strip()):
                outcome.unsettled.append(f"{job.id} needs the user without a reason")
        elif job.state not in TERMINAL:
            outcome.unsettled.append(f"{job.id} {job.state.value}")
        elif job.state is not JobState.DONE and not job.error_message and job.state is not JobState.CANCELED:
            outcome.unsettled.append(f"{job.id} {job.state.value} without a reason")
        if job.task_id:
            task = sim.task(job.task_id)
            if task is None or task.job.prompt != job.prompt:
                outcome.misadopted.append(f"job {job.id} follows {job.task_id} ({task.job.prompt if task else None!r})")
        if job.state is JobState.DONE and not assets:
            outcome.unsettled.append(f"{job.id} done without files")
        for asset in assets:
            if asset.kind == "text" or not asset.path:
                continue
            outcome.files += 1
            try:
                data = Path(asset.path).read_bytes()
            except OSError as exc:
                outcome.sha_mismatches.append(f"job {job.id}: {exc}")
                continue
            local = hashlib.sha256(data).hexdigest()
            served = sim.file_sha256(asset.url or "")
            if not (local == asset.sha256 and _served_sha256(Path(asset.path), local) == served):
                outcome.sha_mismatches.append(f"job {job.id} #{asset.idx}")
    outcome.duplicates = sim.duplicates()
    for prompt in outcome.duplicates:
        for sub in sim.submissions:
            if (
                isinstance(sub.body, dict)
                and isinstance(sub.body.get("input"), dict)
                and sub.body["input"].get("prompt") == prompt
            ):
                outcome.duplicate_details.append(
                    f"{prompt[:24]}: POST at {sub.at:.3f} -> {sub.status} {sub.outcome} task {sub.task_id}"
                )
    outcome.part_files = [str(p) for root in roots for p in root.rglob("*.part")]
    outcome.integrity = integrity(db)
    return outcome


# ---- a real tiny filesystem ---------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", options: str = "", *, wanted: bool = True) -> Iterator[bool]:
    """Mount a tmpfs of `size` at `path` (True), or yield False when this machine does not allow mounting
    (not root, no CAP_SYS_ADMIN) or `wanted` is False: the caller then simulates the fault in-process."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0700" + (f",{options}" if options else "")
    mounted = False
    if wanted and hasattr(os, "geteuid") and os.geteuid() == 0 and sys.platform.startswith("linux"):
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, timeout=10
            )
            mounted = done.returncode == 0
        except (OSError, subprocess.SubprocessError):
            mounted = False
    try:
        yield mounted
    finally:
        if mounted and subprocess.run(["umount", str(path)], capture_output=True, timeout=10).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10)


def remount(path: Path, options: str) -> bool:
    return (
        subprocess.run(["mount", "-o", f"remount,{options}", str(path)], capture_output=True, timeout=10).returncode
        == 0
    )


def fill(folder: Path, name: str = "filler") -> Path:
    """Write zeros into `folder` until its filesystem is full."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 1 << 10, 1):  # big blocks, then the last bytes
            block = b"\0" * size
            with contextlib.suppress(OSError):
                while os.write(fd, block):
                    pass
    finally:
        os.close(fd)
    return path


# ---- recording what reached the simulator -------------------------------------------------------------------


class RecordingApp:
    """ASGI middleware that keeps the method, path and headers of every request (for header checks)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            self.requests.append((scope["method"], scope["path"], headers))
        await self.app(scope, receive, send)

    def file_requests(self) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[1].startswith("/files/")]


class LoopbackServer:
    """Any ASGI app on a free loopback port, in a daemon thread (like `qwentui.sim.running`, for a wrapped
    simulator app)."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        from qwentui.sim.server import quiet_drops

        quiet_drops()
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off", date_header=False
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="faults-loopback", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()

        def started() -> bool:
            assert self._thread.is_alive(), "the loopback server's thread ended before it started"
            return bool(self._server.started)

        wait_for(started, timeout=30, what="the loopback server to start", interval=0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
