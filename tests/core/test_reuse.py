"""Which reference a new job reuses from a finished one (core.reuse), on a real store and real files: the result
URL while it lives (by its own `Expires=` and by the job's record), else the downloaded file, else a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from qwentui.core.reuse import (
    URL_MARGIN,
    NothingToReuse,
    expired_references,
    image_to_reuse,
    outputs,
    refresh_references,
)
from qwentui.core.states import JobState
from qwentui.core.store import Asset, Job, Store

NOW = 1_000_000.0


def signed(name: str, expires: float) -> str:
    return f"https://out.example.com/{name}?Expires={int(expires)}&OSSAccessKeyId=sim&Signature=abc"


async def finished(
    store: Store, tmp_path: Path, urls: list[str], *, record_expiry: float | None = None, download: bool = True
) -> tuple[Job, list[Asset]]:
    """A DONE image job with `urls` as its results, each downloaded to a real PNG (unless `download` is off)."""
    job = await store.add_job({"mode": "t2i", "prompt": "a fox"}, "t2i", "wan2.6-t2i", "a fox", state=JobState.DONE)
    job = await store.update_fields(
        job.id, results=[{"kind": "image", "url": u} for u in urls], results_expire_at=record_expiry
    )
    assets = []
    for idx, url in enumerate(urls, start=1):
        path = None
        if download:
            path = tmp_path / f"{job.id}_{idx}.png"
            Image.new("RGB", (512, 512), (idx * 40, 0, 0)).save(path)
        assets.append(await store.add_asset(job.id, idx, "image", url=url, path=path))
    return job, assets


async def test_a_live_url_is_reused_and_a_stale_one_gives_way_to_the_file(store: Store, tmp_path: Path) -> None:
    live = signed("a.png", NOW + 3600)
    job, assets = await finished(store, tmp_path, [live])
    assert image_to_reuse(job, assets, NOW) == live

    # the URL says it expires in 10 s (the simulator's --result-url-ttl 10), though the job records 24 h
    soon = signed("b.png", NOW + 10)
    job, assets = await finished(store, tmp_path, [soon], record_expiry=NOW + 86_400)
    assert image_to_reuse(job, assets, NOW) == assets[0].path
    # within the margin counts as expired; just outside it does not
    edge = signed("c.png", NOW + URL_MARGIN + 5)
    job, assets = await finished(store, tmp_path, [edge])
    assert image_to_reuse(job, assets, NOW) == edge
    assert image_to_reuse(job, assets, NOW + 10) == assets[0].path


async def test_the_jobs_recorded_expiry_counts_for_urls_that_carry_none(store: Store, tmp_path: Path) -> None:
    plain = "https://out.example.com/plain.png"
    job, assets = await finished(store, tmp_path, [plain], record_expiry=NOW + 100)
    assert image_to_reuse(job, assets, NOW) == assets[0].path
    assert image_to_reuse(job, assets, NOW - 3600) == plain


async def test_refusals_say_why(store: Store, tmp_path: Path) -> None:
    job, assets = await finished(store, tmp_path, [signed("gone.png", NOW - 1)], download=False)
    with pytest.raises(NothingToReuse, match="neither a valid URL nor a local file"):
        image_to_reuse(job, assets, NOW)
    running = await store.add_job({"mode": "t2i", "prompt": "x"}, "t2i", "wan2.6-t2i", "x", state=JobState.QUEUED)
    with pytest.raises(NothingToReuse, match="no finished image yet"):
        image_to_reuse(running, [], NOW)


async def test_the_image_looked_at_is_the_one_reused(store: Store, tmp_path: Path) -> None:
    urls = [signed(f"{i}.png", NOW + 3600) for i in range(1, 4)]
    job, assets = await finished(store, tmp_path, urls)
    assert [o.idx for o in outputs(job, assets)] == [1, 2, 3]
    assert image_to_reuse(job, assets, NOW, prefer=2) == urls[1]
    assert image_to_reuse(job, assets, NOW, prefer=9) == urls[0]


async def test_duplicate_swaps_only_the_parents_stale_urls(store: Store, tmp_path: Path) -> None:
    stale, live = signed("s.png", NOW + 5), signed("l.png", NOW + 3600)
    parent, assets = await finished(store, tmp_path, [stale, live])
    other = signed("other.png", NOW + 5)  # not a result we know: stays, and expired_references names it
    refs = [stale, live, "/pictures/local.png", other]
    fresh = refresh_references(refs, [(parent, assets)], NOW)
    assert fresh == [assets[0].path, live, "/pictures/local.png", other]
    [problem] = expired_references(fresh, NOW)
    assert problem.field == "images[4]" and "expires at" in problem.message


def test_expired_references_ignore_local_files_and_unsigned_urls() -> None:
    assert expired_references(["/a.png", "https://example.com/cat.png", signed("x", NOW + 7200)], NOW) == []
    [problem] = expired_references([signed("x", NOW - 60)], NOW)
    assert "expired at" in problem.message and "F4" in problem.message
