"""Drop-folder edges: a failed job never blocks a new attempt, a retried drop that succeeds leaves failed/ for
done/, the counts survive a restart, and the ledger key includes the rule."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import DropFolderService
from qwentui.core.dropfolder.ledger import ledger_key
from qwentui.core.migrations import migrate
from qwentui.core.states import JobState
from qwentui.core.store import LedgerEntry, Store
from tests.drop.conftest import World
from tests.drop.helpers import colour, names, submitted_shas, wait_until, write_png


def fail_tasks(world: World, failing: bool) -> None:
    world.sim.config = replace(world.sim.config, failure_rate=1.0 if failing else 0.0)


def events_of(service: DropFolderService) -> list[str]:
    """Every event the service's rules report from now on (the board keeps only the last one)."""
    seen: list[str] = []
    service.on_change(lambda name: seen.append(service.board.get(name).last_event))
    return seen


async def test_dropping_again_an_image_whose_job_failed_sends_it_again(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    events = events_of(service)
    fail_tasks(world, True)
    sha = write_png(rule.folder / "big.png", colour(21))
    await wait_until(lambda: "big.png.reason.txt" in names(rule.folder / "failed"), what="big.png failed")

    async def recorded_failed() -> bool:  # the files move first, the ledger follows (completion._finish)
        entry = await service.store.ledger_get(ledger_key("animate", [sha]))
        return entry is not None and entry.outcome == "failed"

    await wait_until(recorded_failed, what="the failure recorded")
    failed = await service.store.ledger_get(ledger_key("animate", [sha]))
    assert failed is not None

    fail_tasks(world, False)
    write_png(rule.folder / "big.png", colour(21))  # the same bytes, dropped again
    await wait_until(lambda: "big.png" in names(rule.folder / "done"), what="the new attempt done")
    assert names(rule.folder / "duplicates") == set()
    assert submitted_shas(world.sim) == {sha: 2}
    assert any("new attempt" in e and f"job {failed.job_id} failed" in e for e in events), events

    async def recorded_done() -> bool:  # the files move first, the ledger follows (completion._finish)
        entry = await service.store.ledger_get(ledger_key("animate", [sha]))
        return entry is not None and entry.outcome == "done" and entry.job_id != failed.job_id

    await wait_until(recorded_done, what="the new attempt recorded as done")


async def test_the_same_image_done_is_still_a_duplicate(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    write_png(rule.folder / "a.png", colour(22))
    await wait_until(lambda: "a.png" in names(rule.folder / "done"), what="a.png done")
    write_png(rule.folder / "a.png", colour(22))
    await wait_until(lambda: "a.png" in names(rule.folder / "duplicates"), what="the second a.png a duplicate")
    assert service.status().rules[0].duplicates == 1


async def test_a_retried_drop_that_succeeds_moves_from_failed_to_done(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    fail_tasks(world, True)
    sha = write_png(rule.folder / "big.png", colour(23))
    await wait_until(lambda: "big.png.reason.txt" in names(rule.folder / "failed"), what="big.png failed")
    await wait_until(lambda: service.status().rules[0].failed == 1, what="counted as failed")
    entry = await service.store.ledger_get(ledger_key("animate", [sha]))
    assert entry is not None and entry.job_id is not None

    fail_tasks(world, False)
    retry = await service.engine.retry(entry.job_id)  # as `r` in the TUI or `qwentui retry` does
    assert retry.request["images"] == [str(rule.folder / "failed" / "big.png")]
    await wait_until(lambda: "big.png" in names(rule.folder / "done"), what="big.png moved to done/")
    assert names(rule.folder / "failed") == set()  # the old reason went with it
    assert "big.result.mp4" in names(rule.folder / "done")
    await wait_until(lambda: service.status().rules[0].done == 1, what="counted as done")
    status = service.status().rules[0]
    assert (status.done, status.failed) == (1, 0)
    entry = await service.store.ledger_get(ledger_key("animate", [sha]))
    assert entry is not None and (entry.outcome, entry.job_id, entry.reason) == ("done", retry.id, None)
    job = await service.store.get_job(retry.id)
    assert job is not None and job.state is JobState.DONE
    assert job.request["images"] == [str(rule.folder / "done" / "big.png")]  # a later retry finds the file


async def test_the_counts_survive_a_restart(world: World) -> None:
    rule = world.rule()
    store = await world.open_store()
    first = await world.service([rule], store=store)
    write_png(rule.folder / "one.png", colour(24))
    await wait_until(lambda: "one.png" in names(rule.folder / "done"), what="one.png done")
    write_png(rule.folder / "copy.png", colour(24))
    (rule.folder / "broken.png").write_bytes(b"not an image at all")

    def totals(service: DropFolderService) -> tuple[int, int, int, int]:
        s = service.status().rules[0]
        return s.taken, s.done, s.failed, s.duplicates

    await wait_until(lambda: totals(first) == (1, 1, 1, 1), what="one done, one duplicate, one refusal counted")
    await first.stop()

    second = await world.service([rule], store=store, engine=first.engine)
    assert totals(second) == (1, 1, 1, 1)


async def test_the_same_photo_in_two_rules_is_two_jobs(world: World) -> None:
    animate = world.rule()
    edit = world.rule("edit", Mode.EDIT, "wan2.6-image", "make it autumn")
    service = await world.service([animate, edit])
    sha = write_png(animate.folder / "photo.png", colour(25))
    await wait_until(lambda: "photo.png" in names(animate.folder / "done"), what="animated")
    write_png(edit.folder / "photo.png", colour(25))
    await wait_until(lambda: "photo.png" in names(edit.folder / "done"), what="edited, not a duplicate")
    assert names(edit.folder / "duplicates") == set()
    assert submitted_shas(world.sim) == {sha: 2}
    jobs = await service.store.list_jobs()
    assert sorted(j.source for j in jobs) == ["drop:animate", "drop:edit"]


async def test_the_migration_moves_old_ledger_keys_and_counts_what_they_did(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, target=6)  # the schema before the rule was part of the key
    sha = "ab" * 32
    conn.execute(
        "INSERT INTO drop_ledger(sha256, rule, original_name, claimed_at, outcome) "
        "VALUES (?, 'animate', 'a.png', 1, 'done')",
        (sha,),
    )
    conn.close()
    async with await Store.open(db) as store:
        entry = await store.ledger_get(ledger_key("animate", [sha]))
        assert entry is not None and entry.original_name == "a.png"
        assert await store.ledger_get(sha) is None
        assert (await store.drop_counts())["animate"]["done"] == 1


async def test_a_retried_drop_that_fails_again_says_so_in_its_reason(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    fail_tasks(world, True)
    sha = write_png(rule.folder / "big.png", colour(26))
    await wait_until(lambda: "big.png.reason.txt" in names(rule.folder / "failed"), what="big.png failed")

    async def recorded(outcome: str) -> LedgerEntry | None:
        entry = await service.store.ledger_get(ledger_key("animate", [sha]))
        return entry if entry is not None and entry.outcome == outcome else None

    await wait_until(lambda: recorded("failed"), what="the failure recorded")
    first = await recorded("failed")
    assert first is not None and first.job_id is not None
    retry = await service.engine.retry(first.job_id)  # the service still fails it
    reason = rule.folder / "failed" / "big.png.reason.txt"
    await wait_until(lambda: f"job {retry.id}" in reason.read_text(), what="the reason to tell the retry")
    assert f"retried from job {first.job_id}" in reason.read_text()
    assert names(rule.folder / "done") == set()

    async def recorded_retry() -> bool:  # the reason file is written first, the ledger follows
        entry = await recorded("failed")
        return entry is not None and entry.job_id == retry.id

    await wait_until(recorded_retry, what="the retry's failure recorded")
