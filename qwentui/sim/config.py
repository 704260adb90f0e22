"""The simulator's knobs: one mutable dataclass, read at request time so tests can flip them mid-run.

Every probability is drawn from the simulator's single `random.Random(seed)`, so a run with the same seed
and the same request order behaves the same. Times are seconds; `clock` is injectable (see `clock.FakeClock`)
so tests move time forward instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

HOUR = 3600.0
MB = 1024 * 1024


@dataclass
class SimConfig:
    # ---- time -------------------------------------------------------------------------------------------
    clock: Callable[[], float] = time.time
    time_scale: float = 1.0  # multiplies the catalog's typical_seconds (0.01 in tests, 0 = instant)
    pending_seconds: float | None = None  # fixed PENDING time for every task (overrides the drawn one)
    running_seconds: float | None = None  # fixed RUNNING time for every task
    sync_max_seconds: float = 30.0  # the sync route never holds a request longer than this (real seconds)
    task_ttl: float = 24 * HOUR  # after this, GET /tasks/{id} answers UNKNOWN and the list forgets the task
    result_url_ttl: float = 24 * HOUR  # result URLs expire this long after the task ended (OSS answers 403)
    upload_ttl: float = 48 * HOUR  # oss:// keys resolve this long after the upload
    policy_ttl: float = 300.0  # an upload policy from getPolicy is valid this long
    tz_offset_hours: float = 8.0  # timestamps are Beijing/Singapore time like the real service, not UTC

    # ---- outcomes ---------------------------------------------------------------------------------------
    failure_rate: float = 0.0  # a task ends FAILED (a sync call answers 400) with this probability
    failure_code: str | None = None  # force one failure code (else drawn from faults.TASK_FAILURES)
    partial_failure_rate: float = 0.0  # each extra image of an n>1 task fails alone (task still SUCCEEDED)

    # ---- limits -----------------------------------------------------------------------------------------
    task_query_qps: float | None = 20.0  # token bucket over GET /tasks and GET /tasks/{id}; None = unlimited
    submit_qps: float | None = None  # token bucket over generation POSTs; None = unlimited

    # ---- faults -----------------------------------------------------------------------------------------
    storm_rate: float = 0.0  # probability that an API request is answered with one of storm_statuses
    storm_statuses: tuple[int, ...] = (429, 500, 503)
    storm_windows: list[tuple[float, float]] = field(default_factory=list)  # (from, to) s since sim start
    storm_retry_after: int = 1  # Retry-After (seconds) on storm answers
    drop_before_rate: float = 0.0  # connection dropped before the request is processed (nothing happens)
    drop_after_rate: float = 0.0  # submit: the task IS created, then the connection drops (response lost)
    error_after_rate: float = 0.0  # submit: the task IS created, then the answer is a 500 InternalError
    slow_seconds: float = 0.0  # real seconds added before every API request is processed
    truncate_rate: float = 0.0  # a result download stops short of its Content-Length, then the socket closes

    # ---- account ----------------------------------------------------------------------------------------
    api_keys: Collection[str] | None = None  # valid keys; None = any non-empty key not starting with sk-sp-
    quota_exhausted: bool = False  # every submit -> 429 Throttling.AllocationQuota
    arrearage: bool = False  # every submit -> 400 Arrearage
    revoked: bool = False  # every API request -> 401 InvalidApiKey

    # ---- media and memory -------------------------------------------------------------------------------
    video_fps: int = 1  # frames per second of the generated MP4s (real ones are 24-30; 1 keeps rendering fast)
    media_cache_bytes: int = 64 * MB  # generated files kept in memory; evicted ones are re-rendered (same bytes)
    upload_keep_bytes: int = 256 * MB  # uploaded bytes kept; older uploads keep only their metadata
    max_upload_mb: int = 1024

    # ---- misc -------------------------------------------------------------------------------------------
    seed: int | None = None
    public_url: str | None = None  # base of result/upload URLs; default: scheme://host of each request
    region: str = "ap-southeast-1"
    state_file: Path | None = None  # keep the tasks in this SQLite file: they survive a restart (the demo)
