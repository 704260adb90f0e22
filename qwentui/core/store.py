"""The durable job store: one SQLite file (via aiosqlite) that is the source of truth for every job.

Rules this module keeps (`docs/reliability.md` §3):

* One writer connection, used only through `Store._write()`: an asyncio.Lock held across a short
  `BEGIN IMMEDIATE ... COMMIT`. aiosqlite serialises statements but not transactions, so without the lock
  one coroutine's statements could land inside another's transaction. BEGIN IMMEDIATE (not a deferred
  BEGIN) takes the write lock up front, so `busy_timeout` applies instead of an instant "database is
  locked" when another process committed in between.
* Inside a write transaction nothing but this SQLite connection is awaited. Never HTTP, never a file, never
  a queue: the lock would stall every other writer in this process and the busy timeout of other processes.
  Commit the intent, leave the transaction, do the slow thing, then open a new transaction.
* Reads go through a second, `query_only` connection. WAL lets it read alongside the writer, and it never
  sees another coroutine's uncommitted writes (which a shared connection would).
* WAL, `synchronous=NORMAL` (committed work survives an application crash; an OS crash may lose the last
  moments but never corrupts), busy timeout 5 s, foreign keys on.
* The file and its -wal/-shm are 0600, directories created for it 0700: prompts and result URLs are private.
* Opening never shows a raw traceback for a bad file: a damaged or foreign file, a newer schema, a full disk
  or a locked database each become a `StoreError` that says what to do.

The API key never reaches this file: the request dict has no key field, and as a last defence any value that
looks like a DashScope key is refused (`ValueError`) before it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import aiosqlite
import platformdirs

from qwentui.core.catalog import Mode
from qwentui.core.errors import QwentuiError
from qwentui.core.lineage import relation_for_source
from qwentui.core.migrations import CJK, LATEST, cjk_search_text, migrate, user_version
from qwentui.core.pricing import billed_units
from qwentui.core.states import ACTIVE, ALLOWED, TERMINAL, JobState

ENV_DB = "QWENTUI_DB"
BUSY_TIMEOUT_MS = 5000
SQLITE_MAGIC = b"SQLite format 3\x00"

# ---- errors -----------------------------------------------------------------------------------------------


class StoreError(QwentuiError):
    """The job database cannot do what was asked; the message says why and what to do."""


class StoreBusy(StoreError):
    """Another process held the write lock for longer than the busy timeout."""


class StoreFull(StoreError):
    """The disk (or quota) is full; SQLite rolled the transaction back, nothing was changed."""


class StoreCorrupt(StoreError):
    """The file is not a usable SQLite database. `quarantine(path)` moves it aside."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class StoreClosed(StoreError):
    """The store was closed (e.g. a background task still running at shutdown)."""

    def __init__(self) -> None:
        super().__init__("the job store is closed")


class StoreConflict(StoreError):
    """A uniqueness rule refused the write (e.g. a task id that already belongs to another job)."""


class JobNotFound(StoreError, LookupError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} does not exist")
        self.job_id = job_id


class StaleTransition(StoreError):
    """The job is not in a state this transition may start from (someone else moved it first)."""

    def __init__(
        self, job_id: int, current: JobState, to_state: JobState, expected: frozenset[JobState] | None, why: str
    ) -> None:
        super().__init__(f"job {job_id}: cannot move {current.value} -> {to_state.value}: {why}")
        self.job_id = job_id
        self.current = current
        self.to_state = to_state
        self.expected = expected


class IllegalTransition(StaleTransition):
    """The state machine (states.ALLOWED) has no such move at all: a bug, not a race."""


# ---- records ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    created_at: float
    updated_at: float
    mode: Mode
    model: str
    prompt: str
    request: dict[str, Any]  # GenerationRequest.to_dict()
    wire_json: str | None  # the body sent (after uploads), None before submit; parsed: .wire
    body_hash: str | None
    client_token: str
    state: JobState
    task_id: str | None
    request_id: str | None
    submitted_at: float | None
    finished_at: float | None
    attempts: int
    poll_count: int
    next_check_at: float | None  # None means "as soon as possible" to due_jobs()
    expected_seconds: float | None
    results_json: str | None  # result URLs / text parts; parsed: .results
    results_expire_at: float | None
    error_code: str | None
    error_message: str | None
    usage_json: str | None  # the service's usage object; parsed: .usage
    image_count: int
    video_seconds: float
    source: str  # 'tui', 'cli', 'drop:<rule>', 'import'
    source_path: str | None
    parent_id: int | None  # the job this one retries or duplicates
    output_dir: str | None
    priority: int
    deleted: bool
    clock_offset: float | None = None  # the service's clock minus ours when the POST was sent
    batch_id: int | None = None  # the batch this job was made in (qwentui batch)
    cost_estimate: float | None = None  # at submit, in cost_currency; None: no price known
    cost_unit_price: float | None = None  # per billed image or video second, as estimated
    cost_currency: str | None = None
    cost_actual: float | None = None  # from the task's usage; 0 when it failed; None until known
    rating: int | None = None  # culling: 1-5 stars given by the user, None: not rated
    starred: bool = False  # culling: a keeper
    rejected: bool = False  # culling: not a keeper (starring and rejecting exclude each other)
    clock_uncertainty: float | None = None  # how far clock_offset may be off (seconds); None: not measured

    # The JSON columns other than the request stay text: lists and the TUI never need them parsed, and
    # parsing a thousand rows per refresh for nothing costs frames.
    @property
    def wire(self) -> dict[str, Any] | None:
        return _loads(self.wire_json)

    @property
    def results(self) -> list[Any] | None:
        return _loads(self.results_json)

    @property
    def usage(self) -> dict[str, Any] | None:
        return _loads(self.usage_json)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    job_id: int
    at: float
    from_state: JobState | None  # None for the creation event
    to_state: JobState  # equal to from_state for notes (deleted, restored, ...)
    detail: str


@dataclass(frozen=True, slots=True)
class Asset:
    id: int
    job_id: int
    idx: int
    kind: Literal["image", "video", "text"]
    url: str | None
    path: str | None
    text: str | None
    size: int | None
    sha256: str | None
    width: int | None
    height: int | None
    duration: float | None
    created_at: float


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    sha256: str
    rule: str
    original_name: str
    claimed_at: float
    job_id: int | None
    outcome: str | None  # None while the file is being processed
    outcome_path: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    pid: int
    acquired_at: float
    heartbeat_at: float
    expires_at: float


@dataclass(frozen=True)
class UsageTotal:
    key: str  # the model name, or the local day "YYYY-MM-DD"
    jobs: int
    image_count: int
    video_seconds: float


@dataclass(frozen=True)
class Batch:
    id: int
    created_at: float
    name: str  # for people: the file it came from, usually
    source_path: str | None
    max_cost: float | None  # the per-batch cap it was queued under (in `currency`), if any
    currency: str | None


@dataclass(frozen=True)
class SpendTotal:
    """Money per model, local day or batch, in one currency (never converted)."""

    key: str  # the model name, the local day "YYYY-MM-DD", or the batch id
    currency: str
    jobs: int
    estimated: float  # what the jobs were estimated at, when they were queued
    actual: float  # what the finished ones cost, from their usage (failed: 0)
    open_estimate: float  # the estimate of the jobs whose cost is not known yet
    unpriced: int  # jobs with no price known (counted in `jobs`, in neither sum)


@dataclass(frozen=True, slots=True)
class Increment:
    """A field value meaning "add this to the stored value", e.g. `attempts=Increment()`.

    The engine counts attempts before each risky step; adding in SQL needs no earlier read of the row.
    """

    by: int = 1


@dataclass(frozen=True, slots=True)
class Priced:
    """`cost_actual` = these billed units (images or video seconds) x the job's stored `cost_unit_price`.

    Set wherever a task's `usage` is stored, so every path that records usage records the cost too.
    """

    units: float


@dataclass(frozen=True, slots=True)
class _Sql:
    """A column value computed by SQL from the row itself (column names only, no user input)."""

    expr: str


# A job that ends without usage was not billed (only output is); one that expired after its usage was stored
# keeps that cost.
UNBILLED = frozenset({JobState.REJECTED, JobState.FAILED, JobState.CANCELED, JobState.EXPIRED})
_UNBILLED_COST = _Sql("CASE WHEN usage_json IS NULL THEN 0 ELSE cost_actual END")


@dataclass(frozen=True, slots=True)
class Link:
    """One step of lineage: `job_id` came from `parent_id` (its `position`-th input) by `relation`."""

    job_id: int
    parent_id: int
    relation: str  # lineage.Relation values: retry, duplicate, animate, extend, continue, assemble
    position: int = 0
    depth: int = 1  # steps away from the job asked about


@dataclass(frozen=True, slots=True)
class MarkFilter:
    """Which culling marks `list_jobs(marks=...)` keeps; None means "either"."""

    min_rating: int | None = None  # rated this or better
    starred: bool | None = None
    rejected: bool | None = None  # False hides the rejected ones

    @property
    def needs_mark(self) -> bool:
        """Only marked jobs can match (so the small index of marked jobs has them all)."""
        return self.min_rating is not None or bool(self.starred) or bool(self.rejected)

    def conditions(self) -> list[str]:
        conds = []
        if self.needs_mark:  # the jobs_marked index's own condition, so the planner may use it
            conds.append("(j.rating IS NOT NULL OR j.starred OR j.rejected)")
        if self.min_rating is not None:
            conds.append("j.rating >= ?")
        if self.starred is not None:
            conds.append("j.starred = ?")
        if self.rejected is not None:
            conds.append("j.rejected = ?")
        return conds

    def params(self) -> list[Any]:
        values: list[Any] = []
        if self.min_rating is not None:
            values.append(self.min_rating)
        values.extend(int(flag) for flag in (self.starred, self.rejected) if flag is not None)
        return values


# ---- columns and field encoding ---------------------------------------------------------------------------

JOB_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "mode",
    "model",
    "prompt",
    "request_json",
    "wire_json",
    "body_hash",
    "client_token",
    "state",
    "task_id",
    "request_id",
    "submitted_at",
    "finished_at",
    "attempts",
    "poll_count",
    "next_check_at",
    "expected_seconds",
    "results_json",
    "results_expire_at",
    "error_code",
    "error_message",
    "usage_json",
    "image_count",
    "video_seconds",
    "source",
    "source_path",
    "parent_id",
    "output_dir",
    "priority",
    "deleted",
    "clock_offset",
    "batch_id",
    "cost_estimate",
    "cost_unit_price",
    "cost_currency",
    "cost_actual",
    "clock_uncertainty",
)
_MARK_COLUMNS = ("rating", "starred", "rejected")  # culling marks (schema v10), read after the others
_SELECT_JOB = "SELECT " + ", ".join(f"j.{c}" for c in (*JOB_COLUMNS, *_MARK_COLUMNS))
_ASSET_COLUMNS = (
    "id",
    "job_id",
    "idx",
    "kind",
    "url",
    "path",
    "text",
    "size",
    "sha256",
    "width",
    "height",
    "duration",
    "created_at",
)
_LEDGER_COLUMNS = ("sha256", "rule", "original_name", "claimed_at", "job_id", "outcome", "outcome_path", "reason")

# Field names are the Job attribute names. A JSON column takes a Python value by its short name
# (`wire={...}`) or JSON text by its column name (`wire_json='{...}'`).
_JSON_FIELDS = {"request": "request_json", "wire": "wire_json", "results": "results_json", "usage": "usage_json"}
_JSON_COLUMNS = {col: name for name, col in _JSON_FIELDS.items()}
_PLAIN_FIELDS = frozenset(
    {
        "mode",
        "model",
        "prompt",
        "body_hash",
        "task_id",
        "request_id",
        "submitted_at",
        "finished_at",
        "attempts",
        "poll_count",
        "next_check_at",
        "expected_seconds",
        "results_expire_at",
        "error_code",
        "error_message",
        "image_count",
        "video_seconds",
        "source",
        "source_path",
        "parent_id",
        "output_dir",
        "priority",
        "clock_offset",
        "batch_id",
        "cost_estimate",
        "cost_unit_price",
        "cost_currency",
        "cost_actual",
        "clock_uncertainty",
    }
)
_PROTECTED = {
    "id": "ids are assigned by the store",
    "created_at": "set once by add_job",
    "updated_at": "stamped by the store on every change",
    "client_token": "assigned once by add_job",
    "state": "states change only through transition()",
    "deleted": "use delete_job() / restore_job()",
}
_LEDGER_FIELDS = frozenset({"rule", "original_name", "job_id", "outcome", "outcome_path", "reason"})

# A DashScope key is "sk-" and 32 hex digits; the look-behind keeps words like "task-..." out.
_KEY_RE = re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9]{20,}")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _refuse_keys(name: str, text: str | None) -> None:
    if text and _KEY_RE.search(text):
        # Never echo the value: it may be a real key.
        raise ValueError(
            f"refusing to store {name}: it contains something that looks like an API key "
            "(sk-...); keys are never written to the job database"
        )


def body_hash(wire: Mapping[str, Any]) -> str:
    """sha256 of a wire body's canonical JSON: sorted keys, text as is, json's default separators. Every sent
    job's hash has been stored in this form (the submitter's), so it must not change: hashes in existing
    databases would stop comparing equal to those of the same body computed now."""
    return hashlib.sha256(json.dumps(wire, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def usage_figures(usage: Any) -> tuple[int, float]:
    """(images, video seconds) from a DashScope `usage` object; unknown shapes count as zero."""
    if not usage or not isinstance(usage, Mapping):
        return 0, 0.0

    def number(*keys: str) -> float:
        for key in keys:
            value = usage.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return 0.0

    return int(number("image_count")), number("video_duration", "output_video_duration", "duration")


def _encode_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Job field names and values -> column names and SQLite values. Unknown names are a TypeError."""
    cols: dict[str, Any] = {}
    cols_seen: set[str] = set()
    for name, value in fields.items():
        if name in _PROTECTED:
            raise TypeError(f"cannot set {name!r}: {_PROTECTED[name]}")
        if name in _JSON_FIELDS or name in _JSON_COLUMNS:
            short = _JSON_COLUMNS.get(name, name)
            if short in cols_seen:
                raise TypeError(f"give {short!r} or {short + '_json'!r}, not both")
            cols_seen.add(short)
            if value is None:
                text = None
            elif name in _JSON_COLUMNS:
                if not isinstance(value, str):
                    raise TypeError(f"{name} takes JSON text; pass the value itself as {short}=")
                json.loads(value)  # refuse text that is not JSON (json.JSONDecodeError is a ValueError)
                text = value
            else:
                text = _dumps(value)
            if short == "request" and value is None:
                raise ValueError("a job's request cannot be empty")
            if short in ("request", "wire"):
                _refuse_keys(short, text)
            cols[_JSON_FIELDS[short]] = text
        elif name in _PLAIN_FIELDS:
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            elif name == "mode" and value is not None:
                value = Mode(value).value
            elif name == "prompt":
                _refuse_keys("prompt", value)
                cols["search_cjk"] = cjk_search_text(value or "")  # see migrations.V4_CJK
            cols[name] = value
        else:
            raise TypeError(f"unknown job field {name!r}")
    if cols.get("usage_json") is not None:
        images, seconds = usage_figures(json.loads(cols["usage_json"]))
        cols.setdefault("image_count", images)
        cols.setdefault("video_seconds", seconds)
        if "cost_actual" not in fields:
            cols["cost_actual"] = Priced(billed_units(json.loads(cols["usage_json"])))
    if cols.get("wire_json") is not None and "body_hash" not in fields:
        cols["body_hash"] = body_hash(json.loads(cols["wire_json"]))
    return cols


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _real(value: Any) -> float | None:
    return None if value is None else float(value)


def _job(row: Sequence[Any]) -> Job:
    (
        id_,
        created_at,
        updated_at,
        mode,
        model,
        prompt,
        request_json,
        wire_json,
        body_hash_,
        client_token,
        state,
        task_id,
        request_id,
        submitted_at,
        finished_at,
        attempts,
        poll_count,
        next_check_at,
        expected_seconds,
        results_json,
        results_expire_at,
        error_code,
        error_message,
        usage_json,
        image_count,
        video_seconds,
        source,
        source_path,
        parent_id,
        output_dir,
        priority,
        deleted,
        clock_offset,
        batch_id,
        cost_estimate,
        cost_unit_price,
        cost_currency,
        cost_actual,
        clock_uncertainty,
    ) = row[: len(JOB_COLUMNS)]
    rating, starred, rejected = row[len(JOB_COLUMNS) :]
    return Job(
        id_,
        created_at,
        updated_at,
        Mode(mode),
        model,
        prompt,
        json.loads(request_json),
        wire_json,
        body_hash_,
        client_token,
        JobState(state),
        task_id,
        request_id,
        submitted_at,
        finished_at,
        attempts,
        poll_count,
        next_check_at,
        expected_seconds,
        results_json,
        results_expire_at,
        error_code,
        error_message,
        usage_json,
        image_count,
        float(video_seconds),
        source,
        source_path,
        parent_id,
        output_dir,
        priority,
        bool(deleted),
        clock_offset,
        batch_id,
        cost_estimate,
        cost_unit_price,
        cost_currency,
        cost_actual,
        rating,
        bool(starred),
        bool(rejected),
        clock_uncertainty,
    )


def _event(row: Sequence[Any]) -> Event:
    id_, job_id, at, from_state, to_state, detail = row
    return Event(id_, job_id, at, JobState(from_state) if from_state else None, JobState(to_state), detail)


def _states(value: JobState | str | Iterable[JobState | str] | None) -> frozenset[JobState] | None:
    if value is None:
        return None
    if isinstance(value, str):  # JobState is a str too
        return frozenset({JobState(value)})
    return frozenset(JobState(v) for v in value)


def _values(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return sorted({str(v) for v in value})


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


def fts_query(text: str) -> str | None:
    """An FTS5 query for what a user typed, valid whatever they typed; None when nothing is searchable.

    Every word becomes a quoted phrase (so `AND`, `-`, `"`, `*`, `:` and parentheses are plain text), all
    words must match, and the last one matches as a prefix, so results follow the typing. CJK characters
    are spaced out as in `jobs.search_cjk`, so a word of them is a phrase of single characters.
    """
    words = [w for w in text.split() if any(ch.isalnum() for ch in w)]
    if not words:
        return None
    quoted = ['"' + (cjk_search_text(w) or w).replace('"', '""') + '"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


# ---- location, permissions, opening -----------------------------------------------------------------------


def default_db_path() -> Path:
    """`$QWENTUI_DB` if set, else `<user data dir>/qwentui/jobs.db`."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("qwentui", appauthor=False)) / "jobs.db"


def _make_private_dirs(directory: Path) -> None:
    """Create the missing directories, each 0700. Existing ones are left alone (it may be /tmp)."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
            os.chmod(d, 0o700)  # umask may have cleared bits; make it exactly 0700


def _make_private_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives -wal/-shm the same bits); tighten an
    existing one that is more open than that."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            st = p.stat()
            mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
            if st.st_mode & 0o077 and mine:
                os.chmod(p, 0o600)


def _corrupt(path: Path, detail: str) -> StoreCorrupt:
    return StoreCorrupt(
        f"{path} is damaged or is not a qwentui database ({detail}). Nothing was changed. Move it aside "
        f"(with its -wal and -shm files, if any), e.g. `mv {path} {path}.broken`, and start qwentui again to "
        f"begin with an empty job list; `sqlite3 {path}.broken .recover` may rescue the old jobs.",
        path,
    )


def _translate(exc: sqlite3.Error, path: Path) -> StoreError:
    """A sqlite3 error -> a StoreError that says what happened and what to do."""
    msg = str(exc)
    # The result code says what happened (sqlite_errorname is set by Python 3.11+); the message is a fallback.
    code = getattr(exc, "sqlite_errorname", "") or ""
    low = msg.lower()
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in low:
        return StoreBusy(
            f"the job database {path} is busy: another qwentui process kept it locked for more "
            f"than {BUSY_TIMEOUT_MS // 1000} s; nothing was changed, try again"
        )
    if code == "SQLITE_FULL" or "database or disk is full" in low:
        return StoreFull(f"the disk holding {path} is full; nothing was changed. Free some space and retry")
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "not a database" in low or "malformed" in low:
        return _corrupt(path, msg)
    if "no such module: fts5" in low:
        return StoreError(
            "this Python's SQLite library was built without FTS5 (full-text search), which "
            "qwentui needs; use a Python build with a standard SQLite (e.g. python.org builds)"
        )
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")):
        return StoreError(
            f"cannot use the job database {path} ({msg}); check that the folder exists, is on "
            f"a local disk and is writable by you, or point {ENV_DB} elsewhere"
        )
    return StoreError(f"job database {path}: {msg}")


def _conflict_message(exc: sqlite3.IntegrityError) -> str:
    msg = str(exc)
    if "jobs.task_id" in msg:
        return "that task id already belongs to another job"
    return f"the job database refused the write: {msg}"


def _check_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except IsADirectoryError:
        raise StoreError(f"{path} is a directory; give the path of a database file") from None
    except OSError as exc:
        raise StoreError(f"cannot read the job database {path}: {exc.strerror}") from None
    if head and not head.startswith(SQLITE_MAGIC):
        raise _corrupt(path, "it is not an SQLite file")
    if 0 < len(head) < 100:
        raise _corrupt(path, "the file is truncated")


def _backup_file(conn: sqlite3.Connection, dest: Path) -> None:
    """VACUUM INTO a 0600 file (VACUUM INTO would create it with the umask's bits)."""
    fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # must not exist, or be empty
    os.close(fd)
    try:
        conn.execute("VACUUM INTO ?", (str(dest),))
    except BaseException:
        with contextlib.suppress(OSError):
            dest.unlink()
        raise


def _prepare(path: Path, backup: bool) -> int:
    """Create/check the file and bring its schema to LATEST (blocking; run in a thread). Returns the version
    found. Migrating an existing database first copies it to `<path>.v<N>.bak`: each step is atomic, but
    this keeps a way back from a step that commits wrong data."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory; give the path of a database file")
    try:
        _make_private_dirs(path.parent)
        _make_private_file(path)
    except OSError as exc:
        raise StoreError(
            f"cannot create the job database {path}: {exc.strerror}; check the folder's "
            f"permissions or point {ENV_DB} elsewhere"
        ) from None
    _check_header(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise _translate(exc, path) from None
    try:
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]  # parses the schema
        found = user_version(conn)
        if found == 0 and objects:
            raise StoreError(
                f"{path} is an SQLite database of some other program (it has tables but no "
                f"qwentui schema); qwentui will not write into it. Choose another file"
            )
        if found > LATEST:
            raise StoreError(
                f"database was written by a newer qwentui (schema v{found}); upgrade qwentui "
                f"(this one knows schema v{LATEST}; database: {path})"
            )
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(
                f"cannot use write-ahead logging for {path} (journal mode stays {mode!r}); keep "
                f"the database on a local disk, not a network or shared folder"
            )
        if found < LATEST:
            if backup and found > 0:
                dest = path.with_name(f"{path.name}.v{found}.bak")
                if not dest.exists():
                    _backup_file(conn, dest)
            migrate(conn)
        return found
    except sqlite3.Error as exc:
        raise _translate(exc, path) from None
    finally:
        conn.close()


def quarantine(path: str | os.PathLike[str]) -> Path:
    """Move a damaged database (and its -wal/-shm, which belong to it) aside; return the new main path."""
    src = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = src.with_name(f"{src.name}.corrupt-{stamp}")
    for suffix in ("-wal", "-shm", ""):  # main file last: a crash in between leaves the pieces findable
        piece = src.with_name(src.name + suffix)
        if piece.exists():
            os.replace(piece, dest.with_name(dest.name + suffix))
    return dest


async def _connect(path: Path, query_only: bool) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        for pragma in (
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            "cache_size = -32000",
            "temp_store = MEMORY",
        ):
            await conn.execute(f"PRAGMA {pragma}")
        if query_only:
            await conn.execute("PRAGMA query_only = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


# ---- the store --------------------------------------------------------------------------------------------


class Store:
    """Async access to the job database. Create with `await Store.open(path)`; `await close()` at the end
    (or `async with await Store.open(...) as store`)."""

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection, clock: Callable[[], float]
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._clock = clock
        self._lock = asyncio.Lock()
        self._closed = False
        # Called after every committed write that changed a job row (the change feed listens here), so no
        # caller has to announce its changes: a write that commits is news, one that rolls back is not.
        self._listeners: list[Callable[[], None]] = []
        self._stamped = False  # the open write transaction changed a job row

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str] | None = None, *, clock: Callable[[], float] = time.time, backup: bool = True
    ) -> Store:
        """Open (creating or migrating as needed) the database at `path`, default `default_db_path()`."""
        db = Path(path).expanduser() if path is not None else default_db_path()
        await asyncio.to_thread(_prepare, db, backup)
        writer: aiosqlite.Connection | None = None
        try:
            writer = await _connect(db, query_only=False)
            reader = await _connect(db, query_only=True)
        except sqlite3.Error as exc:
            if writer is not None:
                await writer.close()
            raise _translate(exc, db) from None
        await asyncio.to_thread(_make_private_file, db)  # -wal/-shm now exist
        return cls(db, writer, reader, clock)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            with contextlib.suppress(sqlite3.Error):
                # Keeps the planner's statistics fresh; the limit keeps it cheap at a million rows.
                await self._writer.execute("PRAGMA analysis_limit = 1000")
                await self._writer.execute("PRAGMA optimize")
            await self._reader.close()
            await self._writer.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- plumbing -------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One short write transaction. Await nothing but the yielded connection inside it (module doc)."""
        async with self._lock:
            if self._closed:
                raise StoreClosed()
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from None
            except BaseException:
                # Cancelled while aiosqlite's thread runs the BEGIN: it may still begin, and a transaction nobody
                # ends fails every later write. The ROLLBACK is queued behind it on that thread, so it ends it.
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            self._stamped = False
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:  # an error such as SQLITE_FULL may have rolled back already
                    with contextlib.suppress(sqlite3.Error):
                        await conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise StoreConflict(_conflict_message(exc)) from exc
                if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
                    raise _translate(exc, self.path) from None
                raise  # ProgrammingError and friends are bugs: keep them loud
            if self._stamped:
                self._stamped = False
                for listener in list(self._listeners):
                    listener()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after each committed write that changed a job (a cheap, synchronous callback)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def data_version(self) -> int:
        """SQLite's `PRAGMA data_version` on the reader: it moves when any other connection (this store's
        writer, another process) commits. Reads no rows: a cheap way to ask "did anything change?"."""
        rows = await self._read("PRAGMA data_version")
        return int(rows[0][0])

    async def latest_stamp(self) -> float:
        """The newest `updated_at` of any job (0 when there is none): where a `changed_since` reader starts."""
        rows = await self._read("SELECT max(updated_at) FROM jobs")
        return float(rows[0][0] or 0.0)

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._closed:
            raise StoreClosed()
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.DatabaseError as exc:  # damage found deep in the file, an I/O error, ...
            if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
                raise _translate(exc, self.path) from None
            raise

    @staticmethod
    async def _one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = list(await conn.execute_fetchall(sql, params))
        return rows[0] if rows else None

    @staticmethod
    async def _exec(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> tuple[int, int | None]:
        """Run one statement; (rowcount, lastrowid)."""
        async with conn.execute(sql, params) as cur:
            return cur.rowcount, cur.lastrowid

    async def _stamp(self, conn: aiosqlite.Connection) -> float:
        """The time for this write. Strictly increasing across all writes (also from other processes, as we
        hold the write lock), even if the wall clock steps back, so `changed_since()` never misses a row."""
        self._stamped = True
        row = await self._one(conn, "SELECT max(updated_at) FROM jobs")
        now = self._clock()
        last = row[0] if row and row[0] is not None else None
        return now if last is None or now > last else last + 1e-6

    async def _job_in(self, conn: aiosqlite.Connection, job_id: int) -> Job:
        row = await self._one(conn, f"{_SELECT_JOB} FROM jobs AS j WHERE j.id = ?", (job_id,))
        if row is None:
            raise JobNotFound(job_id)
        return _job(row)

    async def _update(
        self, conn: aiosqlite.Connection, job_id: int, cols: Mapping[str, Any], stamp: float | None
    ) -> None:
        sets: list[str] = []
        values: list[Any] = []
        for col, value in cols.items():  # column names come from the whitelist only
            if isinstance(value, Increment):
                sets.append(f"{col} = {col} + ?")
                values.append(value.by)
            elif isinstance(value, _Sql):
                sets.append(f"{col} = {value.expr}")
            elif isinstance(value, Priced):
                sets.append(f"{col} = cost_unit_price * ?")  # NULL (no price known) stays NULL
                values.append(value.units)
            else:
                sets.append(f"{col} = ?")
                values.append(value)
        if stamp is not None:
            sets.append("updated_at = ?")
            values.append(stamp)
        if not sets:
            return
        count, _ = await self._exec(conn, f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*values, job_id))
        if count == 0:
            raise JobNotFound(job_id)

    async def _add_event(
        self, conn: aiosqlite.Connection, job_id: int, at: float, src: JobState | None, dst: JobState, detail: str
    ) -> Event:
        _, event_id = await self._exec(
            conn,
            "INSERT INTO job_events(job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
            (job_id, at, src.value if src else None, dst.value, detail),
        )
        assert event_id is not None
        return Event(event_id, job_id, at, src, dst, detail)

    # -- jobs: writes ---------------------------------------------------------------------------------------

    async def add_job(
        self,
        request: Mapping[str, Any],
        mode: Mode | str | None = None,
        model: str | None = None,
        prompt: str | None = None,
        *,
        source: str = "tui",
        source_path: str | os.PathLike[str] | None = None,
        parent_id: int | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        expected_seconds: float | None = None,
        state: JobState = JobState.QUEUED,
        priority: int = 0,
        detail: str = "",
        lineage: Sequence[tuple[int, str]] | None = None,
        assets: Sequence[Mapping[str, Any]] = (),
        **fields: Any,
    ) -> Job:
        """Record a new job (with a fresh client token) and its creation event.

        `mode`, `model` and `prompt` default to the request dict's own. Extra `fields` are job fields, e.g.
        `task_id=` for a task imported from the account. `lineage` is where it came from, [(parent id,
        relation), ...] in order; by default `parent_id` with the relation its `source` names (lineage.py).
        `assets`: its results, each as `add_asset`'s arguments by name (`idx`, `kind`, `path`, ...), in the same
        write: a job made DONE here (a local one) is never seen done without its files.
        """
        if lineage is None:
            lineage = [] if parent_id is None else [(parent_id, relation_for_source(source))]
        elif parent_id is None and lineage:
            parent_id = lineage[0][0]  # the first parent, for readers of parent_id
        row = self._new_row(
            request,
            mode,
            model,
            prompt,
            source=source,
            source_path=source_path,
            parent_id=parent_id,
            output_dir=output_dir,
            expected_seconds=expected_seconds,
            state=state,
            priority=priority,
            fields=fields,
        )
        async with self._write() as conn:
            await self._parents_exist(conn, lineage)  # a clear "job N does not exist", not a foreign key error
            now = await self._stamp(conn)
            row.setdefault("created_at", now)
            row["updated_at"] = now
            cols = list(row)
            _, job_id = await self._exec(
                conn, f"INSERT INTO jobs({', '.join(cols)}) VALUES ({_placeholders(len(cols))})", [row[c] for c in cols]
            )
            assert job_id is not None
            await self._add_event(conn, job_id, now, None, JobState(state), detail or f"created ({source})")
            await self._link(conn, job_id, lineage)
            for asset in assets:
                await self._put_asset(conn, self._asset_values(job_id, **asset))
            return await self._job_in(conn, job_id)

    @staticmethod
    def _new_row(
        request: Mapping[str, Any],
        mode: Mode | str | None,
        model: str | None,
        prompt: str | None,
        *,
        source: str,
        source_path: str | os.PathLike[str] | None,
        parent_id: int | None,
        output_dir: str | os.PathLike[str] | None,
        expected_seconds: float | None,
        state: JobState | str,
        priority: int,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        chosen_mode = mode or request.get("mode")
        chosen_model = model or request.get("model")
        if not chosen_mode or not chosen_model:
            raise ValueError("a job needs a mode and a model (give them, or put them in the request)")
        if any(isinstance(v, Increment) for v in fields.values()):
            raise TypeError("Increment() only applies to an existing job")
        cols = _encode_fields(
            {
                "request": dict(request),
                "mode": chosen_mode,
                "model": str(chosen_model),
                "prompt": str(request.get("prompt") or "") if prompt is None else prompt,
                "source": source,
                "source_path": source_path,
                "parent_id": parent_id,
                "output_dir": output_dir,
                "expected_seconds": expected_seconds,
                "priority": priority,
                **fields,
            }
        )
        cols["state"] = JobState(state).value
        cols["client_token"] = str(uuid.uuid4())
        if isinstance(priced := cols.get("cost_actual"), Priced):
            price = cols.get("cost_unit_price")
            cols["cost_actual"] = None if price is None else priced.units * price
        return cols

    async def transition(
        self,
        job_id: int,
        to_state: JobState | str,
        *,
        expect: JobState | str | Iterable[JobState | str] | None = None,
        detail: str = "",
        **fields: Any,
    ) -> Job:
        """Move a job to `to_state`, set `fields`, and append a job_events row, in one transaction.

        Raises StaleTransition if the current state is not in `expect` (when given), IllegalTransition if
        states.ALLOWED has no such move. Entering a terminal state stamps `finished_at`; entering a state
        the engine does not act on (terminal, NEEDS_USER) clears `next_check_at`; both unless given.
        """
        dst = JobState(to_state)
        expected = _states(expect)
        cols = _encode_fields(fields)
        async with self._write() as conn:
            row = await self._one(conn, "SELECT state FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            src = JobState(row[0])
            if expected is not None and src not in expected:
                raise StaleTransition(
                    job_id, src, dst, expected, f"it is {src.value}, expected {'/'.join(sorted(expected))}"
                )
            if dst not in ALLOWED[src]:
                raise IllegalTransition(job_id, src, dst, expected, "the state machine has no such move")
            now = await self._stamp(conn)
            if dst in TERMINAL:
                cols.setdefault("finished_at", now)
            if dst not in ACTIVE:
                cols.setdefault("next_check_at", None)
            if dst in UNBILLED and "usage_json" not in cols:
                cols.setdefault("cost_actual", _UNBILLED_COST)  # only output is billed
            cols["state"] = dst.value
            await self._update(conn, job_id, cols, now)
            await self._add_event(conn, job_id, now, src, dst, detail)
            return await self._job_in(conn, job_id)

    async def update_fields(self, job_id: int, **fields: Any) -> Job:
        """Set fields without a state change (no event). Bumps `updated_at`, so the TUI sees it."""
        cols = _encode_fields(fields)
        async with self._write() as conn:
            await self._update(conn, job_id, cols, await self._stamp(conn))
            return await self._job_in(conn, job_id)

    async def set_next_checks(self, checks: Iterable[tuple[int, float | None]], *, polled: bool = False) -> None:
        """Store many next-check times in one transaction (`polled`: each job's status was just checked, so
        count it). Scheduler bookkeeping only: `updated_at` is not touched, so a poll round does not make the
        TUI re-read every job in flight."""
        pairs = [(at, job_id) for job_id, at in checks]
        if not pairs:
            return
        sql = (
            "UPDATE jobs SET next_check_at = ?" + (", poll_count = poll_count + 1" if polled else "") + " WHERE id = ?"
        )
        async with self._write() as conn:
            await conn.executemany(sql, pairs)

    async def note(self, job_id: int, detail: str) -> Event:
        """Append an event without a state change (e.g. "upload 2/3 done", "503, retrying")."""
        async with self._write() as conn:
            row = await self._one(conn, "SELECT state FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            state = JobState(row[0])
            return await self._add_event(conn, job_id, await self._stamp(conn), state, state, detail)

    async def delete_job(self, job_id: int) -> None:
        """Hide a job from lists and counts. The row and its history stay (usage totals still count it);
        the engine still sees it in jobs_in_states/due_jobs, so a task in flight is not left half done."""
        await self._set_deleted(job_id, True, "hidden from the list")

    async def restore_job(self, job_id: int) -> None:
        await self._set_deleted(job_id, False, "restored to the list")

    async def _set_deleted(self, job_id: int, deleted: bool, detail: str) -> None:
        async with self._write() as conn:
            row = await self._one(conn, "SELECT state, deleted FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            if bool(row[1]) == deleted:
                return
            now = await self._stamp(conn)
            await self._update(conn, job_id, {"deleted": int(deleted)}, now)
            state = JobState(row[0])
            await self._add_event(conn, job_id, now, state, state, detail)

    async def bulk_insert_jobs(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert many jobs in one transaction (for imports, tests and benchmarks); returns how many.

        Each row takes add_job's arguments by name (`request` required; `mode`, `model`, `prompt`, `state`,
        `source`, ... and any job field), plus `created_at`/`updated_at` if wanted. No events are written.
        Rows go through a temporary table first: one INSERT ... SELECT lets FTS5 index them in a batch,
        which is several times faster than a row at a time.
        """
        now = self._clock()
        prepared: list[dict[str, Any]] = []
        for r in rows:
            r = dict(r)
            created = r.pop("created_at", now)
            updated = r.pop("updated_at", created)
            request = r.pop("request")
            named = {
                k: r.pop(k)
                for k in (
                    "mode",
                    "model",
                    "prompt",
                    "source",
                    "source_path",
                    "parent_id",
                    "output_dir",
                    "expected_seconds",
                    "state",
                    "priority",
                )
                if k in r
            }
            cols = self._new_row(
                request,
                named.get("mode"),
                named.get("model"),
                named.get("prompt"),
                source=named.get("source", "tui"),
                source_path=named.get("source_path"),
                parent_id=named.get("parent_id"),
                output_dir=named.get("output_dir"),
                expected_seconds=named.get("expected_seconds"),
                state=named.get("state", JobState.QUEUED),
                priority=named.get("priority", 0),
                fields=r,
            )
            cols["created_at"] = created
            cols["updated_at"] = updated
            prepared.append(cols)
        if not prepared:
            return 0
        names = [c for c in JOB_COLUMNS if c != "id" and c != "deleted"] + ["search_cjk"]
        values = [tuple(p.get(c, _COLUMN_DEFAULTS.get(c)) for c in names) for p in prepared]
        col_list = ", ".join(names)
        async with self._write() as conn:
            self._stamped = True
            await conn.execute("DROP TABLE IF EXISTS temp.bulk_jobs")
            await conn.execute(f"CREATE TEMP TABLE bulk_jobs AS SELECT {col_list} FROM main.jobs WHERE 0")
            await conn.executemany(
                f"INSERT INTO temp.bulk_jobs({col_list}) VALUES ({_placeholders(len(names))})", values
            )
            await conn.execute(
                f"INSERT INTO main.jobs({col_list}) SELECT {col_list} FROM temp.bulk_jobs ORDER BY rowid"
            )
            await conn.execute("DROP TABLE temp.bulk_jobs")
        return len(prepared)

    # -- jobs: reads ----------------------------------------------------------------------------------------

    async def get_job(self, job_id: int) -> Job | None:
        rows = await self._read(f"{_SELECT_JOB} FROM jobs AS j WHERE j.id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    async def get_by_task_id(self, task_id: str) -> Job | None:
        rows = await self._read(f"{_SELECT_JOB} FROM jobs AS j WHERE j.task_id = ?", (task_id,))
        return _job(rows[0]) if rows else None

    async def jobs_by_task_ids(self, task_ids: Iterable[str]) -> dict[str, Job]:
        """The jobs that own these task ids, by task id (one query for a whole page of a task list)."""
        wanted = list(dict.fromkeys(task_ids))
        found: dict[str, Job] = {}
        for i in range(0, len(wanted), 500):  # well under SQLite's limit on bound parameters
            chunk = wanted[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            for row in await self._read(f"{_SELECT_JOB} FROM jobs AS j WHERE j.task_id IN ({marks})", chunk):
                job = _job(row)
                found[job.task_id or ""] = job
        return found

    async def get_by_client_token(self, token: str) -> Job | None:
        rows = await self._read(f"{_SELECT_JOB} FROM jobs AS j WHERE j.client_token = ?", (token,))
        return _job(rows[0]) if rows else None

    async def jobs_in_states(
        self, states: JobState | str | Iterable[JobState | str], limit: int | None = None
    ) -> list[Job]:
        """Jobs in these states, highest priority first, then oldest first (deleted ones included: the
        engine finishes what it started). Meant for the active states, which are few."""
        wanted = sorted(_states(states) or ())
        if not wanted:
            return []
        sql = (
            f"{_SELECT_JOB} FROM jobs AS j WHERE j.state IN ({_placeholders(len(wanted))}) "
            "ORDER BY j.priority DESC, j.id"
        )
        params: list[Any] = list(wanted)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_job(r) for r in await self._read(sql, params)]

    async def send_times(
        self, model: str, after: float, until: float
    ) -> list[tuple[float, float | None, float | None]]:
        """(send time, clock offset, its uncertainty) of every POST of `model` last sent in (after, until]: the
        reconciler's bounds (a job's row keeps its latest send; an imported task was never sent, so it has no
        body hash)."""
        rows = await self._read(
            "SELECT submitted_at, clock_offset, clock_uncertainty FROM jobs WHERE model = ? AND submitted_at > ? "
            "AND submitted_at <= ? AND body_hash IS NOT NULL ORDER BY submitted_at",
            (model, after, until),
        )
        return [(float(at), _real(offset), _real(uncertainty)) for at, offset, uncertainty in rows]

    async def due_jobs(
        self, now: float, states: JobState | str | Iterable[JobState | str], limit: int = 100
    ) -> list[Job]:
        """Jobs in `states` whose next check is due (NULL counts as due now), earliest first."""
        per_state = []
        for state in sorted(_states(states) or ()):
            rows = await self._read(
                f"{_SELECT_JOB} FROM jobs AS j INDEXED BY jobs_due WHERE j.state = ? "
                "AND (j.next_check_at IS NULL OR j.next_check_at <= ?) ORDER BY j.next_check_at, j.id LIMIT ?",
                (state.value, now, limit),
            )
            per_state.append([_job(r) for r in rows])
        merged = heapq.merge(*per_state, key=lambda j: (j.next_check_at is not None, j.next_check_at or 0, j.id))
        return list(merged)[:limit]

    async def list_jobs(
        self,
        *,
        states: JobState | str | Iterable[JobState | str] | None = None,
        modes: Mode | str | Iterable[Mode | str] | None = None,
        models: str | Iterable[str] | None = None,
        text: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        since_updated: float | None = None,
        include_deleted: bool = False,
        marks: MarkFilter | None = None,
        batch_id: int | None = None,
    ) -> list[Job]:
        """Newest first (by id), filtered; page with `before_id=<last id of the previous page>`.

        Fast at a million jobs because every query walks one index in id order and stops at `limit`:
        the full-text index when there is text, else the index of the first filter given (states, modes,
        models), one query per value merged here, else the table itself. `INDEXED BY` pins those plans,
        so planner statistics can never turn them into a sort of the whole table.
        """
        state_vals = [s.value for s in sorted(_states(states) or ())] if states is not None else None
        mode_vals = (
            sorted({Mode(m).value for m in ([modes] if isinstance(modes, str) else modes)})
            if modes is not None
            else None
        )
        model_vals = _values(models)
        if limit <= 0 or any(v is not None and not v for v in (state_vals, mode_vals, model_vals)):
            return []

        match = fts_query(text or "")
        if match is None and text and text.strip():
            return []  # only punctuation: nothing can match
        # A query with CJK characters goes to the index of CJK prompts (which holds their other words too).
        fts = "jobs_fts_cjk" if text and CJK.search(text) else "jobs_fts"

        where: list[str] = []
        params: list[Any] = []
        if not include_deleted:
            where.append("j.deleted = 0")
        if before_id is not None:
            # on the FTS rowid itself when searching, so the index starts at the page instead of skipping to it
            where.append(f"{fts}.rowid < ?" if match is not None else "j.id < ?")
            params.append(before_id)
        if since_updated is not None:
            where.append("j.updated_at > ?")
            params.append(since_updated)
        filters = {"state": state_vals, "mode": mode_vals, "model": model_vals}
        if batch_id is not None:
            where.append("j.batch_id = ?")
            params.append(batch_id)
        if marks is not None:
            where.extend(marks.conditions())
            params.extend(marks.params())

        if match is not None:
            conds = [*where, *(f"j.{col} IN ({_placeholders(len(v))})" for col, v in filters.items() if v)]
            fparams = [*params, *(x for v in filters.values() if v for x in v)]
            # CROSS JOIN keeps the FTS table as the outer loop, read in descending rowid order.
            sql = (
                f"{_SELECT_JOB} FROM {fts} CROSS JOIN jobs AS j ON j.id = {fts}.rowid "
                f"WHERE {fts} MATCH ? {''.join(' AND ' + c for c in conds)} "
                f"ORDER BY {fts}.rowid DESC LIMIT ?"
            )
            return [_job(r) for r in await self._read(sql, [match, *fparams, limit])]

        driver = next((col for col, v in filters.items() if v), None)
        if driver is None:
            # Only "changed since" narrows it: those are few, so find them by updated_at and sort them,
            # instead of walking every row newer than the change.
            index = "INDEXED BY jobs_updated" if since_updated is not None else ""
            if not index and batch_id is not None:
                index = "INDEXED BY jobs_batch"  # a batch's jobs, walked newest first (the index ends in the id)
            if not index and marks is not None and marks.needs_mark:
                index = "INDEXED BY jobs_marked"  # the few marked jobs, newest first (migrations.V10)
            sql = f"{_SELECT_JOB} FROM jobs AS j {index} {_where(where)} ORDER BY j.id DESC LIMIT ?"
            return [_job(r) for r in await self._read(sql, [*params, limit])]
        others = [f"j.{col} IN ({_placeholders(len(v))})" for col, v in filters.items() if v and col != driver]
        oparams = [x for col, v in filters.items() if v and col != driver for x in v]
        sql = (
            f"{_SELECT_JOB} FROM jobs AS j INDEXED BY jobs_{driver} "
            f"{_where([f'j.{driver} = ?', *where, *others])} ORDER BY j.id DESC LIMIT ?"
        )
        per_value = [await self._read(sql, [value, *params, *oparams, limit]) for value in filters[driver] or ()]
        merged = heapq.merge(*per_value, key=lambda r: -r[0])
        return [_job(r) for r in itertools.islice(merged, limit)]

    async def count_by_state(self) -> dict[JobState, int]:
        """Jobs per state, every state present (0 if none); deleted jobs are not counted."""
        counts = dict.fromkeys(JobState, 0)
        for state, n in await self._read("SELECT state, n FROM job_counts"):
            counts[JobState(state)] = n
        return counts

    async def changed_since(self, updated_at: float, limit: int | None = None) -> list[Job]:
        """Jobs changed after `updated_at` (deleted ones included, so a view can drop them), oldest change
        first. Remember the last `updated_at` seen and pass it next time: stamps strictly increase."""
        sql = f"{_SELECT_JOB} FROM jobs AS j WHERE j.updated_at > ? ORDER BY j.updated_at"
        params: list[Any] = [updated_at]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_job(r) for r in await self._read(sql, params)]

    async def events(self, job_id: int) -> list[Event]:
        rows = await self._read(
            "SELECT id, job_id, at, from_state, to_state, detail FROM job_events WHERE job_id = ? ORDER BY id",
            (job_id,),
        )
        return [_event(r) for r in rows]

    async def usage_totals(
        self, by: Literal["model", "day"] = "model", *, since: float | None = None, until: float | None = None
    ) -> list[UsageTotal]:
        """Images and video seconds billed, per model or per local day (by finish time). Deleted jobs count:
        hiding a job does not refund it."""
        # By day, SQL sums per 15 minutes (every UTC offset in use is a multiple of that) and Python names
        # the local day of each slot: SQLite's 'localtime' per row costs seconds at a million jobs.
        key = {"model": "model", "day": "CAST(coalesce(finished_at, created_at) / 900 AS INTEGER)"}[by]
        where = ["(image_count > 0 OR video_seconds > 0)"]  # exactly the jobs_usage index's condition
        params: list[Any] = []
        if since is not None:
            where.append("coalesce(finished_at, created_at) >= ?")
            params.append(since)
        if until is not None:
            where.append("coalesce(finished_at, created_at) < ?")
            params.append(until)
        rows = await self._read(
            f"SELECT {key} AS k, count(*), sum(image_count), sum(video_seconds) FROM jobs {_where(where)} "
            "GROUP BY k ORDER BY k",
            params,
        )
        totals: dict[str, list[float]] = {}
        for k, n, images, seconds in rows:
            name = time.strftime("%Y-%m-%d", time.localtime(k * 900)) if by == "day" else str(k)
            t = totals.setdefault(name, [0, 0, 0.0])
            t[0] += n
            t[1] += images or 0
            t[2] += seconds or 0
        return [UsageTotal(k, int(n), int(images), float(seconds)) for k, (n, images, seconds) in totals.items()]

    # -- batches and spend ----------------------------------------------------------------------------------

    @classmethod
    def _new_rows(cls, jobs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """add_jobs' items as column values (a pure function: it runs in a worker thread)."""
        named = ("mode", "model", "prompt", "source", "source_path", "parent_id", "output_dir", "expected_seconds")
        prepared = []
        for item in jobs:
            rest = dict(item)
            request = rest.pop("request")
            args = {k: rest.pop(k) for k in named if k in rest}
            prepared.append(
                cls._new_row(
                    request,
                    args.get("mode"),
                    args.get("model"),
                    args.get("prompt"),
                    source=args.get("source", "cli"),
                    source_path=args.get("source_path"),
                    parent_id=args.get("parent_id"),
                    output_dir=args.get("output_dir"),
                    expected_seconds=args.get("expected_seconds"),
                    state=JobState.QUEUED,
                    priority=rest.pop("priority", 0),
                    fields=rest,
                )
            )
        return prepared

    async def add_jobs(
        self,
        jobs: Sequence[Mapping[str, Any]],
        *,
        batch_name: str | None = None,
        batch_source: str | os.PathLike[str] | None = None,
        max_cost: float | None = None,
        currency: str | None = None,
        detail: str = "",
    ) -> tuple[int | None, list[int]]:
        """Queue many jobs, and their batch when `batch_name` is given, in one transaction (all or nothing).

        Each item takes add_job's arguments by name (`request` required, then `mode`, `model`, `source`,
        `parent_id`, job fields such as `cost_estimate`, ...); `batch_id` may name an existing batch instead.
        Writes a creation event per job. Returns (batch id, job ids in order). Rows go through a temporary
        table, so FTS5 indexes them in one go (see bulk_insert_jobs)."""
        # thousands of rows take a while to encode: off the event loop, so a UI stays responsive meanwhile
        prepared = await asyncio.to_thread(self._new_rows, jobs)
        if not prepared:
            return None, []
        names = [c for c in JOB_COLUMNS if c not in ("id", "deleted")] + ["search_cjk"]
        col_list = ", ".join(names)
        async with self._write() as conn:
            now = await self._stamp(conn)
            batch_id: int | None = None
            if batch_name is not None:
                _, batch_id = await self._exec(
                    conn,
                    "INSERT INTO batches(created_at, name, source_path, max_cost, currency) VALUES (?, ?, ?, ?, ?)",
                    (now, batch_name, os.fspath(batch_source) if batch_source else None, max_cost, currency),
                )
            values = []
            for i, cols in enumerate(prepared):
                # one stamp per row, strictly increasing: a changed_since reader with a limit never splits a tie
                cols["created_at"] = cols["updated_at"] = now + i * 1e-6
                if batch_id is not None:
                    cols.setdefault("batch_id", batch_id)
                values.append(tuple(cols.get(c, _COLUMN_DEFAULTS.get(c)) for c in names))
            await conn.execute("DROP TABLE IF EXISTS temp.bulk_jobs")
            await conn.execute(f"CREATE TEMP TABLE bulk_jobs AS SELECT {col_list} FROM main.jobs WHERE 0")
            await conn.executemany(
                f"INSERT INTO temp.bulk_jobs({col_list}) VALUES ({_placeholders(len(names))})", values
            )
            _, last = await self._exec(
                conn, f"INSERT INTO main.jobs({col_list}) SELECT {col_list} FROM temp.bulk_jobs ORDER BY rowid"
            )
            await conn.execute("DROP TABLE temp.bulk_jobs")
            assert last is not None
            # AUTOINCREMENT under the write lock: one INSERT ... SELECT takes consecutive ids
            ids = list(range(last - len(prepared) + 1, last + 1))
            await conn.executemany(
                "INSERT INTO job_events(job_id, at, from_state, to_state, detail) VALUES (?, ?, NULL, ?, ?)",
                [
                    (job_id, now + i * 1e-6, JobState.QUEUED.value, detail or f"created ({cols['source']})")
                    for i, (job_id, cols) in enumerate(zip(ids, prepared, strict=True))
                ],
            )
            # where each came from, as add_job records it (a batch's retries: relation "retry")
            await conn.executemany(
                "INSERT INTO job_lineage(job_id, position, parent_id, relation) VALUES (?, 0, ?, ?)",
                [
                    (job_id, cols["parent_id"], str(relation_for_source(cols["source"])))
                    for job_id, cols in zip(ids, prepared, strict=True)
                    if cols.get("parent_id") is not None
                ],
            )
            return batch_id, ids

    async def get_batch(self, batch_id: int) -> Batch | None:
        rows = await self._read(
            "SELECT id, created_at, name, source_path, max_cost, currency FROM batches WHERE id = ?", (batch_id,)
        )
        return Batch(*rows[0]) if rows else None

    async def batches(self, limit: int = 50) -> list[Batch]:
        """The newest batches first."""
        rows = await self._read(
            "SELECT id, created_at, name, source_path, max_cost, currency FROM batches ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [Batch(*r) for r in rows]

    async def batch_jobs(
        self, batch_id: int, states: JobState | str | Iterable[JobState | str] | None = None
    ) -> list[Job]:
        """The jobs of a batch (deleted ones included), oldest first, optionally only in `states`."""
        sql = f"{_SELECT_JOB} FROM jobs AS j INDEXED BY jobs_batch WHERE j.batch_id = ?"
        params: list[Any] = [batch_id]
        if states is not None:
            wanted = sorted(_states(states) or ())
            if not wanted:
                return []
            sql += f" AND j.state IN ({_placeholders(len(wanted))})"
            params += wanted
        return [_job(r) for r in await self._read(sql + " ORDER BY j.id", params)]

    async def batch_counts(self, batch_id: int) -> dict[JobState, int]:
        """Jobs of a batch per state (only the states it has)."""
        rows = await self._read(
            "SELECT state, count(*) FROM jobs INDEXED BY jobs_batch WHERE batch_id = ? GROUP BY state", (batch_id,)
        )
        return {JobState(state): n for state, n in rows}

    async def cancel_waiting(self, batch_id: int, detail: str = "canceled by the user") -> list[int]:
        """Cancel every job of the batch that was not sent yet (QUEUED) or waits for the user, in one
        transaction; returns their ids. Jobs the service has are the engine's to cancel (Engine.cancel)."""
        async with self._write() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT id, state FROM jobs INDEXED BY jobs_batch WHERE batch_id = ? AND state IN (?, ?) "
                    "ORDER BY id",
                    (batch_id, JobState.QUEUED.value, JobState.NEEDS_USER.value),
                )
            )
            if not rows:
                return []
            now = await self._stamp(conn)
            await conn.executemany(
                "UPDATE jobs SET state = ?, finished_at = ?, next_check_at = NULL, updated_at = ?, "
                f"cost_actual = {_UNBILLED_COST.expr} WHERE id = ? AND state = ?",
                [
                    (JobState.CANCELED.value, now, now + i * 1e-6, job_id, state)
                    for i, (job_id, state) in enumerate(rows)
                ],
            )
            await conn.executemany(
                "INSERT INTO job_events(job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
                [
                    (job_id, now + i * 1e-6, state, JobState.CANCELED.value, detail)
                    for i, (job_id, state) in enumerate(rows)
                ],
            )
            return [job_id for job_id, _ in rows]

    async def committed_cost(self, *, currency: str, since: float | None = None, batch_id: int | None = None) -> float:
        """What the jobs sent since `since` (or of a batch) cost or may cost, in `currency`: the actual cost
        of those that ended (failed: 0), the estimate of those still on their way (budget caps, budget.py)."""
        where = ["cost_currency = ?", "submitted_at IS NOT NULL", "state != ?"]
        params: list[Any] = [currency, JobState.QUEUED.value]
        if since is not None:
            where.append("submitted_at >= ?")
            params.append(since)
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        index = "INDEXED BY jobs_batch" if batch_id is not None else ""
        rows = await self._read(
            f"SELECT total(coalesce(cost_actual, cost_estimate)) FROM jobs {index} {_where(where)}", params
        )
        return float(rows[0][0])

    async def sent_among(self, job_ids: Sequence[int]) -> set[int]:
        """Which of these jobs were sent (committed_cost counts them)."""
        found: set[int] = set()
        for i in range(0, len(job_ids), 500):
            chunk = list(job_ids[i : i + 500])
            rows = await self._read(
                f"SELECT id FROM jobs WHERE id IN ({_placeholders(len(chunk))}) "
                "AND submitted_at IS NOT NULL AND state != ?",
                [*chunk, JobState.QUEUED.value],
            )
            found.update(r[0] for r in rows)
        return found

    async def spend(
        self,
        by: Literal["model", "day", "batch"] = "model",
        *,
        since: float | None = None,
        until: float | None = None,
        batch_id: int | None = None,
    ) -> list[SpendTotal]:
        """Estimated and actual cost per model, local day (by finish time) or batch, per currency. Only jobs
        queued with an estimate count (those from before estimates existed have none); deleted jobs count."""
        key = {
            "model": "model",
            "day": "CAST(coalesce(finished_at, created_at) / 900 AS INTEGER)",  # local days: see usage_totals
            "batch": "batch_id",
        }[by]
        where = ["cost_currency IS NOT NULL"]  # exactly the jobs_cost index's condition
        params: list[Any] = []
        if since is not None:
            where.append("coalesce(finished_at, created_at) >= ?")
            params.append(since)
        if until is not None:
            where.append("coalesce(finished_at, created_at) < ?")
            params.append(until)
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        if by == "batch":
            where.append("batch_id IS NOT NULL")
        rows = await self._read(
            f"SELECT {key} AS k, cost_currency, count(*), total(cost_estimate), total(cost_actual), "
            "total(CASE WHEN cost_actual IS NULL THEN cost_estimate END), "
            "sum(cost_estimate IS NULL AND cost_actual IS NULL) "
            f"FROM jobs INDEXED BY jobs_cost {_where(where)} GROUP BY k, cost_currency ORDER BY k, cost_currency",
            params,
        )
        totals: dict[tuple[str, str], list[float]] = {}
        for k, cur, n, estimated, actual, open_estimate, unpriced in rows:
            name = time.strftime("%Y-%m-%d", time.localtime(k * 900)) if by == "day" else str(k)
            t = totals.setdefault((name, cur), [0, 0.0, 0.0, 0.0, 0])
            for i, value in enumerate((n, estimated, actual, open_estimate, unpriced or 0)):
                t[i] += value
        return [
            SpendTotal(k, cur, int(n), round(e, 6), round(a, 6), round(o, 6), int(u))
            for (k, cur), (n, e, a, o, u) in totals.items()
        ]

    # -- assets ---------------------------------------------------------------------------------------------

    async def add_asset(
        self,
        job_id: int,
        idx: int,
        kind: Literal["image", "video", "text"],
        *,
        url: str | None = None,
        path: str | os.PathLike[str] | None = None,
        text: str | None = None,
        size: int | None = None,
        sha256: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
    ) -> Asset:
        """Record result `idx` of a job. Recording the same idx again replaces it (a re-download after a
        crash), so the step can simply be repeated."""
        values = self._asset_values(job_id, idx, kind, url, path, text, size, sha256, width, height, duration)
        async with self._write() as conn:
            await self._put_asset(conn, values)
            row = await self._one(
                conn, f"SELECT {', '.join(_ASSET_COLUMNS)} FROM assets WHERE job_id = ? AND idx = ?", (job_id, idx)
            )
            return Asset(*row)

    def _asset_values(
        self,
        job_id: int,
        idx: int,
        kind: str,
        url: str | None = None,
        path: str | os.PathLike[str] | None = None,
        text: str | None = None,
        size: int | None = None,
        sha256: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: float | None = None,
    ) -> tuple[Any, ...]:
        if kind not in ("image", "video", "text"):
            raise ValueError(f"asset kind must be image, video or text, not {kind!r}")
        fs_path = None if path is None else os.fspath(path)
        return (job_id, idx, kind, url, fs_path, text, size, sha256, width, height, duration, self._clock())

    async def _put_asset(self, conn: aiosqlite.Connection, values: tuple[Any, ...]) -> None:
        await self._exec(
            conn,
            "INSERT INTO assets(job_id, idx, kind, url, path, text, size, sha256, width, height, "
            "duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(job_id, idx) DO UPDATE SET kind = excluded.kind, url = excluded.url, "
            "path = excluded.path, text = excluded.text, size = excluded.size, sha256 = excluded.sha256, "
            "width = excluded.width, height = excluded.height, duration = excluded.duration, "
            "created_at = excluded.created_at",
            values,
        )

    async def assets(self, job_id: int) -> list[Asset]:
        rows = await self._read(
            f"SELECT {', '.join(_ASSET_COLUMNS)} FROM assets WHERE job_id = ? ORDER BY idx", (job_id,)
        )
        return [Asset(*r) for r in rows]

    # -- drop-folder ledger ---------------------------------------------------------------------------------

    async def ledger_get(self, sha256: str) -> LedgerEntry | None:
        rows = await self._read(f"SELECT {', '.join(_LEDGER_COLUMNS)} FROM drop_ledger WHERE sha256 = ?", (sha256,))
        return LedgerEntry(*rows[0]) if rows else None

    async def ledger_claim(self, sha256: str, rule: str, original_name: str) -> bool:
        """Claim these bytes for processing; False if they were claimed before (a duplicate)."""
        async with self._write() as conn:
            count, _ = await self._exec(
                conn,
                "INSERT OR IGNORE INTO drop_ledger(sha256, rule, original_name, claimed_at) VALUES (?, ?, ?, ?)",
                (sha256, rule, original_name, self._clock()),
            )
            return count == 1

    async def ledger_set(self, sha256: str, **fields: Any) -> LedgerEntry:
        """Update a claim: job_id, outcome ('done', 'failed', 'duplicate', ...), outcome_path, reason."""
        unknown = set(fields) - _LEDGER_FIELDS
        if unknown:
            raise TypeError(f"unknown ledger field(s): {', '.join(sorted(unknown))}")
        values = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in fields.items()}
        async with self._write() as conn:
            if values:
                sets = ", ".join(f"{k} = ?" for k in values)
                await self._exec(conn, f"UPDATE drop_ledger SET {sets} WHERE sha256 = ?", (*values.values(), sha256))
            row = await self._one(
                conn, f"SELECT {', '.join(_LEDGER_COLUMNS)} FROM drop_ledger WHERE sha256 = ?", (sha256,)
            )
            if row is None:
                raise StoreError(f"no drop-folder claim for sha256 {sha256}")
            return LedgerEntry(*row)

    async def ledger_open(self) -> list[LedgerEntry]:
        """Claims without an outcome: files a crash may have left in `.processing/`."""
        rows = await self._read(
            f"SELECT {', '.join(_LEDGER_COLUMNS)} FROM drop_ledger WHERE outcome IS NULL ORDER BY claimed_at"
        )
        return [LedgerEntry(*r) for r in rows]

    async def ledger_forget(self, sha256: str) -> bool:
        """Drop a claim, so the same bytes may be submitted again."""
        async with self._write() as conn:
            count, _ = await self._exec(conn, "DELETE FROM drop_ledger WHERE sha256 = ?", (sha256,))
            return count == 1

    async def drop_counts(self) -> dict[str, dict[str, int]]:
        """What each drop-folder rule did, ever: {rule: {"taken": n, "done": n, "failed": n, ...}}."""
        counts: dict[str, dict[str, int]] = {}
        for rule, counter, n in await self._read("SELECT rule, counter, n FROM drop_counts"):
            counts.setdefault(rule, {})[counter] = n
        return counts

    async def add_drop_counts(self, deltas: Mapping[tuple[str, str], int]) -> None:
        """Add to drop-folder counters, {(rule, counter): delta}, in one transaction."""
        rows = [(rule, counter, n) for (rule, counter), n in deltas.items() if n]
        if not rows:
            return
        async with self._write() as conn:
            await conn.executemany(
                "INSERT INTO drop_counts(rule, counter, n) VALUES (?, ?, ?) "
                "ON CONFLICT(rule, counter) DO UPDATE SET n = n + excluded.n",
                rows,
            )

    # -- lineage ---------------------------------------------------------------------------------------------

    async def _link(self, conn: aiosqlite.Connection, job_id: int, parents: Sequence[tuple[int, str]]) -> None:
        if not parents:
            return
        await self._parents_exist(conn, parents)
        sql = "SELECT coalesce(max(position) + 1, 0) FROM job_lineage WHERE job_id = ?"
        start = int((await self._one(conn, sql, (job_id,)))[0])
        await conn.executemany(
            "INSERT INTO job_lineage(job_id, position, parent_id, relation) VALUES (?, ?, ?, ?)",
            [(job_id, start + i, parent_id, str(relation)) for i, (parent_id, relation) in enumerate(parents)],
        )

    async def _parents_exist(self, conn: aiosqlite.Connection, parents: Sequence[tuple[int, str]]) -> None:
        for parent_id, _ in parents:
            if await self._one(conn, "SELECT 1 FROM jobs WHERE id = ?", (parent_id,)) is None:
                raise JobNotFound(parent_id)

    async def add_lineage(self, job_id: int, parents: Sequence[tuple[int, str]]) -> None:
        """Record that `job_id` also came from these (parent id, relation) pairs, after the ones it has."""
        async with self._write() as conn:
            if await self._one(conn, "SELECT 1 FROM jobs WHERE id = ?", (job_id,)) is None:
                raise JobNotFound(job_id)
            await self._link(conn, job_id, parents)

    async def parents(self, job_id: int) -> list[Link]:
        """Where `job_id` came from, in input order (one step up)."""
        return await self.ancestors(job_id, depth=1)

    async def children(self, job_id: int) -> list[Link]:
        """What was made from `job_id` (one step down), oldest first."""
        return await self.descendants(job_id, depth=1)

    async def ancestors(self, job_id: int, depth: int = 64) -> list[Link]:
        """Every step up from `job_id` (its parents, theirs, ...), nearest first; `depth` bounds the walk."""
        return await self._walk(job_id, depth, "l.job_id = t.parent_id", "job_id")

    async def descendants(self, job_id: int, depth: int = 64) -> list[Link]:
        """Every step down from `job_id` (its children, theirs, ...), nearest first."""
        return await self._walk(job_id, depth, "l.parent_id = t.job_id", "parent_id")

    async def _walk(self, job_id: int, depth: int, join: str, start: str) -> list[Link]:
        # UNION (not UNION ALL) and the depth bound keep a diamond (one clip assembled twice) finite
        rows = await self._read(
            "WITH RECURSIVE t(job_id, position, parent_id, relation, depth) AS ("
            f"SELECT job_id, position, parent_id, relation, 1 FROM job_lineage WHERE {start} = ? UNION "
            "SELECT l.job_id, l.position, l.parent_id, l.relation, t.depth + 1 FROM job_lineage AS l "
            f"JOIN t ON {join} WHERE t.depth < ?) "
            "SELECT job_id, parent_id, relation, position, min(depth) AS d FROM t GROUP BY job_id, position "
            "ORDER BY d, job_id, position",
            (job_id, depth),
        )
        return [Link(*r) for r in rows]

    async def family(self, job_id: int) -> list[Job]:
        """The job, everything it came from and everything made from those: one family, oldest first."""
        up = await self.ancestors(job_id)
        parents_of = {link.job_id for link in up}
        roots = {link.parent_id for link in up if link.parent_id not in parents_of} or {job_id}
        ids = {job_id} | roots
        for root in roots:
            ids.update(link.job_id for link in await self.descendants(root))
        wanted = sorted(ids)
        rows = await self._read(f"{_SELECT_JOB} FROM jobs AS j WHERE j.id IN ({_placeholders(len(wanted))})", wanted)
        return sorted((_job(r) for r in rows), key=lambda j: j.id)

    # -- culling marks ---------------------------------------------------------------------------------------

    async def set_marks(
        self, job_id: int, *, rating: int | None, starred: bool, rejected: bool, detail: str = ""
    ) -> Job:
        """Set a job's culling marks (all three), with an event saying what changed. Bumps `updated_at`, so
        the change feed and the TUI see it."""
        if rating is not None and (isinstance(rating, bool) or rating not in range(1, 6)):
            raise ValueError(f"a rating is 1 to 5, not {rating!r}")
        async with self._write() as conn:
            row = await self._one(conn, "SELECT state FROM jobs WHERE id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            now = await self._stamp(conn)
            marks = {"rating": rating, "starred": int(starred), "rejected": int(rejected)}
            await self._update(conn, job_id, marks, now)
            state = JobState(row[0])
            await self._add_event(conn, job_id, now, state, state, detail or "marks changed")
            return await self._job_in(conn, job_id)

    # -- the engine lease -----------------------------------------------------------------------------------

    async def acquire_lease(self, owner: str, pid: int, now: float, ttl: float) -> bool:
        """Become the one engine that follows tasks, if nobody holds the lease or it expired (or we hold it).
        Times are wall-clock seconds from the caller, so tests can drive them."""
        async with self._write() as conn:
            row = await self._one(conn, "SELECT owner, expires_at FROM lease WHERE id = 1")
            if row is not None and row[0] != owner and row[1] > now:
                return False
            await self._exec(
                conn,
                "INSERT INTO lease(id, owner, pid, acquired_at, heartbeat_at, expires_at) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, "
                "pid = excluded.pid, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, "
                "acquired_at = CASE WHEN lease.owner = excluded.owner THEN lease.acquired_at "
                "ELSE excluded.acquired_at END",
                (owner, pid, now, now, now + ttl),
            )
            return True

    async def renew_lease(self, owner: str, now: float, ttl: float | None = None) -> bool:
        """Heartbeat (`ttl` defaults to the one the lease was taken with). False means the lease was lost
        (it expired and someone else took it): stop following tasks."""
        async with self._write() as conn:
            if ttl is None:
                count, _ = await self._exec(
                    conn,
                    "UPDATE lease SET expires_at = ? + (expires_at - heartbeat_at), heartbeat_at = ? "
                    "WHERE id = 1 AND owner = ?",
                    (now, now, owner),
                )
            else:
                count, _ = await self._exec(
                    conn,
                    "UPDATE lease SET heartbeat_at = ?, expires_at = ? WHERE id = 1 AND owner = ?",
                    (now, now + ttl, owner),
                )
            return count == 1

    async def release_lease(self, owner: str) -> bool:
        """Give the lease up (also usable to break the lease of an owner known to be dead)."""
        async with self._write() as conn:
            count, _ = await self._exec(conn, "DELETE FROM lease WHERE id = 1 AND owner = ?", (owner,))
            return count == 1

    async def lease(self) -> Lease | None:
        rows = await self._read("SELECT owner, pid, acquired_at, heartbeat_at, expires_at FROM lease WHERE id = 1")
        return Lease(*rows[0]) if rows else None

    # -- settings -------------------------------------------------------------------------------------------

    async def get_setting(self, key: str, default: Any = None) -> Any:
        rows = await self._read("SELECT value FROM settings_kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    async def set_setting(self, key: str, value: Any) -> None:
        text = _dumps(value)
        _refuse_keys(f"setting {key!r}", text)
        async with self._write() as conn:
            await self._exec(
                conn,
                "INSERT INTO settings_kv(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    # -- maintenance ----------------------------------------------------------------------------------------

    async def check(self) -> list[str]:
        """`PRAGMA quick_check`: an empty list when the file is sound. It reads every page (seconds at a
        million jobs), so it is not run on open; run it from a doctor command or when idle."""
        rows = await self._read("PRAGMA quick_check")
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    async def backup(self, dest: str | os.PathLike[str]) -> Path:
        """A consistent copy of the database (VACUUM INTO; a plain file copy during a write can be corrupt)."""
        target = Path(dest)
        async with self._lock:  # no transaction may be open on the connection for VACUUM
            await asyncio.to_thread(_make_private_dirs, target.parent)
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
            try:
                await self._writer.execute("VACUUM INTO ?", (str(target),))
            except sqlite3.Error as exc:
                with contextlib.suppress(OSError):
                    target.unlink()
                raise _translate(exc, self.path) from None
        return target

    async def checkpoint(self) -> None:
        """Fold the WAL back into the main file and truncate it (call when idle; keeps the -wal small)."""
        async with self._lock:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")


_COLUMN_DEFAULTS: dict[str, Any] = {
    "prompt": "",
    "attempts": 0,
    "poll_count": 0,
    "image_count": 0,
    "video_seconds": 0.0,
    "source": "tui",
    "priority": 0,
}


def _where(conds: Sequence[str]) -> str:
    return ("WHERE " + " AND ".join(conds)) if conds else ""
