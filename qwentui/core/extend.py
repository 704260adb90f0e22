"""Extend a finished video: a new image-to-video job that starts where the clip ends.

By default the clip's last frame (decoded with PyAV) becomes the first frame of an i2v job with the same
prompt, the same model when it is an i2v model (its i2v sibling for a t2v one: wan2.6-t2v -> wan2.6-i2v) and
the settings of the source that the new model takes. A model that reads a clip itself (wan2.7-i2v's
`first_clip` media) can continue the clip instead (`continue_clip=True`): no frame is extracted, the clip is
the input. Either way the new job records its lineage (extend / continue) through its `source`.
Five seconds become twenty with three extends: each one extends the newest clip.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from qwentui.core.assemble import NoVideo, finished_video
from qwentui.core.catalog import DEFAULT_MODEL, Field, Mode, ModelMode, UnknownModel, lookup, rows_for_mode
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.lineage import Relation
from qwentui.core.media import MediaError, probe, video_frame
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store

FIRST_CLIP = "first_clip"
FIRST_FRAME = "first_frame"
# settings carried from the source when the new model takes them (by the catalog's Field names)
CARRIED = (
    Field.NEGATIVE_PROMPT,
    Field.SEED,
    Field.PROMPT_EXTEND,
    Field.WATERMARK,
    Field.AUDIO,
    Field.SHOT_TYPE,
)


class ExtendError(QwentuiError):
    """The job cannot be extended; the message says why and what to do."""


@dataclass(frozen=True)
class Overrides:
    """What the user changes from the source (None: keep the source's, or the model's default)."""

    model: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    duration: int | None = None
    resolution: str | None = None
    seed: int | None = None


def last_frame(video: Path) -> Image.Image:
    """The clip's final frame as RGB (MediaError when the file does not decode)."""
    info = probe(video)
    if info.error:
        raise MediaError(info.error)
    # video_frame returns the last frame at or before the time asked: past the end, the very last one
    return video_frame(video, at_seconds=(info.duration or 0.0) + 1.0)


def save_last_frame(video: Path, dest: Path) -> Path:
    """Write the clip's last frame to `dest` as PNG (lossless: the next clip starts on exactly this picture)."""
    image = last_frame(video)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".frame-", suffix=".png")
    os.close(fd)
    try:
        image.save(tmp, format="PNG")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def target_row(source: Job, model: str | None, continue_clip: bool) -> ModelMode:
    """The i2v catalog row the new job uses."""
    if model is not None:
        try:
            row = lookup(model, Mode.I2V)
        except UnknownModel as exc:
            raise ExtendError(f"cannot extend with {model}: {exc}") from None
    elif continue_clip:
        clip_row = next((r for r in rows_for_mode(Mode.I2V) if r.media_slot(FIRST_CLIP)), None)
        if clip_row is None:
            raise ExtendError("no model in the catalog continues a clip; extend from the last frame instead")
        row = clip_row
    else:
        row = _sibling(source.model) or lookup(DEFAULT_MODEL[Mode.I2V], Mode.I2V)
    if continue_clip and row.media_slot(FIRST_CLIP) is None:
        raise ExtendError(f"{row.model} cannot continue a clip; leave out --continue to extend from the last frame")
    return row


def _sibling(model: str) -> ModelMode | None:
    """The source's own i2v model, or the i2v model of its family (wan2.6-t2v -> wan2.6-i2v)."""
    for name in (model, model.replace("t2v", "i2v"), model.replace("-t2v", "-i2v-flash")):
        try:
            return lookup(name, Mode.I2V)
        except UnknownModel:
            continue
    return None


def _resolution(source: dict[str, Any], row: ModelMode) -> str | None:
    """The source's resolution, or one read from its size ("1280*720" -> "720P"), when the model has it."""
    wanted = source.get("resolution")
    if not wanted and isinstance(source.get("size"), str) and "*" in source["size"]:
        w, _, h = source["size"].partition("*")
        if w.isdigit() and h.isdigit():
            wanted = f"{min(int(w), int(h))}P"
    return wanted if wanted in row.resolutions else None


def extend_request(
    source: Job, video: Path | None, frame: Path | None, overrides: Overrides, *, continue_clip: bool = False
) -> GenerationRequest:
    """The request of the job that continues `source`: from `frame` (its last frame) or the clip itself."""
    row = target_row(source, overrides.model, continue_clip)
    old = dict(source.request)
    data: dict[str, Any] = {"prompt": source.prompt if overrides.prompt is None else overrides.prompt}
    for f in CARRIED:
        if row.takes(f) and old.get(f.value) is not None:
            data[f.value] = old[f.value]
    if row.durations:
        duration = overrides.duration if overrides.duration is not None else old.get("duration")
        if duration in row.durations:
            data["duration"] = duration
        elif overrides.duration is not None:
            allowed = ", ".join(str(d) for d in row.durations)
            raise ExtendError(f"{row.model} makes clips of {allowed} s, not {overrides.duration}")
    if row.resolutions:
        resolution = overrides.resolution or _resolution(old, row)
        if resolution is not None:
            data["resolution"] = resolution
    for name in ("negative_prompt", "seed"):
        if getattr(overrides, name) is not None:
            data[name] = getattr(overrides, name)
    if continue_clip:
        if video is None:
            raise ExtendError("continuing a clip needs the clip")
        media = [{"type": FIRST_CLIP, "url": str(video)}]
        return GenerationRequest(mode=Mode.I2V, model=row.model, media=media, **data)
    if frame is None:
        raise ExtendError("extending from the last frame needs the frame")
    if row.takes(Field.MEDIA):
        return GenerationRequest(
            mode=Mode.I2V, model=row.model, media=[{"type": FIRST_FRAME, "url": str(frame)}], **data
        )
    return GenerationRequest(mode=Mode.I2V, model=row.model, images=[str(frame)], **data)


async def prepare_extend(
    store: Store, job_id: int, frames_dir: Path, overrides: Overrides = Overrides(), *, continue_clip: bool = False
) -> tuple[Job, GenerationRequest, Relation]:
    """The source job, the new request (its last frame saved under `frames_dir` when one is used), and the
    relation to record. Nothing is queued: the TUI opens the request in the composer; `extend` queues it."""
    source = await store.get_job(job_id)
    if source is None:
        raise ExtendError(f"there is no job {job_id}; `qwentui jobs` lists them")
    try:
        video = await finished_video(store, source, "extended")
    except NoVideo as exc:
        raise ExtendError(str(exc)) from None
    frame = None
    if not continue_clip:
        try:
            frame = await asyncio.to_thread(save_last_frame, video, frames_dir / f"{source.id}_last_frame.png")
        except MediaError as exc:
            raise ExtendError(f"cannot read the last frame of job {source.id}'s video: {exc}") from None
    request = extend_request(source, video, frame, overrides, continue_clip=continue_clip)
    return source, request, Relation.CONTINUE if continue_clip else Relation.EXTEND


async def extend(
    engine: Engine, job_id: int, overrides: Overrides = Overrides(), *, continue_clip: bool = False
) -> Job:
    """Queue the job that continues `job_id`; its last frame goes to `<output>/frames/`."""
    frames = engine.config.output_dir / "frames"
    source, request, relation = await prepare_extend(
        engine.store, job_id, frames, overrides, continue_clip=continue_clip
    )
    output_dir = Path(source.output_dir) if source.output_dir else None
    return await engine.add(request, source=relation.value, parent_id=source.id, output_dir=output_dir)


async def animate(engine: Engine, job_id: int, overrides: Overrides = Overrides()) -> Job:
    """Queue an image-to-video job that starts on a finished image (the first one, when a job made several),
    with the image's prompt: what the TUI's animate action does, for the CLI."""
    source = await engine.store.get_job(job_id)
    if source is None:
        raise ExtendError(f"there is no job {job_id}; `qwentui jobs` lists them")
    if source.state is not JobState.DONE:
        raise ExtendError(f"job {source.id} is {source.state.value}; only a finished image can be animated")
    images = [a for a in await engine.store.assets(source.id) if a.kind == "image" and a.path]
    if not images or not Path(images[0].path or "").is_file():
        raise ExtendError(f"job {source.id} has no image file to animate")
    request = extend_request(source, None, Path(images[0].path or ""), overrides)
    output_dir = Path(source.output_dir) if source.output_dir else None
    return await engine.add(request, source=Relation.ANIMATE.value, parent_id=source.id, output_dir=output_dir)
