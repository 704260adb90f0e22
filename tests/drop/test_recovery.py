"""Start-up recovery from every crash point, built as the database and folders a crash would leave (Oban-style).

The real kill -9 is in test_kill.py; here each post-crash state is constructed exactly, so every branch of
recovery is exercised on every run.
"""

from __future__ import annotations

from qwentui.core.catalog import Mode
from qwentui.core.dropfolder import DropFolderService
from qwentui.core.dropfolder.claims import ensure_folders
from qwentui.core.dropfolder.ledger import ledger_key
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.requests import GenerationRequest
from qwentui.core.store import Store
from tests.drop.conftest import World
from tests.drop.helpers import colour, names, submitted_shas, wait_until, write_png


async def test_every_crash_point_is_finished_without_a_second_submission(world: World) -> None:
    rule = world.rule()
    ensure_folders(rule)
    proc = rule.folder / ".processing"
    store = await world.open_store()
    offline = Engine(store, world.client(), EngineConfig(output_dir=world.tmp / "out"))  # never started

    # a: renamed into .processing/, then the crash (no ledger row); its sidecar came along
    sha_a = write_png(proc / "aaaaaaaaaaaa__a.png", colour(1))
    (proc / "aaaaaaaaaaaa__a.txt").write_text("a prompt from the sidecar")
    # b: claimed in the ledger, crash before engine.add
    sha_b = write_png(proc / "bbbbbbbbbbbb__b.png", colour(2))
    assert await store.ledger_claim(ledger_key("animate", [sha_b]), "animate", "b.png")
    # c: the job was created, crash before its id was recorded in the ledger
    sha_c = write_png(proc / "cccccccccccc__c.png", colour(3))
    assert await store.ledger_claim(ledger_key("animate", [sha_c]), "animate", "c.png")
    job_c = await offline.add(
        _request(proc / "cccccccccccc__c.png"), source="drop:animate", source_path=str(proc / "cccccccccccc__c.png")
    )
    # d: everything recorded, the job was still running at the crash
    sha_d = write_png(proc / "dddddddddddd__d.png", colour(4))
    assert await store.ledger_claim(ledger_key("animate", [sha_d]), "animate", "d.png")
    job_d = await offline.add(
        _request(proc / "dddddddddddd__d.png"), source="drop:animate", source_path=str(proc / "dddddddddddd__d.png")
    )
    await store.ledger_set(ledger_key("animate", [sha_d]), job_id=job_d.id)
    # e: the same bytes as a, renamed but never claimed: one of the two must end as a duplicate
    (proc / "eeeeeeeeeeee__e.png").write_bytes((proc / "aaaaaaaaaaaa__a.png").read_bytes())
    # an open claim whose file the user took out of .processing/ before any job existed
    assert await store.ledger_claim("f" * 64, "animate", "gone.png")

    service = await world.service([rule], store=store)
    wanted = {f"{n}{ext}" for n in "abcd" for ext in (".png", ".result.mp4")} | {"a.txt"}
    await wait_until(lambda: names(rule.folder / "done") == wanted, what="four drops done (with their results)")
    # the files move first; the ledger and the counters follow (completion._finish): wait for those too
    await wait_until(lambda: _counts(service) == (0, 4, 1), what="the counters of four done and one duplicate")
    assert submitted_shas(world.sim) == {sha_a: 1, sha_b: 1, sha_c: 1, sha_d: 1}
    assert names(rule.folder / "duplicates") == {"e.png", "e.png.reason.txt"}
    assert names(proc) == set()
    jobs = {j.id: j for j in await store.list_jobs()}
    assert len(jobs) == 4 and job_c.id in jobs and job_d.id in jobs  # c and d adopted, not recreated
    sidecar_job = next(j for j in jobs.values() if j.prompt == "a prompt from the sidecar")
    assert sidecar_job.id not in (job_c.id, job_d.id)
    for sha in (sha_a, sha_b, sha_c, sha_d):
        entry = await store.ledger_get(ledger_key("animate", [sha]))
        assert entry is not None and entry.outcome == "done" and entry.job_id in jobs
    assert await store.ledger_get("f" * 64) is None  # released: nothing was ever sent for it


async def test_a_job_that_ended_while_qwentui_was_down_is_filed_at_start(world: World) -> None:
    rule = world.rule()
    store = await world.open_store()
    first = await world.service([rule], store=store)
    write_png(rule.folder / "early.png", colour(9))
    await wait_until(lambda: first.status().rules[0].in_flight == 1, what="claimed")
    await first.stop()  # the drop service stops; the engine carries on and finishes the job
    await wait_until(lambda: _all_done(store), what="job done while the drop service was down")
    assert "early.png" not in names(rule.folder / "done")
    await world.service([rule], store=store, engine=first.engine)
    await wait_until(lambda: "early.png" in names(rule.folder / "done"), what="filed at the next start")
    assert list(submitted_shas(world.sim).values()) == [1]


def _counts(service: DropFolderService) -> tuple[int, int, int]:
    status = service.status().rules[0]
    return (status.in_flight, status.done, status.duplicates)


async def _all_done(store: Store) -> bool:
    jobs = await store.list_jobs()
    return bool(jobs) and all(j.state.value == "done" for j in jobs)


def _request(path: object) -> GenerationRequest:
    return GenerationRequest(mode=Mode.I2V, model="wan2.6-i2v-flash", prompt="slow push-in", images=[str(path)])
