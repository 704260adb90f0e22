"""Extend a finished video against the simulator: the new i2v job's first frame, as the service received it,
is the source's last frame (pixels compared); settings carry over; a chain of extends is found again; a model
that reads a clip continues the clip itself."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from qwentui.core.catalog import Mode
from qwentui.core.engine import Engine
from qwentui.core.extend import ExtendError, Overrides, extend, prepare_extend
from qwentui.core.lineage import Relation, chain
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job
from tests.helpers.sim import SimHarness


async def finished(engine: Engine, request: GenerationRequest) -> Job:
    job = await engine.add(request)
    (job,) = await engine.wait_for([job.id], timeout=60)
    assert job.state is JobState.DONE, job.error_message
    return job


async def video_of(engine: Engine, job: Job) -> Path:
    (asset,) = [a for a in await engine.store.assets(job.id) if a.kind == "video"]
    assert asset.path
    return Path(asset.path)


def frames_of(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as inp:
        return [f.to_image() for f in inp.decode(video=0)]


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel value, 0-255."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def received(sim: SimHarness, job: Job, where: str) -> bytes:
    """The bytes the simulated service received for the job's input `where` (an oss:// upload)."""
    assert job.task_id
    task = sim.sim.task(job.task_id)
    assert task is not None
    inp = task.body["input"]
    assert isinstance(inp, dict)
    if where == "img_url":
        url = inp["img_url"]
    else:
        (url,) = [m["url"] for m in inp["media"] if m["type"] == where]
    upload = sim.sim.uploads.get(url)
    assert upload is not None and upload.data is not None, url
    return upload.data


T2V = GenerationRequest(
    mode=Mode.T2V, model="wan2.6-t2v", prompt="a paper boat drifts", size="1280*720", duration=3, seed=42
)


async def test_extend_starts_on_the_last_frame_of_the_source(engine: Engine, sim: SimHarness) -> None:
    source = await finished(engine, T2V)
    clip = await video_of(engine, source)
    frames = frames_of(clip)
    assert len(frames) >= 2 and difference(frames[0], frames[-1]) > 1  # the clip moves: first != last

    job = await extend(engine, source.id)
    assert (job.mode, job.model, job.source) == (Mode.I2V, "wan2.6-i2v", "extend")  # the t2v model's sibling
    assert job.request["prompt"] == "a paper boat drifts"
    assert (job.request["duration"], job.request["resolution"], job.request["seed"]) == (3, "720P", 42)
    (link,) = await engine.store.parents(job.id)
    assert (link.parent_id, link.relation) == (source.id, Relation.EXTEND)

    job = (await engine.wait_for([job.id], timeout=60))[0]
    assert job.state is JobState.DONE
    first_frame = Image.open(io.BytesIO(received(sim, job, "img_url")))
    assert first_frame.size == frames[-1].size
    assert difference(first_frame, frames[-1]) < 1.0  # the same picture (PNG: lossless after decoding)
    assert difference(first_frame, frames[0]) > 1.0


async def test_extends_chain_and_overrides_win(engine: Engine) -> None:
    source = await finished(engine, T2V)
    second = await extend(engine, source.id, Overrides(prompt="the boat reaches the shore", duration=5))
    assert (second.request["prompt"], second.request["duration"]) == ("the boat reaches the shore", 5)
    second = (await engine.wait_for([second.id], timeout=60))[0]
    third = await extend(engine, second.id, Overrides(model="wan2.6-i2v-flash", seed=7))
    assert (third.model, third.request["prompt"], third.request["seed"]) == (
        "wan2.6-i2v-flash",
        "the boat reaches the shore",
        7,
    )
    assert await chain(engine.store, third.id) == [source.id, second.id, third.id]


async def test_continue_sends_the_clip_to_a_model_that_reads_it(engine: Engine, sim: SimHarness) -> None:
    source = await finished(engine, T2V)
    job = await extend(engine, source.id, continue_clip=True)
    assert (job.model, job.source) == ("wan2.7-i2v", "continue")
    assert job.request["media"] == [{"type": "first_clip", "url": str(await video_of(engine, source))}]
    (link,) = await engine.store.parents(job.id)
    assert link.relation == Relation.CONTINUE
    job = (await engine.wait_for([job.id], timeout=60))[0]
    assert job.state is JobState.DONE, job.error_message
    assert received(sim, job, "first_clip") == (await video_of(engine, source)).read_bytes()


async def test_what_cannot_be_extended_says_why(engine: Engine, tmp_path: Path) -> None:
    image = await finished(engine, GenerationRequest(mode=Mode.T2I, prompt="a boat"))
    with pytest.raises(ExtendError, match="made no video"):
        await extend(engine, image.id)
    queued = await engine.store.add_job(T2V.to_dict())
    with pytest.raises(ExtendError, match="only a finished video"):
        await extend(engine, queued.id)
    with pytest.raises(ExtendError, match="no job 404"):
        await extend(engine, 404)
    source = await finished(engine, T2V)
    with pytest.raises(ExtendError, match="cannot continue a clip"):
        await extend(engine, source.id, Overrides(model="wan2.6-i2v"), continue_clip=True)
    with pytest.raises(ExtendError, match=r"cannot extend with wan2\.6-t2i"):
        await extend(engine, source.id, Overrides(model="wan2.6-t2i"))
    with pytest.raises(ExtendError, match="not 99"):
        await extend(engine, source.id, Overrides(duration=99))
    (await video_of(engine, source)).write_bytes(b"no longer a video")
    with pytest.raises(ExtendError, match="cannot read the last frame"):
        await prepare_extend(engine.store, source.id, tmp_path / "frames")
