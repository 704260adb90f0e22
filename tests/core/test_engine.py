"""The engine against the real simulator in-process and a real SQLite file: every transition and start-up action."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from qwentui.core.catalog import Mode
from qwentui.core.engine import Engine, EngineError
from qwentui.core.requests import GenerationRequest, InvalidRequest
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Job, Store
from tests.helpers import SimHarness, engine_config, engine_rounds, fast_sim_config, poll_until

T2I = GenerationRequest(mode=Mode.T2I, prompt="a red fox in snow")
T2V = GenerationRequest(mode=Mode.T2V, prompt="a paper boat on a rainy street")


async def settle(engine: Engine, job_ids: list[int], timeout: float = 20) -> list[Job]:
    return await engine.wait_for(job_ids, timeout=timeout)


async def stored(store: Store, job_id: int) -> Job:
    """The job as the database has it now; it must exist."""
    job = await store.get_job(job_id)
    assert job is not None, f"no job {job_id} in the store"
    return job


async def is_in(store: Store, job_id: int, state: JobState) -> bool:
    return (await stored(store, job_id)).state is state


async def went_through(store: Store, job_id: int, state: JobState) -> bool:
    """The job has been in `state`, even if only for a moment: its events say so."""
    return state in [e.to_state for e in await store.events(job_id)]


async def make_engine(tmp_path: Path, store: Store, harness: SimHarness, **overrides: object) -> Engine:
    eng = Engine(store, harness.client(), engine_config(tmp_path, **overrides), download_http=harness.download_client())
    await eng.start()
    return eng


async def test_image_job_goes_all_the_way_to_done(engine: Engine, store: Store, sim: SimHarness) -> None:
    job = await engine.add(T2I)
    (job,) = await settle(engine, [job.id])
    assert job.state is JobState.DONE, job.error_message
    assets = await store.assets(job.id)
    assert len(assets) == 1
    assert assets[0].path is not None
    path = Path(assets[0].path)
    assert path.name == f"{job.id}_1.png"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == assets[0].sha256
    assert path.stat().st_mode & 0o777 == 0o600
    states = [e.to_state for e in await store.events(job.id)]
    assert states[-3:] == [JobState.SUCCEEDED, JobState.DOWNLOADING, JobState.DONE]
    assert JobState.SUBMITTING in states and job.task_id
    assert job.image_count == 1


async def test_every_mode_through_the_engine(engine: Engine, store: Store, tmp_path: Path) -> None:
    photo = tmp_path / "ref.png"
    Image.new("RGB", (800, 600), (30, 90, 160)).save(photo)
    requests = [
        T2I,
        GenerationRequest(mode=Mode.T2I, model="qwen-image-plus", prompt="poster"),
        GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="sync generate"),
        GenerationRequest(mode=Mode.EDIT, prompt="watercolour", images=[str(photo)]),
        GenerationRequest(mode=Mode.EDIT, model="qwen-image-edit-plus", prompt="sync edit", images=[str(photo)]),
        GenerationRequest(mode=Mode.INTERLEAVE, prompt="a recipe with pictures"),
        GenerationRequest(mode=Mode.I2I, prompt="make it night", images=[str(photo)]),
        T2V,
        GenerationRequest(mode=Mode.I2V, prompt="it moves", images=[str(photo)]),
        GenerationRequest(mode=Mode.KF2V, prompt="morph", images=[str(photo), str(photo)]),
        GenerationRequest(mode=Mode.R2V, prompt="character1 waves", images=["https://example.com/c.png"]),
        GenerationRequest(mode=Mode.VACE, prompt="", function="image_reference", images=[str(photo)]),
    ]
    jobs = [await engine.add(r) for r in requests]
    done = await settle(engine, [j.id for j in jobs], timeout=60)
    for job in done:
        assert job.state is JobState.DONE, (job.mode, job.model, job.error_code, job.error_message)
        assert await store.assets(job.id)
    interleave = next(j for j in done if j.mode == "interleave")
    kinds = {a.kind for a in await store.assets(interleave.id)}
    assert "text" in kinds, "interleaved text is kept in a markdown file"


async def test_invalid_request_is_refused_before_anything_is_sent(engine: Engine, sim: SimHarness) -> None:
    with pytest.raises(InvalidRequest) as info:
        await engine.add(GenerationRequest(mode=Mode.T2I, prompt="x", size="10*10"))
    assert "size" in str(info.value)
    assert len(sim.sim.submissions) == 0


async def test_a_stored_request_that_fails_validation_is_rejected_and_the_queue_goes_on(
    tmp_path: Path, store: Store
) -> None:
    """A queued row whose request no longer validates (hand-written, or from an older version) is refused with
    its reason, once, before anything is sent; the jobs behind it are sent as usual."""
    bad = await store.add_job(
        {"mode": "t2i", "model": "wan2.6-t2i", "prompt": ""}, mode="t2i", model="wan2.6-t2i", prompt=""
    )
    harness = SimHarness(fast_sim_config())
    eng = await make_engine(tmp_path, store, harness)
    try:
        good = await eng.add(T2I)
        bad, good = await settle(eng, [bad.id, good.id])
    finally:
        await eng.stop()
    assert bad.state is JobState.REJECTED and bad.error_code == "InvalidRequest"
    assert bad.error_message and "prompt" in bad.error_message
    assert good.state is JobState.DONE
    assert len(harness.sim.submissions) == 1


async def test_failed_task_keeps_its_reason(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config(failure_rate=1.0, failure_code="DataInspectionFailed"))
    eng = await make_engine(tmp_path, store, harness)
    try:
        job = await eng.add(T2I)
        (job,) = await settle(eng, [job.id])
    finally:
        await eng.stop()
    assert job.state is JobState.FAILED
    assert job.error_code == "DataInspectionFailed" and job.error_message


async def test_quota_exhausted_pauses_submissions_without_failing_jobs(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config(quota_exhausted=True))
    eng = await make_engine(tmp_path, store, harness)
    try:
        job = await eng.add(T2I)
        await poll_until(lambda: eng.pause is not None, timeout=10, what="the engine to pause")
        assert eng.pause is not None and "quota" in eng.pause.reason.lower()

        async def back_in_queue() -> bool:
            # the pause is set when the refusal is read, the job's way back to QUEUED is the write after it
            current = await stored(store, job.id)
            assert current.state in (JobState.SUBMITTING, JobState.QUEUED), current.state  # never failed
            return current.state is JobState.QUEUED

        await poll_until(back_in_queue, timeout=10, what="the refused job back in the queue")
        harness.sim.config.quota_exhausted = False
        eng.resume()
        (job,) = await settle(eng, [job.id])
        assert job.state is JobState.DONE
    finally:
        await eng.stop()


async def test_revoked_key_pauses_everything_once(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config(revoked=True))
    eng = await make_engine(tmp_path, store, harness)
    try:
        jobs = [await eng.add(T2I) for _ in range(5)]
        await poll_until(lambda: eng.pause is not None, timeout=30, what="the engine to pause")
        assert eng.pause is not None and eng.pause.everything
        assert "key" in eng.pause.reason.lower()

        async def all_queued() -> bool:  # the refused job's way back to QUEUED is the write after the pause
            return {(await stored(store, j.id)).state for j in jobs} == {JobState.QUEUED}

        await poll_until(all_queued, timeout=30, what="every job queued")
        await engine_rounds(eng, 25)  # the loops came round many times while paused: none sent anything
        # one refused submission paused the rest: they were never sent
        assert len(harness.sim.submissions) <= 2
        states = {(await stored(store, j.id)).state for j in jobs}
        assert states == {JobState.QUEUED}
    finally:
        await eng.stop()


async def test_connection_dropped_before_processing_is_reconciled_and_resent(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config())
    eng = await make_engine(tmp_path, store, harness)
    try:
        harness.sim.config.drop_before_rate = 1.0
        job = await eng.add(T2I)
        await poll_until(lambda: went_through(store, job.id, JobState.UNCERTAIN), timeout=30, what="an uncertain send")
        harness.sim.config.drop_before_rate = 0.0
        (job,) = await settle(eng, [job.id])
    finally:
        await eng.stop()
    assert job.state is JobState.DONE
    states = [e.to_state for e in await store.events(job.id)]
    assert JobState.UNCERTAIN in states and JobState.QUEUED in states[1:]
    assert len(harness.sim.find_tasks(prompt=T2I.prompt)) == 1, "exactly one task was created"


async def test_response_lost_after_task_created_is_adopted_not_resent(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config())
    eng = await make_engine(tmp_path, store, harness)
    try:
        harness.sim.config.drop_after_rate = 1.0
        job = await eng.add(T2V)
        await poll_until(lambda: went_through(store, job.id, JobState.UNCERTAIN), timeout=30, what="an uncertain send")
        harness.sim.config.drop_after_rate = 0.0
        (job,) = await settle(eng, [job.id])
    finally:
        await eng.stop()
    assert job.state is JobState.DONE
    tasks = [t.task_id for t in harness.sim.find_tasks(prompt=T2V.prompt)]
    assert len(tasks) == 1, "the lost response did not cause a second submission"
    assert job.task_id == tasks[0]
    assert any("adopted" in (e.detail or "") for e in await store.events(job.id))


async def test_a_sent_job_without_its_task_id_finds_its_task_and_is_not_sent_again(
    tmp_path: Path, store: Store
) -> None:
    """A database written by another tool may hold a running job without its task id: it was sent, so it is
    looked for, never sent again (before, the track loop failed on it every round)."""
    harness = SimHarness(fast_sim_config(pending_seconds=1.0))  # still pending when the first engine stops
    eng = await make_engine(tmp_path, store, harness)
    try:
        job = await eng.add(T2V)
        await poll_until(lambda: went_through(store, job.id, JobState.PENDING), timeout=30, what="the task made")
    finally:
        await eng.stop()
    await store.update_fields(job.id, task_id=None)
    eng = await make_engine(tmp_path, store, harness)
    try:
        (job,) = await settle(eng, [job.id], timeout=30)
    finally:
        await eng.stop()
    assert eng.errors == []  # no loop failed on it
    assert job.state is JobState.DONE
    [task] = harness.sim.find_tasks(prompt=T2V.prompt)  # sent once
    assert job.task_id == task.task_id
    assert any("no task id in the database" in (e.detail or "") for e in await store.events(job.id))


async def test_lost_answers_whose_tasks_echo_nothing_are_settled_by_order(tmp_path: Path, store: Store) -> None:
    # both answers lost and both tasks fail (a failed task echoes no prompt), the two sent within the clock
    # tolerance: content cannot decide, the order of the sends does (POSTs of a model go one at a time), and each
    # job follows its own task; what order cannot decide asks the user (tests/core/test_reconcile.py)
    harness = SimHarness(fast_sim_config(pending_seconds=0.2, running_seconds=0.2, failure_rate=1.0))
    eng = await make_engine(tmp_path, store, harness, submit_workers=1)
    try:
        harness.sim.config.drop_after_rate = 1.0
        a = await eng.add(T2V)
        b = await eng.add(GenerationRequest(mode=Mode.T2V, prompt="another boat"))

        async def settled() -> bool:
            jobs = [await stored(store, i) for i in (a.id, b.id)]
            return all(j.task_id is not None or j.state is JobState.NEEDS_USER for j in jobs)

        await poll_until(settled, timeout=30, what="both jobs to follow a task")
        harness.sim.config.drop_after_rate = 0.0
        jobs = [await stored(store, i) for i in (a.id, b.id)]
    finally:
        await eng.stop()
    made = [[t.task_id for t in harness.sim.find_tasks(prompt=j.prompt)] for j in jobs]
    assert [[j.task_id] for j in jobs] == made, [(j.state, j.error_message) for j in jobs]
    assert len(harness.sim.submissions) == 2, "nothing was resubmitted on a guess"


async def test_cancel_pending_and_refuse_running(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config(pending_seconds=30, running_seconds=30))
    eng = await make_engine(tmp_path, store, harness)
    try:
        job = await eng.add(T2V)
        await poll_until(lambda: is_in(store, job.id, JobState.PENDING), timeout=30, what="the job pending")
        job = await eng.cancel(job.id)
        assert job.state is JobState.CANCELED
        with pytest.raises(EngineError, match="already canceled"):
            await eng.cancel(job.id)
        harness.sim.config.pending_seconds = 0.0
        running = await eng.add(GenerationRequest(mode=Mode.T2V, prompt="running one"))
        await poll_until(lambda: is_in(store, running.id, JobState.RUNNING), timeout=30, what="the job running")
        with pytest.raises(EngineError, match="no longer be canceled"):
            await eng.cancel(running.id)
        with pytest.raises(EngineError, match="no job 9999"):
            await eng.cancel(9999)
    finally:
        await eng.stop()


async def test_retry_and_duplicate_make_new_jobs(engine: Engine, store: Store) -> None:
    job = await engine.add(T2I)
    await settle(engine, [job.id])
    again = await engine.retry(job.id)
    edited = await engine.duplicate(job.id, prompt="a white fox", seed=42)
    assert again.parent_id == job.id and edited.parent_id == job.id
    assert edited.request["prompt"] == "a white fox" and edited.request["seed"] == 42
    done = await settle(engine, [again.id, edited.id])
    assert all(j.state is JobState.DONE for j in done)


async def test_import_follows_a_task_created_elsewhere(engine: Engine, store: Store, sim: SimHarness) -> None:
    from qwentui.core.requests import build

    async with sim.client() as client:
        submitted = await client.submit(build(T2V))
    assert submitted.task_id
    job = await engine.import_task(submitted.task_id)
    assert job.model == "wan2.6-t2v" and job.mode == "t2v"
    (job,) = await settle(engine, [job.id])
    assert job.state is JobState.DONE
    with pytest.raises(EngineError, match="already job"):
        await engine.import_task(submitted.task_id)
    with pytest.raises(EngineError, match="does not know"):
        await engine.import_task("00000000-0000-0000-0000-000000000000")


async def _seed_job(store: Store, state: JobState, request: GenerationRequest, **fields: object) -> int:
    job = await store.add_job(
        request.to_dict(), mode=request.mode.value, model=request.model_name, prompt=request.prompt, source="test"
    )
    path = {
        JobState.UPLOADING: [JobState.UPLOADING],
        JobState.SUBMITTING: [JobState.SUBMITTING],
        JobState.PENDING: [JobState.SUBMITTING, JobState.PENDING],
        JobState.SUCCEEDED: [JobState.SUBMITTING, JobState.PENDING, JobState.SUCCEEDED],
        JobState.DOWNLOADING: [JobState.SUBMITTING, JobState.PENDING, JobState.SUCCEEDED, JobState.DOWNLOADING],
        JobState.NEEDS_USER: [JobState.SUBMITTING, JobState.UNCERTAIN, JobState.NEEDS_USER],
    }[state]
    for i, step in enumerate(path):
        extra = fields if i == len(path) - 1 else {}
        await store.transition(job.id, step, detail="seeded", **extra)  # type: ignore[arg-type]
    return job.id


async def test_every_start_up_action(tmp_path: Path, store: Store) -> None:
    """Rows left in every non-terminal state by a crash are each taken forward at start-up."""
    from qwentui.core.requests import build

    harness = SimHarness(fast_sim_config())
    async with harness.client() as client:
        landed = await client.submit(build(T2V))  # a POST that reached the server before the "crash"
        following = await client.submit(build(GenerationRequest(mode=Mode.T2V, prompt="followed")))
        finished = await client.submit(build(T2I))

        async def succeeded() -> bool:
            return (await client.get_task(finished.task_id or "")).status.value == "SUCCEEDED"

        await poll_until(succeeded, timeout=30, what="the finished task to succeed")
        result = await client.get_task(finished.task_id or "")
    now = __import__("time").time()
    ids = {
        "uploading": await _seed_job(store, JobState.UPLOADING, T2I),
        "submitting": await _seed_job(
            store, JobState.SUBMITTING, T2V, submitted_at=now - 1, wire_json=json.dumps(build(T2V).body)
        ),
        "pending": await _seed_job(
            store, JobState.PENDING, T2V, task_id=following.task_id, submitted_at=now, next_check_at=now
        ),
        "succeeded": await _seed_job(
            store,
            JobState.SUCCEEDED,
            T2I,
            task_id=finished.task_id,
            results_json=json.dumps([{"kind": "image", "url": result.urls[0], "text": None}]),
            results_expire_at=now + 3600,
            next_check_at=now,
        ),
        "downloading": await _seed_job(
            store,
            JobState.DOWNLOADING,
            T2I,
            task_id="elsewhere-1",
            results_json=json.dumps([{"kind": "image", "url": result.urls[0], "text": None}]),
            results_expire_at=now + 3600,
        ),
        "needs_user": await _seed_job(store, JobState.NEEDS_USER, T2I),
    }
    submissions_before = len(harness.sim.submissions)
    eng = await make_engine(tmp_path, store, harness)
    try:
        final: dict[str, Job] = {
            name: (await settle(eng, [i]))[0] if name != "needs_user" else await stored(store, i)
            for name, i in ids.items()
        }
    finally:
        await eng.stop()
    assert final["uploading"].state is JobState.DONE
    assert final["submitting"].state is JobState.DONE
    assert final["submitting"].task_id == landed.task_id, "the crashed POST's task was adopted"
    assert final["pending"].state is JobState.DONE and final["pending"].task_id == following.task_id
    assert final["succeeded"].state is JobState.DONE
    assert final["downloading"].state is JobState.DONE
    assert final["needs_user"].state is JobState.NEEDS_USER
    # only the UPLOADING job (never sent) was submitted now: nothing went twice
    assert len(harness.sim.submissions) == submissions_before + 1


async def test_unknown_after_expiry_ends_expired(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config())
    day = 25 * 3600.0
    now = __import__("time").time()
    job_id = await _seed_job(
        store,
        JobState.PENDING,
        T2V,
        task_id="11111111-dead-beef-0000-000000000000",
        submitted_at=now - day,
        next_check_at=now,
    )
    eng = await make_engine(tmp_path, store, harness)
    try:
        (job,) = await settle(eng, [job_id])
    finally:
        await eng.stop()
    assert job.state is JobState.EXPIRED
    assert "expired" in (job.error_message or "").lower()


async def test_second_engine_on_the_same_database_only_reads(tmp_path: Path, store: Store, sim: SimHarness) -> None:
    first = await make_engine(tmp_path, store, sim)
    second_store = await Store.open(tmp_path / "jobs.db")
    second = Engine(second_store, sim.client(), engine_config(tmp_path), download_http=sim.download_client())
    try:
        assert first.leader
        assert not await second.start()
        job = await second.add(T2I)  # a read-only process may still add jobs; the leader sends them
        (job,) = await settle(first, [job.id])
        assert job.state is JobState.DONE
    finally:
        await second.stop()
        await second_store.close()
        await first.stop()


async def test_many_jobs_follow_in_batch_under_the_rate_limit(tmp_path: Path, store: Store) -> None:
    """Many tasks in flight against a tight task-query limit: all finish, few requests per task."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.2, running_seconds=0.6, task_query_qps=20.0))
    eng = Engine(
        store,
        harness.client(rate=18.0),
        engine_config(tmp_path, submit_workers=8),
        download_http=harness.download_client(),
    )
    await eng.start()
    try:
        jobs = [await eng.add(GenerationRequest(mode=Mode.T2I, prompt=f"job {i}")) for i in range(60)]
        done = await settle(eng, [j.id for j in jobs], timeout=120)
    finally:
        await eng.stop()
    assert all(j.state is JobState.DONE for j in done)
    assert all(j.state in TERMINAL for j in done)
    assert harness.sim.throttled <= 5, "the shared limiter kept the client under the account's rate"
    assert eng.tracker.stats.list_requests >= 1, "statuses came from the batch list"


async def test_a_worker_takes_a_job_as_it_is_now_not_as_a_list_read_before_said(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list of due jobs read while another worker sent one of them and let it go: the job is read again once
    held (under load a worker took such a stale copy, and its QUEUED -> SUBMITTING step failed its loop)."""
    eng = Engine(store, SimHarness(fast_sim_config()).client(), engine_config(tmp_path))  # not started
    queued = await store.add_job(T2V.to_dict(), source="test")
    await store.transition(queued.id, JobState.CANCELED, expect=JobState.QUEUED, detail="another worker's step")

    async def stale_list(*args: object, **kwargs: object) -> list[Job]:
        return [queued]

    monkeypatch.setattr(store, "due_jobs", stale_list)
    assert await eng._claim({JobState.QUEUED}) is None
    assert queued.id not in eng._busy
