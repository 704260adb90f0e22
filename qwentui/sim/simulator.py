"""The simulator's state and its introspection for tests (`app.state.sim`).

Everything a request changes lives here: tasks, uploads, result files, and the records tests read
(submissions, request counters, 429s sent, sha256 of served files). The HTTP layer is `app.py`
(`create_app(sim=...)`); this module knows nothing of it.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qwentui.core.catalog import SEED_MAX
from qwentui.sim.config import SimConfig
from qwentui.sim.faults import Faults
from qwentui.sim.files import ResultFiles
from qwentui.sim.task_file import TaskFile
from qwentui.sim.tasks import Status, Task, TaskStore
from qwentui.sim.uploads import Uploads
from qwentui.sim.validate import Job

MAX_SUBMISSIONS = 100_000  # the record of submissions keeps the newest ones (a demo can run for days)


@dataclass
class Submission:
    """One generation POST as received (the Authorization header is left out)."""

    at: float
    route: str
    body: Any
    headers: dict[str, str]
    request_id: str
    status: int = 0  # HTTP status answered; 0 = the connection was dropped
    task_id: str | None = None  # set when a task was created (also for lost answers)
    outcome: str = "rejected"  # accepted | sync | rejected | dropped_after | error_after

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def created_task(self) -> bool:
        return self.task_id is not None


class Simulator:
    def __init__(self, config: SimConfig | None = None) -> None:
        self._config = config or SimConfig()
        self.rng = random.Random(self._config.seed)
        self.started_at = self._config.clock()
        self.store = TaskFile(self._config.state_file) if self._config.state_file else TaskStore()
        # ids from a seeded generator repeat in the next process: a service kept in a file needs fresh ones
        self._ids = random.Random() if self._config.state_file else self.rng
        self.store.prune(self.started_at, self._config.task_ttl, self._config.result_url_ttl)  # a file's old tasks
        self.faults = Faults(self._config, self.rng, self.started_at)
        self.files = ResultFiles(self._config, self.store, self.faults)
        self.uploads = Uploads(self._config)
        self.submissions: deque[Submission] = deque(maxlen=MAX_SUBMISSIONS)
        self.requests: Counter[str] = Counter()  # "GET /api/v1/tasks/{id}": ids folded into {id}
        self.statuses: Counter[int] = Counter()  # HTTP statuses answered
        self.throttled = 0  # 429 answers sent
        self.dropped = 0  # connections cut on purpose (drops and truncated downloads)
        self.trailing_slashes = 0  # requests whose path ended in "/" (answered as without it)

    # ---- config and time ----------------------------------------------------------------------------------

    @property
    def config(self) -> SimConfig:
        return self._config

    @config.setter
    def config(self, value: SimConfig) -> None:
        """Swap the whole config at run time (parts keep a reference, so update them all)."""
        self._config = value
        self.faults.config = self.files.config = self.uploads.config = value

    def now(self) -> float:
        return self._config.clock()

    def advance(self, seconds: float) -> float:
        """Move a `FakeClock` forward (TypeError with the real clock)."""
        advance = getattr(self._config.clock, "advance", None)
        if advance is None:
            raise TypeError("advance() needs SimConfig(clock=FakeClock())")
        result: float = advance(seconds)
        return result

    # ---- ids and tasks ------------------------------------------------------------------------------------

    def new_id(self) -> str:
        """A UUID4 from the seeded generator (repeatable runs get the same ids), or from the OS's entropy when
        the tasks are kept in a file (unique across the processes sharing it and across restarts)."""
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def durations(self, job: Job) -> tuple[float, float]:
        """(PENDING, RUNNING) seconds for a new task: the row's typical time, scaled, unless fixed."""
        cfg = self._config
        lo, hi = job.row.typical_seconds
        total = self.rng.uniform(lo, hi) * cfg.time_scale
        pending = cfg.pending_seconds if cfg.pending_seconds is not None else total * 0.2
        running = cfg.running_seconds if cfg.running_seconds is not None else total * 0.8
        return max(0.0, pending), max(0.0, running)

    def create_task(self, job: Job, body: dict[str, Any], key_id: str, request_id: str, listed: bool = True) -> Task:
        pending, running = self.durations(job) if listed else (0.0, 0.0)
        failure = self.faults.task_failure() if listed else None
        seed = job.seed if job.seed is not None else self.rng.randrange(SEED_MAX)
        count = 1 if job.is_video else job.n
        failed = frozenset(i for i in range(1, count) if self.faults.roll(self._config.partial_failure_rate))
        task = Task(
            self.new_id(),
            request_id,
            job,
            self.now(),
            pending,
            running,
            seed,
            key_id,
            failure,
            failed,
            listed=listed,
            body=body,
        )
        if len(self.store) % 500 == 0:  # now and then, forget tasks nobody can ask about any more
            dead = self.store.prune(self.now(), self._config.task_ttl, self._config.result_url_ttl)
            self.files.forget(dead)
        return self.store.add(task)

    # ---- introspection ------------------------------------------------------------------------------------

    def task(self, task_id: str) -> Task | None:
        return self.store.get(task_id)

    def tasks(self) -> list[Task]:
        """Every queryable task, oldest first."""
        return sorted((t for t in self.store.all() if t.listed), key=lambda t: t.seq)

    def status(self, task_id: str) -> Status:
        task = self.store.get(task_id)
        return task.status(self.now(), self._config.task_ttl) if task else Status.UNKNOWN

    def find_tasks(
        self, prompt: str | None = None, model: str | None = None, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[Task]:
        """Tasks (sync calls included) by prompt, model, or any test on the submitted body."""
        found = []
        for task in sorted(self.store.all(), key=lambda t: t.seq):
            if prompt is not None and task.job.prompt != prompt:
                continue
            if model is not None and task.model != model:
                continue
            if where is not None and not where(task.body):
                continue
            found.append(task)
        return found

    def duplicates(self) -> dict[str, int]:
        """Prompts that created more than one task (a client that never double-submits leaves this empty)."""
        counts = Counter(t.job.prompt for t in self.store.all())
        return {p: c for p, c in counts.items() if c > 1}

    def file_sha256(self, url_or_path: str) -> str | None:
        """The sha256 of the file at a result URL (rendered if it was never downloaded), or None."""
        path = url_or_path.split("?", 1)[0]
        if "://" in path:
            path = "/" + path.split("://", 1)[1].split("/", 1)[1]
        known = self.files.sha256.get(path)
        if known is not None:
            return known
        ref = self.files.lookup(path, self.now())
        if ref is None:
            return None
        self.files.data(ref)
        return self.files.sha256.get(path)

    def reset_counters(self) -> None:
        self.requests.clear()
        self.statuses.clear()
        self.throttled = 0
        self.dropped = 0
        self.trailing_slashes = 0
