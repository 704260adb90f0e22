"""The drop folder end to end: real files, a real SQLite database, the real engine on the in-process simulator."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import DropFolderService
from qwentui.core.dropfolder.ledger import ledger_key
from qwentui.core.states import JobState
from qwentui.core.store import Store
from tests.drop.conftest import World
from tests.drop.helpers import (
    bomb_png,
    colour,
    file_sha,
    names,
    png_bytes,
    submitted_shas,
    wait_until,
    write_png,
)
from tests.helpers import wait_for

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: the drop service over real folders


async def test_a_dropped_image_becomes_a_job_and_ends_in_done_with_its_result(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    sha = write_png(rule.folder / "cat.png")
    await wait_until(lambda: service.status().rules[0].done == 1, what="cat.png done")
    assert "cat.result.mp4" in names(rule.folder / "done")  # the result, linked beside the original
    assert submitted_shas(world.sim) == {sha: 1}
    assert names(rule.folder / ".processing") == set()
    entry = await service.store.ledger_get(ledger_key("animate", [sha]))
    assert entry is not None and entry.outcome == "done" and entry.job_id is not None
    job = await service.store.get_job(entry.job_id)
    assert job is not None and job.state is JobState.DONE and job.source == "drop:animate"
    assert job.prompt == "slow push-in"
    assert job.request["images"] == [str(rule.folder / "done" / "cat.png")]  # a retry finds the moved input
    status = service.status().rule("animate")
    assert status is not None and (status.taken, status.done, status.in_flight) == (1, 1, 0)


async def test_slow_write_is_submitted_once_after_it_is_complete(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule], quiet=0.6)
    data = png_bytes((10, 120, 200), (1200, 1200))
    target = rule.folder / "slow.png"
    last_write: list[float] = []

    def writer() -> None:  # a copy that trickles in, each piece after the service has looked at the last one
        with open(target, "wb") as fh:
            step = len(data) // 15 + 1
            for i in range(0, len(data), step):
                fh.write(data[i : i + step])
                fh.flush()
                wait_for(intake_looked(service), timeout=30, what="the intake to look at the piece")
        last_write.append(time.time())

    thread = threading.Thread(target=writer)
    thread.start()
    await asyncio.to_thread(thread.join, 30)
    await wait_until(lambda: "slow.png" in names(rule.folder / "done"), what="slow.png in done/")
    assert submitted_shas(world.sim) == {file_sha(rule.folder / "done" / "slow.png"): 1}
    (job,) = await service.store.list_jobs()
    assert job.created_at > last_write[0]  # created only after the last byte was written


async def test_temp_name_then_rename_is_submitted_once(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    data = png_bytes((1, 2, 3))
    for temp in ("photo.png.part", "photo.png.crdownload", ".photo.png.tmp", "~$photo.png", "photo.tmp"):
        (rule.folder / temp).write_bytes(data[: len(data) // 2])
    await looked_again(service)  # temp names are never taken: not even tracked as waiting
    assert service.status().rules[0].waiting == 0
    assert names(rule.folder / ".processing") == set() and submitted_shas(world.sim) == {}
    (rule.folder / "photo.png.part").write_bytes(data)
    os.replace(rule.folder / "photo.png.part", rule.folder / "photo.png")
    await wait_until(lambda: "photo.png" in names(rule.folder / "done"), what="photo.png in done/")
    os.utime(rule.folder / "done" / "photo.png")  # a metadata touch after the claim changes nothing
    await looked_again(service)
    assert service.status().rules[0].waiting == 0
    assert submitted_shas(world.sim) == {file_sha(rule.folder / "done" / "photo.png"): 1}
    assert len(await service.store.list_jobs()) == 1
    assert {"photo.png.crdownload", ".photo.png.tmp", "~$photo.png", "photo.tmp"} <= names(rule.folder)


async def test_the_same_bytes_twice_go_to_duplicates(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    sha = write_png(rule.folder / "a.png", (9, 9, 9))
    await wait_until(lambda: "a.png" in names(rule.folder / "done"), what="a.png done")
    write_png(rule.folder / "b.png", (9, 9, 9))
    await wait_until(lambda: "b.png" in names(rule.folder / "duplicates"), what="b.png in duplicates/")
    reason = (rule.folder / "duplicates" / "b.png.reason.txt").read_text()
    assert "already submitted" in reason and "animate/a.png" in reason
    assert submitted_shas(world.sim) == {sha: 1}
    assert service.status().rules[0].duplicates == 1


async def test_two_copies_dropped_together_make_one_job(world: World) -> None:
    rule = world.rule()
    await world.service([rule])
    data = png_bytes((5, 6, 7))
    (rule.folder / "one.png").write_bytes(data)
    (rule.folder / "two.png").write_bytes(data)
    await wait_until(
        lambda: len(names(rule.folder / "duplicates")) == 2 and len(names(rule.folder / "done")) == 2,
        what="one done, one duplicate",
    )
    assert list(submitted_shas(world.sim).values()) == [1]


async def test_bad_files_end_in_failed_with_their_reason(world: World, tmp_path: Path) -> None:
    rule = world.rule()
    service = await world.service([rule])
    good = png_bytes((40, 50, 60))
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes((1, 1, 1)))
    (rule.folder / "empty.png").write_bytes(b"")
    (rule.folder / "notes.png").write_text("this is not a picture at all\n")
    (rule.folder / "cut.png").write_bytes(good[: len(good) // 2])
    write_png(rule.folder / "tiny.png", size=(1, 1))
    (rule.folder / "bomb.png").write_bytes(bomb_png())
    (rule.folder / "link.png").symlink_to(outside)
    (rule.folder / "report.pdf").write_bytes(b"%PDF-1.4")
    expected = {
        "empty.png": "empty",
        "notes.png": "not an image",
        "cut.png": "truncated",
        "tiny.png": "1x1 px",
        "bomb.png": "decompression bomb",
        "link.png": "outside the drop folder",
        "report.pdf": "not an image type",
    }
    failed = rule.folder / "failed"
    await wait_until(
        lambda: all(f"{n}.reason.txt" in names(failed) for n in expected), timeout=30, what="every bad file in failed/"
    )
    for name, words in expected.items():
        assert name in names(failed)
        reason = (failed / f"{name}.reason.txt").read_text()
        assert words in reason.lower(), (name, reason)
        assert reason.count("\n") == 1  # one sentence, one line
    assert submitted_shas(world.sim) == {}
    assert outside.exists() and (failed / "link.png").is_symlink()  # the link moved, its target untouched
    # the files move first, the board counts them after
    await wait_until(lambda: service.status().rules[0].failed == len(expected), what="every bad file counted")
    assert await service.store.list_jobs() == []


async def test_a_link_inside_the_folder_is_taken_as_a_copy(world: World) -> None:
    rule = world.rule()
    await world.service([rule])
    inner = rule.folder / "done"
    sha = write_png(inner / "kept.png", (77, 1, 1))
    (rule.folder / "alias.png").symlink_to(inner / "kept.png")
    await wait_until(lambda: "alias.png" in names(rule.folder / "done"), what="alias.png done")
    assert not (rule.folder / "done" / "alias.png").is_symlink()
    assert submitted_shas(world.sim) == {sha: 1}


async def test_sidecars_set_the_prompt_and_parameters(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    (rule.folder / "dog.txt").write_text("the dog wags its tail\n")
    (rule.folder / "dog.json").write_text('{"duration": 3, "seed": 42, "prompt": "ignored: the .txt wins"}')
    write_png(rule.folder / "dog.png", (3, 3, 3))
    await wait_until(lambda: "dog.png" in names(rule.folder / "done"), what="dog done")
    (job,) = await service.store.list_jobs()
    assert job.prompt == "the dog wags its tail"
    assert job.request["duration"] == 3 and job.request["seed"] == 42
    assert {"dog.txt", "dog.json"} <= names(rule.folder / "done")  # sidecars travel with their image
    body = world.sim.submissions[-1].body
    assert body["input"]["prompt"] == "the dog wags its tail" and body["parameters"]["duration"] == 3


async def test_a_bad_sidecar_fails_before_anything_is_sent_and_the_image_may_come_again(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule])
    (rule.folder / "fox.json").write_text('{"duration": 99}')
    sha = write_png(rule.folder / "fox.png", (8, 8, 8))
    await wait_until(lambda: "fox.png.reason.txt" in names(rule.folder / "failed"), what="fox failed")
    assert "duration" in (rule.folder / "failed" / "fox.png.reason.txt").read_text()
    assert submitted_shas(world.sim) == {}
    assert await service.store.ledger_get(ledger_key("animate", [sha])) is None  # released: nothing was sent
    write_png(rule.folder / "fox.png", (8, 8, 8))  # fixed (no sidecar now): taken again
    await wait_until(lambda: "fox.png" in names(rule.folder / "done"), what="fox done")
    assert submitted_shas(world.sim) == {sha: 1}


async def test_a_failed_task_moves_the_file_to_failed_with_the_service_reason(world: World) -> None:
    world.sim.config.failure_rate = 1.0
    world.sim.config.failure_code = "DataInspectionFailed"
    rule = world.rule()
    await world.service([rule])
    write_png(rule.folder / "sad.png", (4, 4, 4))
    await wait_until(lambda: "sad.png.reason.txt" in names(rule.folder / "failed"), what="sad failed")
    reason = (rule.folder / "failed" / "sad.png.reason.txt").read_text()
    assert reason.startswith("job 1 failed")


async def test_kf2v_pairs_wait_for_both_frames(world: World) -> None:
    rule = world.rule("frames", Mode.KF2V, "wan2.2-kf2v-flash", "morph")
    service = await world.service([rule])
    first = write_png(rule.folder / "walk_first.png", (1, 100, 1))
    await wait_until(lambda: service.status().rules[0].waiting == 1, what="walk_first.png seen")
    # lonely.png, seen after it, is refused once still for the quiet period; the half has had as many looks,
    # so had a half been taken alone it would be gone by now
    write_png(rule.folder / "lonely.png", (2, 2, 2))
    await wait_until(lambda: "lonely.png.reason.txt" in names(rule.folder / "failed"), what="lonely.png refused")
    assert submitted_shas(world.sim) == {} and service.status().rules[0].waiting == 1
    assert await service.store.list_jobs() == []
    last = write_png(rule.folder / "walk_last.png", (1, 1, 100))
    await wait_until(
        lambda: {"walk_first.png", "walk_last.png", "walk.result.mp4"} <= names(rule.folder / "done"), what="pair done"
    )
    assert submitted_shas(world.sim) == {first: 1, last: 1}
    body = world.sim.submissions[0].body["input"]
    first_upload = world.sim.uploads.get(body["first_frame_url"])
    last_upload = world.sim.uploads.get(body["last_frame_url"])
    assert first_upload is not None and first_upload.sha256 == first
    assert last_upload is not None and last_upload.sha256 == last
    assert "NAME_first" in (rule.folder / "failed" / "lonely.png.reason.txt").read_text()


async def test_edit_rule_with_copied_outputs(world: World) -> None:
    rule = world.rule("edit", Mode.EDIT, "wan2.6-image", "make it winter", outputs="copy")
    await world.service([rule])
    write_png(rule.folder / "house.png", (120, 90, 60))
    await wait_until(lambda: "house.result.png" in names(rule.folder / "done"), what="house done")
    result = rule.folder / "done" / "house.result.png"
    assert not result.is_symlink() and result.stat().st_nlink == 1  # a real copy, not a link


async def test_pause_keeps_files_in_place_until_resume(world: World) -> None:
    rule, other = world.rule(), world.rule("other")
    service = await world.service([rule, other])
    service.pause("animate")
    assert service.status().rules[0].state == "paused"
    write_png(rule.folder / "later.png", (6, 6, 6))
    await wait_until(lambda: service.status().rules[0].waiting == 1, what="later.png seen")
    # witness.png, seen after it in a rule that is not paused, is taken; later.png has been there as long,
    # so had the pause not held it, it would be gone by now
    witness = write_png(other.folder / "witness.png", (7, 7, 7))
    await wait_until(lambda: "witness.png" in names(other.folder / "done"), what="witness.png done")
    assert "later.png" in names(rule.folder) and submitted_shas(world.sim) == {witness: 1}
    service.resume("animate")
    await wait_until(lambda: "later.png" in names(rule.folder / "done"), what="later done after resume")


async def test_files_dropped_while_down_are_taken_at_the_next_start_none_twice(world: World) -> None:
    rule = world.rule()
    rule.folder.mkdir(parents=True)  # files that were there before qwentui ever ran
    before = [write_png(rule.folder / f"early{i}.png", colour(i)) for i in range(3)]
    store = await Store.open(world.tmp / "jobs.db")
    engine = await world.engine(store)
    service = await world.service([rule], store=store, engine=engine)
    await wait_until(lambda: len(names(rule.folder / "done")) == 6, what="first run done")
    await service.stop()
    await engine.stop()
    await store.close()  # the process is gone: nothing runs

    # while nothing runs: new files, and a copy of one already done
    later = [write_png(rule.folder / f"late{i}.png", colour(100 + i)) for i in range(3)]
    (rule.folder / "again.png").write_bytes((rule.folder / "done" / "early0.png").read_bytes())

    store = await world.open_store()
    await world.service([rule], store=store)
    await wait_until(lambda: len(names(rule.folder / "done")) == 12, what="second run done")
    await wait_until(lambda: "again.png" in names(rule.folder / "duplicates"), what="copy in duplicates/")
    assert submitted_shas(world.sim) == {sha: 1 for sha in before + later}


async def test_events_missed_are_caught_by_the_rescan(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule], rescan=0.5)
    service.watcher._wanted = lambda change, path: False  # type: ignore[method-assign]  # events are lost
    write_png(rule.folder / "missed.png", (11, 12, 13))
    await wait_until(lambda: "missed.png" in names(rule.folder / "done"), what="rescan found it")


async def test_polling_mode_for_network_mounts(world: World) -> None:
    rule = world.rule()
    service = await world.service([rule], poll=0.2, rescan=300)
    write_png(rule.folder / "nfs.png", (21, 22, 23))
    await wait_until(lambda: "nfs.png" in names(rule.folder / "done"), what="polled file done")
    assert service.status().polling


async def test_a_job_canceled_by_the_user_files_its_image_in_failed(world: World) -> None:
    world.sim.config.pending_seconds = 600.0
    rule = world.rule()
    service = await world.service([rule])
    write_png(rule.folder / "never.png", (31, 32, 33))
    await wait_until(lambda: service.status().rules[0].in_flight == 1, what="claimed")
    (job,) = await service.store.list_jobs()
    await wait_until(lambda: _state(service.store, job.id, JobState.PENDING), what="pending")
    await service.engine.cancel(job.id)
    await wait_until(lambda: "never.png.reason.txt" in names(rule.folder / "failed"), what="filed as failed")
    assert "canceled" in (rule.folder / "failed" / "never.png.reason.txt").read_text()


async def test_names_with_double_underscores_survive(world: World) -> None:
    rule = world.rule()
    await world.service([rule])
    write_png(rule.folder / "my__cat.png", (41, 42, 43))
    await wait_until(lambda: "my__cat.png" in names(rule.folder / "done"), what="my__cat.png done")


async def looked_again(service: DropFolderService) -> None:
    """Until a full rescan that began now has been handed over and a whole intake round has come after it:
    every file in the folders by now has been listed and looked at, so what was not taken was left on purpose."""
    now = time.monotonic()
    service.rescan()
    await wait_until(lambda: service.watcher.last_scan >= now, what="a rescan")
    await wait_until(intake_looked(service), what="an intake round after the rescan")


def intake_looked(service: DropFolderService) -> Callable[[], bool]:
    """A check that holds once the intake has finished two more rounds: the second began after this call, so
    it looked at every path tracked by now."""
    target = service.intake.rounds + 2
    return lambda: service.intake.rounds >= target


async def _state(store: Store, job_id: int, state: JobState) -> bool:
    job = await store.get_job(job_id)
    return job is not None and job.state is state
