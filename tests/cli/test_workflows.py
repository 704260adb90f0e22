"""From the command line, against the simulator on loopback: an image, animated, extended twice, assembled into
one film (`--chain`); the film is a job whose lineage goes back to the image; then the results are rated and
exported by their marks. Errors are one line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from qwentui.cli import main
from qwentui.core.catalog import Mode
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from qwentui.sim import BackgroundServer, SimConfig, running

KEY = "sk-flowtest00000000000000000000000000"
SIM = {"pending_seconds": 0.02, "running_seconds": 0.05, "seed": 9, "task_query_qps": None}


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with running(SimConfig(**SIM)) as srv:  # type: ignore[arg-type]
        yield srv


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("QWEN_API_KEY", "DASHSCOPE_API_KEY", "QWEN_BASE_URL", "QWEN_REGION", "QWENTUI_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def qwentui(env: Path, server: BackgroundServer, *args: str) -> int:
    base = ["--db", str(env / "jobs.db"), "--output", str(env / "out"), "--time-scale", "0.001"]
    return main([*base, "--base-url", server.base_url, *args])


def job_id_of(err: str) -> int:
    """The id in the "job N queued: ..." line."""
    (line,) = [x for x in err.splitlines() if x.startswith("job ") and " queued: " in x]
    return int(line.split()[1])


async def read(db: Path, job_id: int) -> tuple[Job, list[tuple[int, str]], list[str]]:
    async with await Store.open(db) as store:
        job = await store.get_job(job_id)
        assert job is not None
        links = [(lk.parent_id, lk.relation) for lk in await store.parents(job_id)]
        files = [a.path or "" for a in await store.assets(job_id)]
        return job, links, files


def test_image_animate_extend_extend_assemble(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qwentui(env, server, "submit", "a lighthouse in a storm", "--wait") == 0
    image = job_id_of(capsys.readouterr().err)
    assert qwentui(env, server, "animate", str(image), "--duration", "2", "--wait") == 0
    clip = job_id_of(capsys.readouterr().err)
    assert qwentui(env, server, "extend", str(clip), "--wait") == 0
    longer = job_id_of(capsys.readouterr().err)
    assert qwentui(env, server, "extend", str(longer), "--prompt", "the storm clears", "--wait") == 0
    out, err = capsys.readouterr()
    longest = job_id_of(err)
    assert out.strip().endswith(".mp4")  # --wait prints the new clip's file

    film_path = env / "films" / "storm.mp4"
    assert qwentui(env, server, "assemble", "--chain", str(longest), "-o", str(film_path)) == 0
    out, _ = capsys.readouterr()
    film = int(out.split(":")[0].removeprefix("job "))
    assert "3 clips" in out and "6.00 s" in out  # three clips of 2 s

    db = env / "jobs.db"
    for child, parent, relation in (
        (clip, image, "animate"),
        (longer, clip, "extend"),
        (longest, longer, "extend"),
    ):
        job, links, _ = asyncio.run(read(db, child))
        assert links == [(parent, relation)]
    job, links, files = asyncio.run(read(db, film))
    assert links == [(clip, "assemble"), (longer, "assemble"), (longest, "assemble")]
    assert job.mode is Mode.ASSEMBLE and job.state is JobState.DONE
    assert files == [str(film_path)]
    with av.open(str(film_path)) as inp:
        stream = inp.streams.video[0]
        frames = sum(1 for _ in inp.decode(stream))
        assert stream.average_rate is not None
        assert abs(frames / float(stream.average_rate) - 6.0) <= 1 / float(stream.average_rate)

    # culling, then the keepers out as a zip with their sidecars
    assert qwentui(env, server, "rate", str(clip), str(longest), "5") == 0
    assert qwentui(env, server, "rate", str(longest), "reject") == 0
    assert qwentui(env, server, "rate", str(film), "star") == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        f"job {clip}: ★★★★★",
        f"job {longest}: ★★★★★",
        f"job {longest}: ★★★★★ rejected",
        f"job {film}: starred",
    ]
    assert qwentui(env, server, "export", "--min-rating", "4", "-o", str(env / "best.zip")) == 0
    with zipfile.ZipFile(env / "best.zip") as zf:
        sidecars = [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]
    assert [s["job_id"] for s in sidecars] == [clip]  # the rejected one stays out
    assert sidecars[0]["lineage"] == [{"parent_id": image, "relation": "animate", "position": 0}]
    assert sidecars[0]["task_id"] and sidecars[0]["model"]
    assert qwentui(env, server, "export", str(image), str(film), "-o", str(env / "picked")) == 0
    assert len(list((env / "picked").iterdir())) == 4
    capsys.readouterr()

    # the tree both ways, from the middle of the chain
    assert qwentui(env, server, "lineage", str(longer)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"job {longer} (i2v, done)")
    assert f"  extended from job {clip} (i2v, done)" in lines
    assert f"    animated from job {image} (t2i, done)" in lines
    assert f"  extended as job {longest} (i2v, done)" in lines
    assert f"  part of job {film} (assemble, done)" in lines
    assert qwentui(env, server, "lineage", str(image), "--family") == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [int(r.split()[0]) for r in rows] == [image, clip, longer, longest, film]


def test_errors_are_one_line(env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["extend", "404"], "no job 404"),
        (["rate", "404", "star"], "job 404 does not exist"),
        (["export", "404", "-o", str(env / "x")], "nothing to export"),
        (["export", "-o", str(env / "x")], "give job ids"),
        (["assemble", "404", "-o", str(env / "film.mp4")], "no job 404"),
        (["assemble", "-o", str(env / "film.mp4")], "give the clips"),
        (["assemble", "1", "-o", str(env / "film.mov")], "something.mp4"),
        (["assemble", str(env / "nothing.mp4"), "-o", str(env / "film.mp4")], "nothing.mp4"),
        (["lineage", "404"], "job 404 does not exist"),
    ]
    for args, message in cases:
        assert qwentui(env, server, *args) == 1, args
        _, err = capsys.readouterr()
        (line,) = err.strip().splitlines()
        assert line.startswith("qwentui: error: ") and message in line, (args, line)
    with pytest.raises(SystemExit):
        qwentui(env, server, "rate", "1", "7")
    assert "invalid choice" in capsys.readouterr().err
