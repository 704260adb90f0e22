"""Lineage (every job knows where it came from, both ways) and culling marks (rating, star, reject), on a real
SQLite file: recorded by each action, walked up and down, carried forward by the migration, kept over a
restart, and used by `list_jobs` to filter."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.culling import MarkError, describe_marks, mark
from qwentui.core.engine import Engine, EngineError
from qwentui.core.lineage import Relation, chain, lineage_of, origin
from qwentui.core.migrations import migrate
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import JobNotFound, MarkFilter, Store

T2I = {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "a lighthouse at dusk"}
I2V = {"mode": "i2v", "model": "wan2.6-i2v", "prompt": "waves roll in"}


async def test_engine_retry_and_duplicate_record_their_relation(engine: Engine) -> None:
    first = await engine.add(GenerationRequest(mode=Mode.T2I, prompt="a red fox"))
    retried = await engine.retry(first.id)
    duplicated = await engine.duplicate(first.id, prompt="a grey fox")
    for job, relation in ((retried, Relation.RETRY), (duplicated, Relation.DUPLICATE)):
        (link,) = await engine.store.parents(job.id)
        assert (link.parent_id, link.relation) == (first.id, relation)
        assert job.parent_id == first.id  # the first parent stays readable as before
    assert {lk.job_id for lk in await engine.store.children(first.id)} == {retried.id, duplicated.id}


async def test_animate_records_its_image(engine: Engine) -> None:
    image = await engine.add(GenerationRequest(mode=Mode.T2I, prompt="a red fox"))
    # what the TUI's animate action queues: an i2v request with the image job as parent
    video = await engine.store.add_job(I2V, source="animate", parent_id=image.id)
    (link,) = await engine.store.parents(video.id)
    assert (link.parent_id, link.relation) == (image.id, Relation.ANIMATE)


async def test_a_dropped_file_is_the_origin_of_its_job(store: Store) -> None:
    job = await store.add_job(I2V, source="drop:animate", source_path="/inbox/animate/cat.png")
    assert await store.parents(job.id) == []
    assert origin(job) == "dropped from /inbox/animate/cat.png"
    lineage, jobs = await lineage_of(store, job.id)
    assert lineage.lines(jobs) == [f"job {job.id} (i2v, queued)", "  dropped from /inbox/animate/cat.png"]


async def test_the_tree_both_ways_and_the_family(store: Store) -> None:
    image = await store.add_job(T2I)
    clip = await store.add_job(I2V, source="animate", parent_id=image.id)
    longer = await store.add_job(I2V, source="extend", parent_id=clip.id)
    longest = await store.add_job(I2V, source="extend", parent_id=longer.id)
    # a film of the clips, one of them twice: several parents, in order
    film = await store.add_job(
        {"mode": "assemble", "model": "qwentui-assemble"},
        source="assemble",
        lineage=[(clip.id, "assemble"), (longer.id, "assemble"), (clip.id, "assemble")],
    )
    stranger = await store.add_job(T2I)

    assert film.parent_id == clip.id
    assert [(lk.parent_id, lk.position) for lk in await store.parents(film.id)] == [
        (clip.id, 0),
        (longer.id, 1),
        (clip.id, 2),
    ]
    up = await store.ancestors(longest.id)
    assert [(lk.job_id, lk.parent_id, lk.relation, lk.depth) for lk in up] == [
        (longest.id, longer.id, "extend", 1),
        (longer.id, clip.id, "extend", 2),
        (clip.id, image.id, "animate", 3),
    ]
    down = await store.descendants(image.id)
    assert {lk.job_id for lk in down} == {clip.id, longer.id, longest.id, film.id}
    family = [j.id for j in await store.family(longer.id)]
    assert family == [image.id, clip.id, longer.id, longest.id, film.id]
    assert stranger.id not in family
    assert await chain(store, longest.id) == [clip.id, longer.id, longest.id]

    lineage, jobs = await lineage_of(store, longer.id)
    lines = lineage.lines(jobs)
    assert lines[0] == f"job {longer.id} (i2v, queued)"
    assert f"  extended from job {clip.id} (i2v, queued)" in lines
    assert f"    animated from job {image.id} (t2i, queued)" in lines
    assert f"  extended as job {longest.id} (i2v, queued)" in lines
    assert f"  part of job {film.id} (assemble, queued)" in lines


async def test_lineage_refuses_a_parent_that_does_not_exist(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.add_job(I2V, source="extend", parent_id=999)
    assert await store.list_jobs() == []  # nothing half written
    job = await store.add_job(I2V)
    with pytest.raises(JobNotFound):
        await store.add_lineage(job.id, [(998, "duplicate")])


def test_the_upgrade_carries_parent_ids_into_the_lineage(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=9)
    ids: list[int | None] = []
    for source, parent in (("tui", None), ("retry", 1), ("animate", 1), ("tui", 1)):
        cur = conn.execute(
            "INSERT INTO jobs(created_at, updated_at, mode, model, request_json, client_token, state, source, "
            "parent_id) VALUES (1, 1, 't2i', 'wan2.6-t2i', ?, ?, 'done', ?, ?)",
            (json.dumps(T2I), f"token-{len(ids)}", source, parent),
        )
        ids.append(cur.lastrowid)
    migrate(conn)
    rows = conn.execute("SELECT job_id, parent_id, relation FROM job_lineage ORDER BY job_id").fetchall()
    assert rows == [(ids[1], 1, "retry"), (ids[2], 1, "animate"), (ids[3], 1, "duplicate")]
    assert conn.execute("SELECT rating, starred, rejected FROM jobs WHERE id = 1").fetchone() == (None, 0, 0)
    conn.close()


async def test_ratings_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with await Store.open(path) as store:
        a, b, c, d = [await store.add_job(T2I, state=JobState.QUEUED) for _ in range(4)]
        await mark(store, a.id, "4")
        await mark(store, a.id, "star")
        await mark(store, b.id, "2")
        await mark(store, c.id, "reject")
        await mark(store, d.id, "5")
        await mark(store, d.id, "clear")
    async with await Store.open(path) as store:
        reopened = [await store.get_job(j.id) for j in (a, b, c, d)]
        assert [(j.rating, j.starred, j.rejected) for j in reopened if j] == [
            (4, True, False),
            (2, False, False),
            (None, False, True),
            (None, False, False),
        ]
        assert [e.detail for e in await store.events(a.id)][-2:] == ["marked: 4", "marked: star"]


async def test_star_and_reject_take_each_other_back(store: Store) -> None:
    job = await store.add_job(T2I)
    job = await mark(store, job.id, "reject")
    job = await mark(store, job.id, "star")
    assert (job.starred, job.rejected) == (True, False)
    job = await mark(store, job.id, "3")
    job = await mark(store, job.id, "reject")
    assert (job.rating, job.starred, job.rejected) == (3, False, True)
    assert describe_marks(job) == "★★★☆☆ rejected"
    with pytest.raises(MarkError, match="1, 2, 3, 4, 5, star"):
        await mark(store, job.id, "6")
    with pytest.raises(ValueError):
        await store.set_marks(job.id, rating=0, starred=False, rejected=False)
    with pytest.raises(JobNotFound):
        await mark(store, 12345, "star")


async def test_a_mark_is_news_for_the_change_feed(store: Store) -> None:
    job = await store.add_job(T2I)
    stamp = await store.latest_stamp()
    await mark(store, job.id, "5")
    assert [j.id for j in await store.changed_since(stamp)] == [job.id]


async def test_list_jobs_filters_by_marks(store: Store) -> None:
    jobs = [await store.add_job(T2I) for _ in range(6)]
    await mark(store, jobs[0].id, "5")
    await mark(store, jobs[1].id, "3")
    await mark(store, jobs[1].id, "star")
    await mark(store, jobs[2].id, "1")
    await mark(store, jobs[3].id, "reject")
    await mark(store, jobs[4].id, "4")
    await mark(store, jobs[4].id, "reject")

    async def ids(**kw: object) -> list[int]:
        return [j.id for j in await store.list_jobs(**kw)]  # type: ignore[arg-type]

    j = [x.id for x in jobs]
    assert await ids(marks=MarkFilter(min_rating=3)) == [j[4], j[1], j[0]]
    assert await ids(marks=MarkFilter(min_rating=3, rejected=False)) == [j[1], j[0]]
    assert await ids(marks=MarkFilter(starred=True)) == [j[1]]
    assert await ids(marks=MarkFilter(rejected=True)) == [j[4], j[3]]
    assert await ids(marks=MarkFilter(rejected=False)) == [j[5], j[2], j[1], j[0]]
    # with the other filters: by state (its index), by text (the full-text index), a page at a time
    assert await ids(states=JobState.QUEUED, marks=MarkFilter(min_rating=4)) == [j[4], j[0]]
    assert await ids(text="lighthouse", marks=MarkFilter(min_rating=4)) == [j[4], j[0]]
    assert await ids(marks=MarkFilter(min_rating=1), limit=2) == [j[4], j[2]]
    assert await ids(marks=MarkFilter(min_rating=1), before_id=j[2]) == [j[1], j[0]]


async def test_a_film_is_never_duplicated_or_retried(engine: Engine) -> None:
    film = await engine.store.add_job(
        {"mode": "assemble", "model": "qwentui-assemble"}, state=JobState.DONE, source="assemble"
    )
    assert film.mode is Mode.ASSEMBLE
    for action in (engine.retry, engine.duplicate):
        with pytest.raises(EngineError, match="made on this machine"):
            await action(film.id)
