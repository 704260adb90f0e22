"""Resource faults: a full disk (outputs and database), a read-only output folder, a corrupted database, a key
revoked mid-run, an account out of quota, a wall clock that jumps. The app keeps running, says clearly what is
wrong (once, not per job), loses and duplicates nothing, and recovers by itself (or on `resume()` for the key)
once the cause is gone.

Full and read-only filesystems are real (a small tmpfs) when the machine lets the tests mount one (root on
Linux); elsewhere the same errno is raised from the write in `download.py` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from qwentui.cli import main as cli_main
from qwentui.core import download as download_mod
from qwentui.core import provenance
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Store, StoreCorrupt, StoreError, StoreFull
from tests.faults.helpers import fill, remount, tmpfs
from tests.helpers import SimHarness, engine_rounds, fast_sim_config, poll_until, running_engine

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: a fault suite

T2I = GenerationRequest(mode=Mode.T2I, prompt="a red fox in snow")


async def until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    await poll_until(condition, timeout=timeout, what=what, interval=0.02)


async def job_state(store: Store, job_id: int) -> JobState:
    job = await store.get_job(job_id)
    assert job is not None
    return job.state


async def consistent(store: Store, job_ids: list[int]) -> None:
    """Nothing half-written: every job's state is the target of its last event."""
    for job_id in job_ids:
        job = await store.get_job(job_id)
        events = await store.events(job_id)
        assert job is not None and events
        assert events[-1].to_state is job.state, (job_id, job.state, events[-1])


def sha(path: str | None) -> str:
    assert path
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- a full disk while downloading ------------------------------------------------------------------------


FILESYSTEMS = pytest.mark.parametrize("fs", ["tmpfs", "simulated"])


def need(fs: str, real: bool) -> None:
    if fs == "tmpfs" and not real:
        pytest.skip("this machine does not let the tests mount a tmpfs (the simulated variant covers it)")


@FILESYSTEMS
async def test_disk_full_while_downloading_retries_and_completes_once_space_is_back(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, fs: str
) -> None:
    out = tmp_path / "out"
    harness = SimHarness(fast_sim_config())
    with tmpfs(out, size="2m", wanted=fs == "tmpfs") as real:
        need(fs, real)
        filler: Path | None = None
        if real:
            filler = fill(out)
        else:
            real_write = download_mod._write_all
            full = [True]

            def write_all(fd: int, data: bytes | bytearray) -> None:
                if full[0]:
                    raise OSError(errno.ENOSPC, "No space left on device")
                real_write(fd, data)

            monkeypatch.setattr(download_mod, "_write_all", write_all)
        async with running_engine(tmp_path, store, harness, output_dir=out) as eng:
            job = await eng.add(T2I)

            async def retried() -> bool:
                return any("download will retry" in (e.detail or "") for e in await store.events(job.id))

            await until(retried, what="a failed download attempt")
            now = await store.get_job(job.id)
            assert now is not None and now.state in (JobState.SUCCEEDED, JobState.DOWNLOADING)
            assert "disk full" in (now.error_message or "") and "free space" in (now.error_message or "")
            assert eng.fetcher.disk_full
            assert not list(out.glob("*.part")), "the .part of a full disk is removed"
            assert not list(out.glob(f"{job.id}_*")), "no half file under the final name"
            # space comes back: the next attempt succeeds by itself
            if filler is not None:
                filler.unlink()
            else:
                full[0] = False
            (job,) = await eng.wait_for([job.id], timeout=60)
            assert job.state is JobState.DONE, job.error_message
            (asset,) = await store.assets(job.id)
            assert asset.path is not None
            assert sha(asset.path) == asset.sha256  # the file as tagged; the record holds the bytes as served
            assert provenance.read(Path(asset.path)).source_sha256 == harness.sim.file_sha256(asset.url or "")
            assert not eng.fetcher.disk_full
            assert eng.errors == []


# ---- a read-only output folder ----------------------------------------------------------------------------


@FILESYSTEMS
async def test_read_only_output_folder_is_a_clear_retried_error_not_an_expiry(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, fs: str
) -> None:
    out = tmp_path / "out"
    harness = SimHarness(fast_sim_config())
    with tmpfs(out, size="4m", wanted=fs == "tmpfs") as real:
        need(fs, real)
        if real:
            assert remount(out, "ro")
        else:  # root ignores file modes, so without a mount the refusal is raised where the file is opened
            blocked = [True]
            real_open = download_mod._open_part

            def open_part(part: Path, offset: int) -> int:
                if blocked[0]:
                    raise OSError(errno.EROFS, "Read-only file system", str(part))
                return real_open(part, offset)

            monkeypatch.setattr(download_mod, "_open_part", open_part)
        async with running_engine(tmp_path, store, harness, output_dir=out) as eng:
            job = await eng.add(T2I)

            async def refused() -> bool:
                found = await store.get_job(job.id)
                return found is not None and "read-only" in (found.error_message or "").lower()

            await until(refused, what="the read-only error on the job")
            now = await store.get_job(job.id)
            assert now is not None
            assert now.state not in TERMINAL, (now.state, now.error_message)
            assert str(out) in (now.error_message or "") or f"{job.id}_1" in (now.error_message or "")
            if real:
                assert remount(out, "rw")
            else:
                blocked[0] = False
            (job,) = await eng.wait_for([job.id], timeout=60)
            assert job.state is JobState.DONE, job.error_message
            assert eng.errors == []


# ---- a full disk under the database -----------------------------------------------------------------------


async def _page_count(store: Store) -> int:
    rows = await store._read("PRAGMA page_count")
    return int(rows[0][0])


async def _limit_pages(store: Store, pages: int) -> None:
    await store._writer.execute(f"PRAGMA max_page_count = {pages}")


async def test_database_full_is_a_clear_error_nothing_half_written_and_the_engine_carries_on(
    tmp_path: Path, store: Store
) -> None:
    harness = SimHarness(fast_sim_config(pending_seconds=0.2, running_seconds=0.4))
    async with running_engine(tmp_path, store, harness) as eng:
        jobs = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"before the disk filled {i}")) for i in range(6)]
        await until(lambda: _any_in_flight(store, [j.id for j in jobs]), what="jobs in flight")
        await _limit_pages(store, await _page_count(store))
        refused = 0
        for i in range(400):  # fill the last free pages until SQLite says the disk is full
            try:
                await store.add_job(
                    T2I.to_dict(),
                    mode="t2i",
                    model=T2I.model_name,
                    prompt=f"filling the database {i} " + "x" * 2000,
                    source="test",
                )
            except StoreFull as exc:
                refused += 1
                assert "full" in str(exc) and "nothing was changed" in str(exc)
                assert isinstance(exc, StoreError)
                break
        assert refused, "the database never filled up"
        assert not store._writer.in_transaction, "SQLite rolled the failed transaction back"
        # while full, the engine's own writes fail too: it stays up and keeps the problem visible
        await until(lambda: any("StoreFull" in e for e in eng.errors), timeout=30, what="an engine write refused")
        assert all(not t.done() for t in eng._tasks), "every engine loop is still alive"
        await consistent(store, [j.id for j in jobs])
        # space is back: everything finishes by itself
        await _limit_pages(store, 1_000_000_000)
        done = await eng.wait_for([j.id for j in jobs], timeout=60)
    assert all(j.state is JobState.DONE for j in done), [(j.id, j.state, j.error_message) for j in done]
    await consistent(store, [j.id for j in jobs])
    assert harness.sim.duplicates() == {}
    assert sqlite3.connect(store.path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def _fill_up(store: Store, job_id: int) -> None:
    """Cap the database at its size now and use up the free space left in its pages, to the last byte."""
    await _limit_pages(store, await _page_count(store))
    for size in (3000, 300, 30, 1):
        with contextlib.suppress(StoreFull):
            for _ in range(10_000):
                await store.note(job_id, "x" * size)


async def test_database_full_when_a_posts_answer_comes_back_recovers_by_itself(tmp_path: Path, store: Store) -> None:
    """The task was created but its id could not be committed (the disk was full). Before: the job stayed
    SUBMITTING, unowned by any worker, until qwentui was restarted; now it is taken up again once space is back,
    reconciled and adopted, and nothing is sent twice."""
    import httpx

    from tests.faults.test_chaos import SlowAnswers

    harness = SimHarness(fast_sim_config(pending_seconds=0.1, running_seconds=0.1))
    slow = SlowAnswers(harness.app, delay=1.0)
    slow.active = True
    harness.transport = httpx.ASGITransport(app=slow)  # type: ignore[arg-type]
    async with running_engine(tmp_path, store, harness) as eng:
        job = await eng.add(GenerationRequest(mode=Mode.T2V, prompt="answered while the disk was full"))
        await until(lambda: _state_in(store, job.id, {JobState.SUBMITTING}), what="the POST on its way")
        await _fill_up(store, job.id)
        await until(lambda: any("StoreFull" in e for e in eng.errors), what="the commit refused")
        await _limit_pages(store, 1_000_000_000)
        (job,) = await eng.wait_for([job.id], timeout=30)
    assert job.state is JobState.DONE, (job.state, job.error_message)
    (task,) = harness.sim.find_tasks(prompt="answered while the disk was full")
    assert job.task_id == task.task_id and len(harness.sim.submissions) == 1


async def _any_in_flight(store: Store, ids: list[int]) -> bool:
    states = {await job_state(store, i) for i in ids}
    return bool(states & {JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED})


# ---- a corrupted database ---------------------------------------------------------------------------------


def _healthy_db(path: Path, jobs: int = 300) -> None:
    async def make() -> None:
        async with await Store.open(path) as store:
            for i in range(jobs):
                await store.add_job(
                    T2I.to_dict(), mode="t2i", model=T2I.model_name, prompt=f"job {i} " + "words " * 30, source="test"
                )
            await store.checkpoint()

    asyncio.run(make())


def _damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(os.urandom(8192))
    elif how == "truncated header":
        path.write_bytes(path.read_bytes()[:60])
    elif how == "truncated pages":
        path.write_bytes(path.read_bytes()[: 4096 * 3 + 100])
    elif how == "damaged pages":
        data = bytearray(path.read_bytes())
        noise = random.Random(4096)  # the same damage every run: a test that is sometimes lucky proves nothing
        for page in range(2, len(data) // 4096):
            data[page * 4096 + 8 : page * 4096 + 200] = noise.randbytes(192)
        path.write_bytes(bytes(data))
    elif how == "damaged schema":
        data = bytearray(path.read_bytes())
        data[100:4096] = b"\xff" * (4096 - 100)
        path.write_bytes(bytes(data))
    elif how == "another program's database":
        path.unlink()
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT)")
        conn.commit()
        conn.close()
    elif how == "a directory":
        path.unlink()
        path.mkdir()
    else:
        raise AssertionError(how)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


DAMAGES = [
    "garbage",
    "truncated header",
    "truncated pages",
    "damaged pages",
    "damaged schema",
    "another program's database",
    "a directory",
]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_corrupted_database_gives_one_clear_line_and_a_way_out(
    tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test0000000000000000000000000000")
    db = tmp_path / "jobs.db"
    _healthy_db(db)
    _damage(db, how)
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv in (
        ["jobs"],
        ["show", "7"],
        ["usage"],
        ["--base-url", "http://127.0.0.1:9", "run", "--until-idle"],
        ["--base-url", "http://127.0.0.1:9", "submit", "a cat"],
    ):
        rc = cli_main(["--db", str(db), *argv])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert rc != 0, (argv, captured)
        assert len(lines) == 1 and lines[0].startswith("qwentui: error: "), (argv, captured.err)
        assert "Traceback" not in captured.err + captured.out
        message = lines[0]
        assert str(db) in message, message
        if how not in ("a directory", "another program's database"):
            assert "move it aside" in message.lower() and "mv " in message, message  # the way out
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing was written next to the damaged file"


@pytest.mark.slow
def test_a_corrupted_database_from_the_real_command_has_no_traceback(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    _healthy_db(db, jobs=50)
    _damage(db, "damaged pages")
    env = {**os.environ, "QWENTUI_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "qwentui", "--db", str(db), "jobs"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert done.stderr.startswith("qwentui: error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    # the way out works: move it aside, and qwentui starts on an empty list
    os.replace(db, f"{db}.broken")
    again = subprocess.run(
        [sys.executable, "-m", "qwentui", "--db", str(db), "jobs"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "no jobs yet" in again.stdout, again.stderr


async def test_corruption_found_while_running_is_a_store_error_not_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    await asyncio.to_thread(_healthy_db, db)
    async with await Store.open(db) as store:
        _damage(db, "damaged pages")  # damaged under a store that is open (e.g. a failing disk)
        with pytest.raises(StoreError) as info:
            for _ in range(3):
                await store.list_jobs(limit=1000, text="words")
                await store.list_jobs(limit=1000, states={JobState.QUEUED})
        assert isinstance(info.value, StoreCorrupt) or "database" in str(info.value)


# ---- a key revoked mid-run --------------------------------------------------------------------------------


async def test_a_key_revoked_mid_run_pauses_everything_once_and_recovers_on_resume(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    harness = SimHarness(fast_sim_config(pending_seconds=0.3, running_seconds=1.5))
    async with running_engine(tmp_path, store, harness, submit_workers=2) as eng:
        first = [await eng.add(GenerationRequest(mode=Mode.T2V, prompt=f"following {i}")) for i in range(6)]
        ids = [j.id for j in first]

        async def all_sent() -> bool:
            return {await job_state(store, i) for i in ids} <= {JobState.PENDING, JobState.RUNNING}

        await until(all_sent, what="every job sent and followed")
        caplog.clear()
        caplog.set_level(logging.INFO, logger="qwentui")
        # the key is revoked while the tasks run and nothing is being submitted: status checks meet it first
        harness.sim.config.revoked = True
        await until(lambda: eng.pause is not None, timeout=30, what="a pause")
        assert eng.pause is not None and eng.pause.everything
        assert "key" in eng.pause.reason.lower() and "InvalidApiKey" in eng.pause.reason
        queued = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"queued {i}")) for i in range(4)]
        # paused: no more requests go out, no job is failed, and the problem is said once, not once per job
        requests = sum(harness.sim.requests.values())
        await engine_rounds(eng, 50)
        assert sum(harness.sim.requests.values()) - requests <= 2, "requests kept going out while paused"
        all_ids = [*ids, *[j.id for j in queued]]
        states = {await job_state(store, i) for i in all_ids}
        assert not states & (TERMINAL | {JobState.NEEDS_USER, JobState.UNCERTAIN}), states
        pauses = [r for r in caplog.records if "paus" in r.getMessage().lower()]
        assert len(pauses) == 1, [r.getMessage() for r in pauses]
        per_job = [r for r in caplog.records if "job" in r.getMessage().lower()]
        assert len(per_job) <= 2, [r.getMessage() for r in per_job]
        # a new key (here: the same one made valid again) and resume: everything finishes
        harness.sim.config.revoked = False
        eng.resume()
        done = await eng.wait_for(all_ids, timeout=60)
    assert all(j.state is JobState.DONE for j in done), [(j.id, j.state, j.error_message) for j in done]
    assert harness.sim.duplicates() == {}


# ---- the account out of quota or overdue ------------------------------------------------------------------


@pytest.mark.parametrize("knob", ["quota_exhausted", "arrearage"])
async def test_an_account_problem_pauses_submissions_and_says_why(tmp_path: Path, store: Store, knob: str) -> None:
    harness = SimHarness(fast_sim_config(pending_seconds=0.5, running_seconds=0.5))
    async with running_engine(tmp_path, store, harness) as eng:
        running = await eng.add(GenerationRequest(mode=Mode.T2V, prompt="already sent"))
        await until(lambda: _state_in(store, running.id, {JobState.PENDING, JobState.RUNNING}), what="sent")
        setattr(harness.sim.config, knob, True)
        waiting = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"waits {i}")) for i in range(3)]
        await until(lambda: eng.pause is not None, what="the pause")
        assert eng.pause is not None and not eng.pause.everything
        reason = eng.pause.reason
        assert "account" in reason and ("quota" in reason.lower() or "overdue" in reason.lower()), reason
        assert ("AllocationQuota" if knob == "quota_exhausted" else "Arrearage") in reason
        # what was already sent is still followed and downloaded; new jobs wait, not failed
        (finished,) = await eng.wait_for([running.id], timeout=30)
        assert finished.state is JobState.DONE
        posts = len(harness.sim.submissions)
        await engine_rounds(eng, 25)
        assert len(harness.sim.submissions) == posts, "no submission while paused"
        assert {await job_state(store, j.id) for j in waiting} == {JobState.QUEUED}
        setattr(harness.sim.config, knob, False)
        eng.resume()
        done = await eng.wait_for([j.id for j in waiting], timeout=30)
    assert all(j.state is JobState.DONE for j in done)
    assert harness.sim.duplicates() == {}


async def _state_in(store: Store, job_id: int, states: set[JobState]) -> bool:
    return await job_state(store, job_id) in states


@pytest.mark.parametrize("knob", ["quota_exhausted", "arrearage", "revoked"])
def test_submit_from_the_cli_tells_the_account_problem_in_one_line(
    tmp_path: Path, knob: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwentui.sim import SimConfig, running

    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-test0000000000000000000000000000")
    config = SimConfig(seed=1, pending_seconds=0.1, running_seconds=0.1)
    setattr(config, knob, True)
    with running(config) as server:
        rc = cli_main(
            [
                "--db",
                str(tmp_path / "jobs.db"),
                "--output",
                str(tmp_path / "out"),
                "--base-url",
                server.base_url,
                "submit",
                "a cat",
                "--wait",
            ]
        )
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("qwentui: error:")]
    assert rc == 1 and len(errors) == 1, captured.err
    assert "stays queued" in errors[0]
    assert ("key" if knob == "revoked" else "account") in errors[0]


# ---- the wall clock jumps ---------------------------------------------------------------------------------


class JumpyClock:
    """The wall clock as the engine sees it: real time plus an offset a test moves (NTP, sleep/resume)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset


@pytest.mark.parametrize("jump", [-2 * 3600.0, +2 * 3600.0, +30 * 3600.0], ids=["back-2h", "ahead-2h", "ahead-30h"])
async def test_a_clock_jump_loses_nothing_sends_nothing_twice_and_schedules_recover(
    tmp_path: Path, store: Store, jump: float
) -> None:
    """Jobs in flight keep being followed (a jump back used to park every next check until the clock caught up:
    2 h); uncertain submissions, before and after the jump, are never resent on the word of a list whose
    time window the jump has moved (they were: a second billed task), but handed to the user."""
    clock = JumpyClock()
    harness = SimHarness(fast_sim_config(pending_seconds=0.4, running_seconds=1.2))
    async with running_engine(tmp_path, store, harness, clock=clock, submit_workers=2) as eng:
        flying = [
            await eng.add(GenerationRequest(mode=Mode.T2V if i % 2 else Mode.T2I, prompt=f"in flight {i}"))
            for i in range(6)
        ]

        async def sent(ids: list[int]) -> bool:
            return {await job_state(store, i) for i in ids} <= {JobState.PENDING, JobState.RUNNING, JobState.DONE}

        await until(lambda: sent([j.id for j in flying]), what="jobs in flight")
        harness.sim.config.error_after_rate = 1.0  # the answers of the next POSTs are lost: uncertain jobs
        lost = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"answer lost {i}")) for i in range(2)]
        await until(
            lambda: _state_in_all(
                store, [j.id for j in lost], {JobState.UNCERTAIN, JobState.PENDING, JobState.RUNNING, JobState.DONE}
            ),
            what="the lost answers",
        )
        clock.offset = jump
        late_lost = [
            await eng.add(GenerationRequest(mode=Mode.T2V, prompt=f"lost after the jump {i}")) for i in range(2)
        ]
        await until(lambda: len(harness.sim.submissions) >= 10, what="the POSTs after the jump")
        harness.sim.config.error_after_rate = 0.0
        late = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"after the jump {i}")) for i in range(3)]
        done = await eng.wait_for([j.id for j in [*flying, *lost, *late_lost, *late]], timeout=60)
        clock.offset = 0.0  # and back again
        again = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"after the return {i}")) for i in range(3)]
        done += await eng.wait_for([j.id for j in again], timeout=60)
    summary = [(j.prompt, j.state.value, j.error_code) for j in done]
    by_prompt = {j.prompt: j for j in done}
    for job in [*flying, *late, *again]:
        assert by_prompt[job.prompt].state is JobState.DONE, summary  # schedules recovered
    for job in done:
        assert job.state is JobState.DONE or (job.state is JobState.NEEDS_USER and job.error_message), summary
        if job.task_id:
            task = harness.sim.task(job.task_id)
            assert task is not None and task.job.prompt == job.prompt, f"job {job.id} follows another job's task"
    assert harness.sim.duplicates() == {}, "a clock jump caused a second submission"
    assert eng.errors == []


async def _state_in_all(store: Store, ids: list[int], states: set[JobState]) -> bool:
    return all([await job_state(store, i) in states for i in ids])


@pytest.mark.parametrize(
    "off", [-2 * 3600.0, -3.0, +3.0, +2 * 3600.0], ids=["2h-slow", "3s-slow", "3s-fast", "2h-fast"]
)
async def test_a_clock_already_off_at_start_does_not_resend_a_lost_answer(
    tmp_path: Path, store: Store, off: float
) -> None:
    """The local clock is off from the start (no jump to notice). The task list is filtered on the service's
    clock, measured from its Date header: the lost answer's task is found and adopted, not sent again.
    Before: the window missed the task, the absence counted as proof, and a second task was billed."""
    clock = JumpyClock()
    clock.offset = off
    harness = SimHarness(fast_sim_config(pending_seconds=0.2, running_seconds=0.2, error_after_rate=1.0))
    async with running_engine(tmp_path, store, harness, clock=clock) as eng:
        job = await eng.add(GenerationRequest(mode=Mode.T2I, prompt="answer lost, clock off"))
        await until(lambda: len(harness.sim.submissions) >= 1, what="the POST")
        harness.sim.config.error_after_rate = 0.0
        await eng.wait_for([job.id], timeout=30)
    assert harness.sim.duplicates() == {}
    assert (done := await store.get_job(job.id)) is not None and done.state is JobState.DONE, done
    (task,) = harness.sim.find_tasks(prompt="answer lost, clock off")
    assert done.task_id == task.task_id


async def test_a_clock_set_between_two_runs_does_not_resend_a_lost_answer(tmp_path: Path, store: Store) -> None:
    """The answer of a POST is lost and qwentui stops before reconciling it; the local clock is then set two
    hours ahead. The next run looks for the task where the service's clock was when the POST was sent (the
    offset stored with the job), not where today's offset would put it."""
    from qwentui.core.reconcile import ReconcileOutcome

    harness = SimHarness(fast_sim_config(pending_seconds=0.2, running_seconds=0.2))
    async with running_engine(tmp_path, store, harness) as eng:

        async def no_reconcile() -> ReconcileOutcome:
            return ReconcileOutcome()

        eng.reconciler.round = no_reconcile  # type: ignore[method-assign]  # stopped before it could
        warm = await eng.add(GenerationRequest(mode=Mode.T2I, prompt="an answer that came back"))
        await eng.wait_for([warm.id], timeout=30)
        harness.sim.config.error_after_rate = 1.0
        job = await eng.add(GenerationRequest(mode=Mode.T2I, prompt="answer lost before the clock was set"))
        await until(lambda: _state_in(store, job.id, {JobState.UNCERTAIN}), what="the lost answer")
    stored = await store.get_job(job.id)
    assert stored is not None and stored.clock_offset is not None and abs(stored.clock_offset) < 1.5
    # and how well it was known (a few answers' Date headers: at most about half a second)
    assert stored.clock_uncertainty is not None and stored.clock_uncertainty < 1.0, stored.clock_uncertainty
    harness.sim.config.error_after_rate = 0.0
    clock = JumpyClock()
    clock.offset = 2 * 3600.0
    async with running_engine(tmp_path, store, harness, clock=clock) as eng:
        (done,) = await eng.wait_for([job.id], timeout=30)
    assert done.state is JobState.DONE, (done.state, done.error_message)
    assert harness.sim.duplicates() == {} and len(harness.sim.find_tasks(prompt=done.prompt)) == 1
