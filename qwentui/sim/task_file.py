"""Tasks kept in a SQLite file as well as in memory, so the simulated service outlives its process.

The demo runs the simulator inside qwentui itself; without this, quitting (or a crash) mid-flight would leave
the jobs with task ids the next start has never heard of. Every change is written as it happens (a task
created, a task canceled), so a process killed at any moment loses nothing the service had answered.
Processes sharing the file share the service: a task created by one is found by the next, and ids stay
unique because they are drawn from the OS's entropy (see `Simulator.new_id`).

A task is stored as the request that created it plus what the simulator decided at that moment (timings,
seed, failure); its `Job` is rebuilt from the request by the same validation that accepted it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from qwentui.core.catalog import Route
from qwentui.sim.errors import ApiError
from qwentui.sim.faults import Failure
from qwentui.sim.tasks import Task, TaskStore
from qwentui.sim.validate import validate

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order across every process sharing the file
    task_id TEXT NOT NULL UNIQUE,
    ends_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class TaskFile(TaskStore):
    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # the simulator may serve from a server thread
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; only a power cut loses the last
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (self.secret.hex(),))
        (secret,) = self._db.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()
        self.secret = bytes.fromhex(secret)  # the first process's: result URLs signed before a restart still work
        self._read_up_to = 0  # the highest seq read from the file

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- writes, as they happen ---------------------------------------------------------------------------

    def add(self, task: Task) -> Task:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO tasks (task_id, ends_at, data) VALUES (?, ?, ?)",
                (task.task_id, task.ends_at, json.dumps(_to_json(task))),
            )
            assert cur.lastrowid is not None
            task.seq = cur.lastrowid
            self._tasks[task.task_id] = task
        return task

    def cancel(self, task: Task, at: float) -> None:
        task.canceled_at = at
        with self._lock:
            self._db.execute("UPDATE tasks SET data = ? WHERE task_id = ?", (json.dumps(_to_json(task)), task.task_id))

    def prune(self, now: float, task_ttl: float, url_ttl: float) -> list[str]:
        dead = super().prune(now, task_ttl, url_ttl)
        keep_for = max(task_ttl, url_ttl)
        with self._lock:
            self._db.execute("DELETE FROM tasks WHERE ends_at < ?", (now - keep_for,))
        return dead

    # ---- reads: memory first, then the file (tasks of an earlier run or of another process) --------------

    def get(self, task_id: str) -> Task | None:
        task = self._tasks.get(task_id)
        if task is not None:
            return task
        with self._lock:
            row = self._db.execute("SELECT seq, data FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            return self._remember(row[0], row[1])

    def all(self) -> list[Task]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, data FROM tasks WHERE seq > ? ORDER BY seq", (self._read_up_to,)
            ).fetchall()
            for seq, data in rows:
                if json.loads(data)["task_id"] not in self._tasks:
                    self._remember(seq, data)
                self._read_up_to = max(self._read_up_to, seq)
        return sorted(self._tasks.values(), key=lambda t: t.seq)

    def __len__(self) -> int:
        return len(self._tasks)

    def _remember(self, seq: int, data: str) -> Task | None:
        task = _from_json(json.loads(data))
        if task is None:
            return None
        task.seq = seq
        self._tasks[task.task_id] = task
        return task


def _to_json(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "request_id": task.request_id,
        "route": task.job.route.value,
        "body": task.body,
        "submitted": task.submitted,
        "pending_s": task.pending_s,
        "running_s": task.running_s,
        "seed": task.seed,
        "key_id": task.key_id,
        "failure": [task.failure.code, task.failure.message] if task.failure else None,
        "failed_items": sorted(task.failed_items),
        "canceled_at": task.canceled_at,
        "listed": task.listed,
    }


def _from_json(data: dict[str, Any]) -> Task | None:
    """The task, or None when its request no longer validates (a file from another qwentui version)."""
    try:
        job = validate(Route(data["route"]), data["body"], True, lambda url, model: None)
    except (ApiError, ValueError, KeyError) as exc:
        log.warning("simulated task %s not restored: %s", data.get("task_id"), exc)
        return None
    failure = data["failure"]
    return Task(
        data["task_id"],
        data["request_id"],
        job,
        data["submitted"],
        data["pending_s"],
        data["running_s"],
        data["seed"],
        data["key_id"],
        Failure(failure[0], failure[1]) if failure else None,
        frozenset(data["failed_items"]),
        canceled_at=data["canceled_at"],
        listed=data["listed"],
        body=data["body"],
    )
