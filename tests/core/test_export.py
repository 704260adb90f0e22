"""Export: every result file and a JSON sidecar for each (request, model, seed, task id, usage), into a folder
or one zip; what cannot be exported is named, and nothing half written is left under the final name."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from qwentui.core import provenance
from qwentui.core.culling import mark
from qwentui.core.export import ExportError, export
from qwentui.core.states import JobState
from qwentui.core.store import Store
from tests.core.clips import make_mp4


async def finished_job(store: Store, tmp_path: Path, files: list[str], seed: int) -> int:
    job = await store.add_job(
        {"mode": "t2i", "model": "wan2.6-t2i", "prompt": f"a kite, seed {seed}", "seed": seed, "n": len(files)},
        state=JobState.DONE,
        task_id=f"task-{seed}",
        usage={"image_count": len(files)},
    )
    for idx, name in enumerate(files, start=1):  # results are numbered from 1, as the fetcher does
        path = tmp_path / "results" / f"{job.id}_{name}"
        path.parent.mkdir(exist_ok=True)
        if path.suffix == ".mp4":
            make_mp4(path, 1)
        else:
            path.write_bytes(f"picture {job.id} {idx}".encode())
        await store.add_asset(job.id, idx, "video" if path.suffix == ".mp4" else "image", path=path, sha256="x")
    return job.id


def check_sidecar(data: dict[str, object], job_id: int, seed: int, file: str) -> None:
    assert data["job_id"] == job_id and data["file"] == file
    assert data["model"] == "wan2.6-t2i" and data["seed"] == seed and data["task_id"] == f"task-{seed}"
    assert data["usage"] == {"image_count": 2} or data["usage"] == {"image_count": 1}
    request = data["request"]
    assert isinstance(request, dict) and request["prompt"] == f"a kite, seed {seed}"


async def test_a_folder_gets_every_file_and_a_sidecar_each(store: Store, tmp_path: Path) -> None:
    a = await finished_job(store, tmp_path, ["1.png", "2.png"], seed=11)
    b = await finished_job(store, tmp_path, ["1.mp4"], seed=22)
    await mark(store, b, "star")
    dest = tmp_path / "picked"
    report = await export(store, [a, b], dest)
    names = [f"{a}_1.png", f"{a}_2.png", f"{b}_1.mp4"]
    assert report.skipped == []
    assert report.written == [n for name in names for n in (name, name + ".json")]
    assert sorted(p.name for p in dest.iterdir()) == sorted(report.written)
    for name in names:
        assert (dest / name).read_bytes() == (tmp_path / "results" / name).read_bytes()
        job_id, seed = (a, 11) if name.startswith(f"{a}_") else (b, 22)
        check_sidecar(json.loads((dest / (name + ".json")).read_text()), job_id, seed, name)
    assert json.loads((dest / f"{b}_1.mp4.json").read_text())["starred"] is True
    # the same record as an output's own: `qwentui submit --from` takes the sidecar
    record = provenance.read(dest / f"{a}_1.png.json")
    assert (record.job_id, record.index, record.seed, record.task_id) == (a, 1, 11, "task-11")
    assert record.to_request().prompt == "a kite, seed 11"


async def test_a_zip_holds_the_same(store: Store, tmp_path: Path) -> None:
    a = await finished_job(store, tmp_path, ["1.png", "2.png"], seed=11)
    dest = tmp_path / "out" / "picked.zip"
    report = await export(store, [a], dest)
    with zipfile.ZipFile(dest) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == report.written
        for name in (f"{a}_1.png", f"{a}_2.png"):
            assert zf.read(name) == (tmp_path / "results" / name).read_bytes()
            assert zf.getinfo(name).compress_type == zipfile.ZIP_STORED  # already compressed
            check_sidecar(json.loads(zf.read(name + ".json")), a, 11, name)
    assert [p.name for p in dest.parent.iterdir()] == ["picked.zip"]  # no temporary file left


async def test_what_cannot_be_exported_is_named(store: Store, tmp_path: Path) -> None:
    good = await finished_job(store, tmp_path, ["1.png"], seed=1)
    gone = await finished_job(store, tmp_path, ["1.png"], seed=2)
    (tmp_path / "results" / f"{gone}_1.png").unlink()
    queued = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i", "prompt": "later"})
    report = await export(store, [good, gone, queued.id, 999], tmp_path / "dest")
    assert report.written == [f"{good}_1.png", f"{good}_1.png.json"]
    assert [line.split(":")[0] for line in report.skipped] == [f"job {gone}", f"job {queued.id}", "job 999"]
    assert "missing on disk" in report.skipped[0] and "no results (queued)" in report.skipped[1]
    with pytest.raises(ExportError, match="nothing to export: job 999: no such job"):
        await export(store, [999], tmp_path / "none")
    assert not (tmp_path / "none").exists()
