"""The job store against a real SQLite file in tmp_path: transitions, queries, ledger, lease, safety rules."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import ACTIVE, ALLOWED, REMOTE_ACTIVE, TERMINAL, JobState, can_move, describe
from qwentui.core.store import (
    ENV_DB,
    IllegalTransition,
    Increment,
    JobNotFound,
    StaleTransition,
    Store,
    StoreClosed,
    StoreConflict,
    StoreCorrupt,
    StoreError,
    StoreFull,
    body_hash,
    default_db_path,
    fts_query,
    quarantine,
)

S = JobState
KEY = "sk-" + "0123456789abcdef" * 2
T2I = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "a red fox in the snow"}


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "jobs.db", clock=clock)
    try:
        yield store
    finally:
        await store.close()


def req(prompt: str = "a red fox", mode: str = "t2i", model: str = "wan2.6-t2i") -> dict[str, Any]:
    return {"mode": mode, "model": model, "prompt": prompt}


# ---- states -----------------------------------------------------------------------------------------------


def test_state_groups_and_table() -> None:
    assert set(ALLOWED) == set(JobState)
    assert {S.DONE, S.REJECTED, S.FAILED, S.CANCELED, S.EXPIRED} == TERMINAL
    assert {S.PENDING, S.RUNNING} == REMOTE_ACTIVE
    assert set(JobState) - TERMINAL - {S.NEEDS_USER} == ACTIVE
    for t in TERMINAL:
        assert ALLOWED[t] == frozenset()
    for src, dsts in ALLOWED.items():
        assert src not in dsts
    # the money rules: a submitted request is never silently sent again, and never skips its results
    assert not can_move(S.SUBMITTING, S.SUBMITTING)
    assert not can_move(S.SUBMITTING, S.DONE)
    assert can_move(S.SUBMITTING, S.UNCERTAIN) and can_move(S.UNCERTAIN, S.NEEDS_USER)
    assert describe("needs_user") == "needs your decision"
    assert all(describe(s) for s in JobState)


# ---- opening, location, permissions -----------------------------------------------------------------------


async def test_open_creates_private_files_and_dirs(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "jobs.db"
    store = await Store.open(path)
    try:
        await store.add_job(T2I)
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        for d in (path.parent, path.parent.parent):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        w = store._writer
        assert (await (await w.execute("PRAGMA journal_mode")).fetchone())[0] == "wal"  # type: ignore[index]
        assert (await (await w.execute("PRAGMA synchronous")).fetchone())[0] == 1  # type: ignore[index]
        assert (await (await w.execute("PRAGMA foreign_keys")).fetchone())[0] == 1  # type: ignore[index]
        assert (await (await w.execute("PRAGMA busy_timeout")).fetchone())[0] == 5000  # type: ignore[index]
    finally:
        await store.close()


async def test_open_tightens_an_existing_open_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    path.touch()
    os.chmod(path, 0o644)
    async with await Store.open(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_DB, str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.delenv(ENV_DB)
    p = default_db_path()
    assert p.name == "jobs.db" and p.parent.name == "qwentui"


async def test_open_uses_env_when_no_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_DB, str(tmp_path / "env" / "jobs.db"))
    async with await Store.open() as store:
        assert store.path == tmp_path / "env" / "jobs.db"
    assert (tmp_path / "env" / "jobs.db").exists()


@pytest.mark.parametrize("content", [b"hello, this is not a database at all" * 10, b"short", b"SQLite format 3\x00"])
async def test_non_sqlite_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "jobs.db"
    path.write_bytes(content)
    with pytest.raises(StoreCorrupt) as info:
        await Store.open(path)
    msg = str(info.value)
    assert str(path) in msg and "Move it aside" in msg
    assert path.read_bytes() == content  # nothing was changed


async def test_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with await Store.open(path) as store:
        await store.add_job(T2I)
        await store.checkpoint()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # page 1 after the header: the schema table
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupt) as info:
        await Store.open(path)
    assert "Move it aside" in str(info.value)
    moved = quarantine(path)
    assert moved.exists() and not path.exists()
    async with await Store.open(path) as fresh:  # a new, empty database in its place
        assert await fresh.list_jobs() == []


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes(x)")
    with pytest.raises(StoreError, match="some other program"):
        await Store.open(path)


async def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        await Store.open(tmp_path)


# ---- adding and moving jobs -------------------------------------------------------------------------------


async def test_add_job_roundtrip(db: Store, clock: Clock) -> None:
    request = GenerationRequest(mode=Mode.T2I, prompt="a red fox", size="1280*1280", seed=7)
    job = await db.add_job(request.to_dict(), source="cli", output_dir=Path("/tmp/out"), expected_seconds=20)
    assert job.id == 1 and job.state is S.QUEUED and job.mode is Mode.T2I
    assert job.model == request.model_name and job.prompt == "a red fox"
    assert GenerationRequest.from_dict(job.request).to_dict() == request.to_dict()
    assert uuid.UUID(job.client_token)
    assert job.created_at == job.updated_at == clock.now
    assert job.output_dir == "/tmp/out" and job.source == "cli" and job.expected_seconds == 20
    assert job.wire is None and job.results is None and job.usage is None and not job.deleted
    other = await db.add_job(T2I, parent_id=job.id, priority=5)
    assert other.client_token != job.client_token and other.parent_id == job.id and other.priority == 5
    [event] = await db.events(job.id)
    assert event.from_state is None and event.to_state is S.QUEUED and event.detail == "created (cli)"
    assert await db.get_job(job.id) == job
    assert await db.get_job(999) is None
    assert await db.get_by_client_token(job.client_token) == job


async def test_add_job_needs_mode_and_model(db: Store) -> None:
    with pytest.raises(ValueError, match="mode and a model"):
        await db.add_job({"prompt": "x"})
    with pytest.raises(ValueError):
        await db.add_job({"prompt": "x"}, mode="no-such-mode", model="m")


async def test_happy_path_transitions(db: Store, clock: Clock) -> None:
    job = await db.add_job(T2I)
    wire = {"model": "wan2.6-t2i", "input": {"prompt": "a red fox"}}
    clock.now += 1
    job = await db.transition(
        job.id, S.SUBMITTING, expect=S.QUEUED, wire=wire, attempts=Increment(), submitted_at=clock.now, detail="POST"
    )
    assert job.wire == wire and job.body_hash == body_hash(wire) and job.attempts == 1
    job = await db.transition(job.id, S.PENDING, expect={S.SUBMITTING}, task_id="task-1", next_check_at=clock.now + 5)
    assert await db.get_by_task_id("task-1") == job
    job = await db.transition(job.id, S.RUNNING, poll_count=Increment(2))
    assert job.poll_count == 2 and job.next_check_at == clock.now + 5  # kept unless given
    clock.now += 10
    job = await db.transition(
        job.id, S.SUCCEEDED, results=["https://x/1.png"], usage={"image_count": 1}, results_expire_at=clock.now + 86400
    )
    assert job.results == ["https://x/1.png"] and job.image_count == 1 and job.finished_at is None
    job = await db.transition(job.id, S.DOWNLOADING)
    clock.now += 1
    job = await db.transition(job.id, S.DONE, detail="saved")
    assert job.finished_at == clock.now and job.next_check_at is None and job.terminal
    events = await db.events(job.id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, S.QUEUED),
        (S.QUEUED, S.SUBMITTING),
        (S.SUBMITTING, S.PENDING),
        (S.PENDING, S.RUNNING),
        (S.RUNNING, S.SUCCEEDED),
        (S.SUCCEEDED, S.DOWNLOADING),
        (S.DOWNLOADING, S.DONE),
    ]
    assert events[1].detail == "POST" and events[-1].detail == "saved"


async def test_every_pair_of_states(db: Store) -> None:
    """A transition succeeds exactly when states.ALLOWED lists it."""
    pairs = [(src, dst) for src in JobState for dst in JobState]
    await db.bulk_insert_jobs({"request": T2I, "state": src} for src, _ in pairs)
    for job_id, (src, dst) in enumerate(pairs, start=1):
        if dst in ALLOWED[src]:
            job = await db.transition(job_id, dst)
            assert job.state is dst
        else:
            with pytest.raises(IllegalTransition):
                await db.transition(job_id, dst)
            assert (await db.get_job(job_id)).state is src  # type: ignore[union-attr]


async def test_stale_transition(db: Store) -> None:
    job = await db.add_job(T2I)
    await db.transition(job.id, S.CANCELED)
    with pytest.raises(StaleTransition) as info:
        await db.transition(job.id, S.SUBMITTING, expect=S.QUEUED)
    assert info.value.current is S.CANCELED and info.value.to_state is S.SUBMITTING
    assert not isinstance(info.value, IllegalTransition)
    with pytest.raises(JobNotFound):
        await db.transition(12345, S.CANCELED)
    assert len(await db.events(job.id)) == 2  # the refused moves left no trace


async def test_racing_transitions_one_wins(db: Store) -> None:
    job = await db.add_job(T2I)
    results = await asyncio.gather(
        *(db.transition(job.id, S.SUBMITTING, expect=S.QUEUED) for _ in range(20)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, StaleTransition) for r in results if isinstance(r, BaseException))


async def test_fifty_concurrent_writers(db: Store) -> None:
    """No 'cannot start a transaction within a transaction': every write is its own transaction."""
    jobs = [await db.add_job(req(f"job {i}")) for i in range(50)]
    await asyncio.gather(
        *(db.transition(j.id, S.SUBMITTING, attempts=Increment()) for j in jobs),
        *(db.note(j.id, "hello") for j in jobs),
        *(db.update_fields(j.id, poll_count=Increment()) for j in jobs),
    )
    for j in jobs:
        got = await db.get_job(j.id)
        assert got is not None and got.state is S.SUBMITTING and got.attempts == 1 and got.poll_count == 1
    assert (await db.count_by_state())[S.SUBMITTING] == 50


async def test_field_rules(db: Store) -> None:
    job = await db.add_job(T2I)
    with pytest.raises(TypeError, match="unknown job field"):
        await db.update_fields(job.id, colour="red")
    with pytest.raises(TypeError, match="transition"):
        await db.update_fields(job.id, state="done")
    with pytest.raises(TypeError, match="not both"):
        await db.update_fields(job.id, wire={"a": 1}, wire_json='{"a": 1}')
    with pytest.raises(ValueError):
        await db.update_fields(job.id, results_json="not json")
    with pytest.raises(ValueError):
        await db.update_fields(job.id, next_check_at=float("nan"), usage={"x": float("nan")})
    # JSON text by column name works as well as values by field name
    job = await db.update_fields(job.id, wire_json='{"model": "m"}', usage_json='{"video_duration": 5}')
    assert job.wire == {"model": "m"} and job.body_hash == body_hash({"model": "m"}) and job.video_seconds == 5
    job = await db.update_fields(job.id, body_hash="given", wire={"model": "n"})
    assert job.body_hash == "given"
    with pytest.raises(JobNotFound):
        await db.update_fields(777, poll_count=1)


async def test_task_id_is_unique(db: Store) -> None:
    a = await db.add_job(T2I)
    b = await db.add_job(T2I)
    await db.update_fields(a.id, task_id="t-1")
    with pytest.raises(StoreConflict, match="task id"):
        await db.update_fields(b.id, task_id="t-1")
    assert (await db.get_job(b.id)).task_id is None  # type: ignore[union-attr]


@pytest.mark.parametrize("where", ["request", "wire", "wire_json", "prompt"])
async def test_api_keys_are_never_stored(db: Store, where: str) -> None:
    job = await db.add_job(T2I)
    value: Any = {"header": f"Bearer {KEY}"}
    if where == "wire_json":
        value = f'{{"k": "{KEY}"}}'
    elif where == "prompt":
        value = f"use {KEY} please"
    with pytest.raises(ValueError) as info:
        await db.update_fields(job.id, **{where: value})
    assert KEY not in str(info.value) and "API key" in str(info.value)
    with pytest.raises(ValueError):
        await db.add_job({**T2I, "negative_prompt": KEY})
    # look-alikes are fine: a task id, a short sk- word
    await db.update_fields(job.id, wire={"id": "task-0123456789abcdefghijklmnop", "x": "sk-short"})


# ---- reading ----------------------------------------------------------------------------------------------


async def test_list_jobs_newest_first_with_paging_and_filters(db: Store) -> None:
    rows = []
    for i in range(30):
        mode, model = ("t2v", "wan2.6-t2v") if i % 3 == 0 else ("t2i", "wan2.6-t2i")
        rows.append({"request": req(f"prompt number {i}", mode, model), "state": [S.QUEUED, S.DONE, S.FAILED][i % 3]})
    await db.bulk_insert_jobs(rows)
    page1 = await db.list_jobs(limit=10)
    assert [j.id for j in page1] == list(range(30, 20, -1))
    page2 = await db.list_jobs(limit=10, before_id=page1[-1].id)
    assert [j.id for j in page2] == list(range(20, 10, -1))
    done_failed = await db.list_jobs(states={S.DONE, S.FAILED}, limit=100)
    assert [j.id for j in done_failed] == [i for i in range(30, 0, -1) if (i - 1) % 3 != 0]
    assert [j.id for j in await db.list_jobs(states=[S.DONE, S.FAILED], limit=3, before_id=20)] == [18, 17, 15]
    videos = await db.list_jobs(modes=Mode.T2V)
    assert {j.mode for j in videos} == {Mode.T2V} and len(videos) == 10
    assert await db.list_jobs(models="wan2.6-t2v", states=S.QUEUED) == videos
    assert await db.list_jobs(modes=["t2i"], models=["wan2.6-t2v"]) == []
    assert await db.list_jobs(states=[]) == []
    assert [j.id for j in await db.list_jobs(text="number 7")] == [8]  # "prompt number 7" is job 8
    assert [j.id for j in await db.list_jobs(text="numb", states=S.QUEUED, limit=2)] == [28, 25]  # prefix
    assert [j.id for j in await db.list_jobs(text="prompt", before_id=10, limit=3)] == [9, 8, 7]


async def test_text_search_accepts_any_input(db: Store) -> None:
    await db.add_job(req('a "quoted" cat: AND OR NOT (x) * ^ -minus'))
    await db.add_job(req("Crème brûlée on a plate"))
    await db.add_job(req("一只猫在草地上奔跑"))
    nasty = [
        '"',
        '""',
        "*",
        "AND",
        "OR NOT",
        "(",
        ")",
        "NEAR(a b)",
        "col:x",
        "-",
        "^",
        "'",
        "\\",
        "a*b",
        "\x00",
        "  ",
        "",
        '"unterminated',
        "cat AND",
        "🙂",
        "x" * 1000,
        "NEAR",
        "{prompt}: x",
    ]
    for text in nasty:
        await db.list_jobs(text=text)  # never raises
    assert len(await db.list_jobs(text='"quoted" cat:')) == 1
    assert len(await db.list_jobs(text="AND")) == 1  # a plain word, not an operator
    assert len(await db.list_jobs(text="creme brulee")) == 1  # diacritics folded
    assert len(await db.list_jobs(text="草地")) == 1  # a word inside a run of CJK characters
    assert len(await db.list_jobs(text="猫在草")) == 1
    assert await db.list_jobs(text="地草") == []  # the characters must be adjacent, in order
    assert await db.list_jobs(text="草地 cat") == []
    assert await db.list_jobs(text="!!! ???") == []
    assert fts_query("草地") == '"草 地"*'
    assert fts_query("  ") is None and fts_query('say "hi"') == '"say" """hi"""*'


async def test_cjk_search_follows_prompt_changes(db: Store) -> None:
    a = await db.add_job(req("一只猫 sleeping on a 红色 sofa"))
    b = await db.add_job(req("a dog"))
    assert [j.id for j in await db.list_jobs(text="红色 sofa")] == [a.id]
    assert [j.id for j in await db.list_jobs(text="sleeping 猫")] == [a.id]
    await db.update_fields(a.id, prompt="a cat")
    await db.update_fields(b.id, prompt="一只狗")
    assert await db.list_jobs(text="猫") == []
    assert [j.id for j in await db.list_jobs(text="狗")] == [b.id]
    assert [j.id for j in await db.list_jobs(text="cat")] == [a.id]
    await db.bulk_insert_jobs([{"request": req("蓝色的海")}])
    assert [j.prompt for j in await db.list_jobs(text="海")] == ["蓝色的海"]
    for fts in ("jobs_fts", "jobs_fts_cjk"):  # both indexes still agree with the rows
        await db._writer.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")


async def test_deleted_jobs_are_hidden_but_kept(db: Store) -> None:
    a = await db.add_job(req("keep me"))
    b = await db.add_job(req("hide me"))
    await db.delete_job(b.id)
    assert [j.id for j in await db.list_jobs()] == [a.id]
    assert await db.list_jobs(text="hide") == []
    assert [j.id for j in await db.list_jobs(include_deleted=True)] == [b.id, a.id]
    assert (await db.count_by_state())[S.QUEUED] == 1
    assert (await db.get_job(b.id)).deleted  # type: ignore[union-attr]
    assert [j.id for j in await db.jobs_in_states(S.QUEUED)] == [a.id, b.id]  # the engine still sees it
    assert (await db.events(b.id))[-1].detail == "hidden from the list"
    await db.restore_job(b.id)
    assert (await db.count_by_state())[S.QUEUED] == 2


async def test_count_by_state_follows_every_change(db: Store) -> None:
    jobs = [await db.add_job(T2I) for _ in range(4)]
    await db.bulk_insert_jobs([{"request": T2I, "state": S.DONE}] * 3)
    await db.transition(jobs[0].id, S.CANCELED)
    await db.transition(jobs[1].id, S.SUBMITTING)
    await db.delete_job(jobs[2].id)
    counts = await db.count_by_state()
    assert set(counts) == set(JobState)
    assert {s: n for s, n in counts.items() if n} == {S.QUEUED: 1, S.SUBMITTING: 1, S.CANCELED: 1, S.DONE: 3}


async def test_changed_since_is_exact_even_when_the_clock_steps_back(db: Store, clock: Clock) -> None:
    a = await db.add_job(T2I)
    seen = a.updated_at
    clock.now -= 3600  # NTP step back
    b = await db.add_job(T2I)
    a2 = await db.transition(a.id, S.SUBMITTING)
    changed = await db.changed_since(seen)
    assert [j.id for j in changed] == [b.id, a.id]
    assert seen < b.updated_at < a2.updated_at
    assert await db.changed_since(a2.updated_at) == []
    await db.set_next_checks([(a.id, 123.0)])  # scheduler bookkeeping is not a visible change
    assert await db.changed_since(a2.updated_at) == []
    await db.delete_job(b.id)
    assert [(j.id, j.deleted) for j in await db.changed_since(a2.updated_at)] == [(b.id, True)]
    assert [j.id for j in await db.list_jobs(since_updated=seen, include_deleted=True)] == [b.id, a.id]


async def test_due_jobs(db: Store, clock: Clock) -> None:
    now = clock.now
    ids = [(await db.add_job(T2I)).id for _ in range(5)]
    for i in ids:
        await db.transition(i, S.SUBMITTING)
    await db.transition(ids[0], S.PENDING, next_check_at=now + 10)  # not due
    await db.transition(ids[1], S.PENDING, next_check_at=now - 5)
    await db.transition(ids[2], S.RUNNING, next_check_at=now - 20)
    await db.transition(ids[3], S.RUNNING)  # never scheduled: due now
    await db.transition(ids[4], S.UNCERTAIN, next_check_at=now - 30)
    due = await db.due_jobs(now, REMOTE_ACTIVE, limit=10)
    assert [j.id for j in due] == [ids[3], ids[2], ids[1]]
    assert [j.id for j in await db.due_jobs(now, REMOTE_ACTIVE, limit=2)] == [ids[3], ids[2]]
    await db.set_next_checks([(ids[3], now + 100), (ids[2], now - 1)])
    assert [j.id for j in await db.due_jobs(now, [S.PENDING, S.RUNNING, S.UNCERTAIN], 10)] == [ids[4], ids[1], ids[2]]
    await db.transition(ids[1], S.FAILED, error_code="X", error_message="boom")
    failed = await db.get_job(ids[1])
    assert failed is not None and failed.next_check_at is None
    assert failed.finished_at == pytest.approx(now, abs=1e-3)  # stamps step 1 µs past the last write


async def test_jobs_in_states_priority_then_oldest(db: Store) -> None:
    a = await db.add_job(T2I)
    b = await db.add_job(T2I, priority=1)
    c = await db.add_job(T2I)
    await db.add_job(T2I, state=S.NEEDS_USER)
    assert [j.id for j in await db.jobs_in_states({S.QUEUED})] == [b.id, a.id, c.id]
    assert [j.id for j in await db.jobs_in_states(S.QUEUED, limit=1)] == [b.id]
    assert await db.jobs_in_states([]) == []


async def test_usage_totals(db: Store, clock: Clock) -> None:
    day1 = time.mktime((2025, 3, 1, 12, 0, 0, 0, 0, -1))
    day2 = time.mktime((2025, 3, 2, 12, 0, 0, 0, 0, -1))
    rows = [
        {"request": T2I, "state": S.DONE, "usage": {"image_count": 2}, "finished_at": day1},
        {"request": T2I, "state": S.DONE, "usage": {"image_count": 1, "size": "1280*1280"}, "finished_at": day2},
        {
            "request": req("v", "t2v", "wan2.6-t2v"),
            "state": S.DONE,
            "usage": {"video_duration": 5, "video_count": 1},
            "finished_at": day2,
        },
        {"request": T2I, "state": S.FAILED, "finished_at": day2},  # nothing billed
    ]
    await db.bulk_insert_jobs(rows)
    await db.delete_job(2)  # hidden, still billed
    by_model = {u.key: u for u in await db.usage_totals()}
    assert set(by_model) == {"wan2.6-t2i", "wan2.6-t2v"}
    assert (by_model["wan2.6-t2i"].jobs, by_model["wan2.6-t2i"].image_count) == (2, 3)
    assert by_model["wan2.6-t2v"].video_seconds == 5
    by_day = await db.usage_totals(by="day")
    assert [(u.key, u.image_count, u.video_seconds) for u in by_day] == [("2025-03-01", 2, 0), ("2025-03-02", 1, 5)]
    assert [u.key for u in await db.usage_totals(by="day", since=day2 - 3600)] == ["2025-03-02"]


# ---- events, assets ---------------------------------------------------------------------------------------


async def test_events_are_append_only(db: Store) -> None:
    job = await db.add_job(T2I)
    note = await db.note(job.id, "upload 1/2 done")
    assert note.from_state is note.to_state is S.QUEUED
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await db._writer.execute("UPDATE job_events SET detail = 'x'")
    with pytest.raises(JobNotFound):
        await db.note(4242, "x")


async def test_assets_upsert(db: Store, tmp_path: Path) -> None:
    job = await db.add_job(T2I)
    a = await db.add_asset(
        job.id, 1, "image", url="https://x/a.png", path=tmp_path / "1_1.png", size=10, sha256="aa", width=64, height=32
    )
    assert a.path == str(tmp_path / "1_1.png") and a.kind == "image"
    await db.add_asset(job.id, 0, "text", text="a caption")
    again = await db.add_asset(
        job.id, 1, "image", url="https://x/a.png", path=tmp_path / "1_1.png", size=11, sha256="bb"
    )
    assets = await db.assets(job.id)
    assert [(x.idx, x.kind) for x in assets] == [(0, "text"), (1, "image")]
    assert assets[1] == again and again.size == 11 and again.width is None
    with pytest.raises(ValueError):
        await db.add_asset(job.id, 2, "pdf")  # type: ignore[arg-type]
    with pytest.raises(StoreConflict):
        await db.add_asset(999, 0, "image")  # foreign keys are on


# ---- drop ledger, lease, settings -------------------------------------------------------------------------


async def test_ledger(db: Store) -> None:
    sha = "ab" * 32
    assert await db.ledger_get(sha) is None
    assert await db.ledger_claim(sha, "animate", "cat.png") is True
    assert await db.ledger_claim(sha, "edit", "copy of cat.png") is False  # the same bytes again
    entry = await db.ledger_get(sha)
    assert entry is not None and entry.rule == "animate" and entry.outcome is None
    assert [e.sha256 for e in await db.ledger_open()] == [sha]
    job = await db.add_job(T2I, source="drop:animate")
    entry = await db.ledger_set(sha, job_id=job.id, outcome="done", outcome_path=Path("/d/done/cat.png"))
    assert entry.job_id == job.id and entry.outcome_path == "/d/done/cat.png"
    assert await db.ledger_open() == []
    with pytest.raises(TypeError):
        await db.ledger_set(sha, colour="x")
    with pytest.raises(StoreError):
        await db.ledger_set("ff" * 32, outcome="done")
    assert await db.ledger_forget(sha) is True and await db.ledger_forget(sha) is False


async def test_lease(db: Store) -> None:
    assert await db.lease() is None
    assert await db.acquire_lease("a", 100, now=1000, ttl=15)
    assert await db.acquire_lease("a", 100, now=1001, ttl=15)  # re-entrant
    assert not await db.acquire_lease("b", 200, now=1010, ttl=15)
    assert await db.renew_lease("a", now=1010)  # keeps its ttl of 15
    lease = await db.lease()
    assert lease is not None and (lease.owner, lease.acquired_at, lease.expires_at) == ("a", 1000, 1025)
    assert not await db.acquire_lease("b", 200, now=1024, ttl=15)
    assert await db.acquire_lease("b", 200, now=1026, ttl=30)  # expired: taken over
    assert not await db.renew_lease("a", now=1027, ttl=15)  # a learns it lost the lease
    assert not await db.release_lease("a")
    assert await db.release_lease("b")
    assert await db.lease() is None


async def test_settings(db: Store) -> None:
    assert await db.get_setting("theme", "dark") == "dark"
    await db.set_setting("theme", {"name": "light", "size": 3})
    await db.set_setting("theme", {"name": "light", "size": 4})
    assert await db.get_setting("theme") == {"name": "light", "size": 4}
    with pytest.raises(ValueError):
        await db.set_setting("key", KEY)


async def test_maintenance(db: Store, tmp_path: Path) -> None:
    await db.add_job(T2I)
    assert await db.check() == []
    copy = await db.backup(tmp_path / "backups" / "copy.db")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    async with await Store.open(copy) as other:
        assert [j.prompt for j in await other.list_jobs()] == [T2I["prompt"]]
    await db.checkpoint()


async def test_closed_store_says_so(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "jobs.db")
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreClosed):
        await store.get_job(1)
    with pytest.raises(StoreClosed):
        await store.add_job(T2I)


# ---- failures ---------------------------------------------------------------------------------------------


async def test_disk_full_rolls_back_and_recovers(db: Store) -> None:
    job = await db.add_job(T2I)
    pages = (await (await db._writer.execute("PRAGMA page_count")).fetchone())[0]  # type: ignore[index]
    await db._writer.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreFull, match="full"):
        await db.bulk_insert_jobs([{"request": req("x" * 5000)}] * 50)
    with pytest.raises(StoreFull):
        await db.transition(job.id, S.SUBMITTING, wire={"blob": "y" * 200_000})
    assert not db._writer.in_transaction
    assert (await db.get_job(job.id)).state is S.QUEUED  # type: ignore[union-attr]
    assert len(await db.events(job.id)) == 1
    await db._writer.execute("PRAGMA max_page_count = 1073741823")
    assert (await db.transition(job.id, S.SUBMITTING, wire={"blob": "y" * 200_000})).state is S.SUBMITTING


async def test_busy_database_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qwentui.core.store as store_mod

    path = tmp_path / "jobs.db"
    store = await Store.open(path)
    try:
        await store._writer.execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(store_mod.StoreBusy, match="busy"):
                await store.add_job(T2I)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (await store.add_job(T2I)).id == 1
    finally:
        await store.close()


# ---- scale ------------------------------------------------------------------------------------------------


def _plan(conn: sqlite3.Connection, sql: str) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]


@pytest.mark.slow
async def test_listing_uses_indexes_at_scale(tmp_path: Path) -> None:
    """60k jobs: every list_jobs query walks an index in id order and never sorts the table. (Enough rows for
    the planner's statistics to matter and for 60 failed jobs; the TUI on a million is bench/tui.py.)"""
    path = tmp_path / "big.db"
    n = 60_000
    captured: list[str] = []
    models = ["wan2.6-t2i", "qwen-image-plus", "wan2.6-t2v", "wan2.6-i2v"]
    words = ["fox", "cat", "harbour", "neon", "forest", "robot", "sunset", "castle", "river", "storm"]

    def row(i: int) -> dict[str, Any]:
        model = models[i % 4]
        state = S.FAILED if i % 1000 == 7 else (S.RUNNING if i % 5000 == 3 else S.DONE)
        prompt = f"{words[i % 10]} {words[(i // 10) % 10]} {words[(i // 100) % 10]} number{i}"
        if i % 100 == 42:
            prompt += " 一只猫在草地上"
        return {
            "request": {"mode": "t2v" if "t2v" in model else "t2i", "model": model, "prompt": prompt},
            "state": state,
            "created_at": 1_700_000_000 + i,
        }

    async with await Store.open(path) as store:
        for start in range(0, n, 30_000):
            await store.bulk_insert_jobs(row(i) for i in range(start, start + 30_000))
        assert (await store.count_by_state())[S.DONE] == n - n // 1000 - n // 5000
        await store._reader.set_trace_callback(captured.append)
        newest = await store.list_jobs(limit=50)
        failed = await store.list_jobs(states=S.FAILED, limit=50)
        mixed = await store.list_jobs(states={S.FAILED, S.RUNNING}, limit=50, before_id=45_000)
        by_model = await store.list_jobs(models="wan2.6-t2v", limit=50)
        text = await store.list_jobs(text="harbour storm", limit=50)
        text_state = await store.list_jobs(text="number1007", states=S.FAILED)
        due = await store.due_jobs(2e9, REMOTE_ACTIVE, 10)
        cjk = await store.list_jobs(text="草地", limit=50)
        await store._reader.set_trace_callback(None)  # type: ignore[arg-type]
    assert [j.id for j in newest] == list(range(n, n - 50, -1))
    assert len(failed) == 50 and all(j.state is S.FAILED for j in failed) and failed[0].id == n - 1000 + 8
    assert [j.id for j in mixed] == sorted((j.id for j in mixed), reverse=True) and mixed[0].id < 45_000
    assert {j.state for j in mixed} == {S.FAILED, S.RUNNING}
    assert len(by_model) == 50 and {j.model for j in by_model} == {"wan2.6-t2v"}
    assert len(text) == 50 and all("harbour" in j.prompt and "storm" in j.prompt for j in text)
    assert [j.id for j in text] == sorted((j.id for j in text), reverse=True)
    assert [j.id for j in text_state] == [1008]
    assert len(due) == 10
    assert len(cjk) == 50 and cjk[0].id == n - 100 + 43

    selects = [s for s in captured if s.lstrip().upper().startswith("SELECT")]
    assert selects
    conn = sqlite3.connect(path)
    try:
        for sql in selects:
            plan = " | ".join(_plan(conn, sql))
            assert "TEMP B-TREE" not in plan, (sql, plan)
            if "MATCH" in sql:
                assert "VIRTUAL TABLE" in plan and "SEARCH j USING INTEGER PRIMARY KEY" in plan, (sql, plan)
            elif "INDEXED BY" in sql:
                assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (sql, plan)
            elif "FROM jobs AS j" in sql and "j.id < " not in sql and "WHERE j.deleted = 0 ORDER" in sql:
                assert plan.startswith("SCAN j"), (sql, plan)  # the rowid itself, newest first
    finally:
        conn.close()


async def test_a_job_made_with_its_results_is_written_with_them_or_not_at_all(store: Store, tmp_path: Path) -> None:
    """A local job is made DONE at once (an assembled film): it is never seen done without its file, and a result
    that cannot be recorded leaves no job behind (a loaded run once saw the film's job done without its asset)."""
    film = tmp_path / "film.mp4"
    request = {"mode": "assemble", "model": "local", "prompt": "a film"}
    job = await store.add_job(
        request, state=JobState.DONE, assets=[{"idx": 1, "kind": "video", "path": film, "duration": 4.0}]
    )
    [asset] = await store.assets(job.id)
    assert (asset.kind, asset.path, asset.duration) == ("video", str(film), 4.0)
    with pytest.raises(ValueError, match="asset kind"):
        await store.add_job(request, state=JobState.DONE, assets=[{"idx": 1, "kind": "film", "path": film}])
    assert [j.id for j in await store.list_jobs()] == [job.id]
