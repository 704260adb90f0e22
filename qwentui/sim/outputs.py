"""The JSON the service answers with, per route and per task state.

Result shapes differ by route: `results[].url` on text2image/image2image, `choices[].message.content[]` on
the two messages routes (interleave mixes text and image items), `video_url` on the video routes. Every
async `output` carries `task_id` and `task_status` (the SDK's output classes require both).
"""

from __future__ import annotations

from typing import Any

from qwentui.core.catalog import Route
from qwentui.sim.clock import epoch_ms, task_time
from qwentui.sim.config import SimConfig
from qwentui.sim.files import ResultFiles
from qwentui.sim.tasks import Status, Task

SUB_FAILURE = {"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."}
MESSAGE_ROUTES = (Route.MULTIMODAL, Route.IMAGE_GENERATION)


def actual_prompt(task: Task) -> str:
    """What `prompt_extend` would have rewritten the prompt to (deterministic)."""
    prompt = task.job.prompt
    if not task.job.prompt_extend:
        return prompt
    return f"{prompt}. Rich detail, soft natural light, balanced composition.".lstrip(". ")


def task_output(
    task: Task, now: float, cfg: SimConfig, files: ResultFiles, base: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`output` and `usage` of GET /tasks/{id}."""
    status = task.status(now, cfg.task_ttl)
    out: dict[str, Any] = {"task_id": task.task_id, "task_status": status.value}
    if status is Status.UNKNOWN:
        return out, None
    tz = cfg.tz_offset_hours
    out["submit_time"] = task_time(task.submitted, tz)
    if status is not Status.PENDING and task.canceled_at is None:
        out["scheduled_time"] = task_time(task.scheduled_at, tz)
    ended = task.ended_at(now, cfg.task_ttl)
    if ended is not None:
        out["end_time"] = task_time(ended, tz)
    job = task.job
    if not job.is_video:
        ok = len(task.ok_items()) if status is Status.SUCCEEDED else 0
        failed = job.n - ok if status in (Status.SUCCEEDED, Status.FAILED) else 0
        out["task_metrics"] = {"TOTAL": job.n, "SUCCEEDED": ok, "FAILED": failed}
    if status is Status.FAILED and task.failure:
        out["code"], out["message"] = task.failure.code, task.failure.message
    if status is not Status.SUCCEEDED:
        return out, None
    out.update(results(task, files, base))
    return out, usage(task)


def results(task: Task, files: ResultFiles, base: str) -> dict[str, Any]:
    """The result fields of a succeeded task (also the sync route's `output`)."""
    job = task.job
    if job.is_video:
        return {
            "video_url": files.url_for(task, 0, base),
            "orig_prompt": job.prompt,
            "actual_prompt": actual_prompt(task),
        }
    ok = set(task.ok_items())
    if job.route not in MESSAGE_ROUTES:
        items: list[dict[str, Any]] = []
        for i in range(job.n):
            if i in ok:
                items.append(
                    {
                        "orig_prompt": job.prompt,
                        "actual_prompt": actual_prompt(task),
                        "url": files.url_for(task, i, base),
                    }
                )
            else:
                items.append(dict(SUB_FAILURE))
        return {"results": items}
    content: list[dict[str, Any]] = []
    for n, i in enumerate(sorted(ok), start=1):
        if job.interleave:
            content.append({"type": "text", "text": f"Part {n}: {job.prompt[:200]}"})
        content.append({"type": "image", "image": files.url_for(task, i, base)})
    choice = {"finish_reason": "stop", "message": {"role": "assistant", "content": content}}
    return {"choices": [choice], "finished": True}


def usage(task: Task) -> dict[str, Any]:
    job = task.job
    size = f"{job.width}*{job.height}"
    if job.is_video and job.row.new_protocol:
        # The wan2.7 shape (documented for i2v): billed `duration` = the input clip + the new footage.
        return {
            "duration": job.input_video_seconds + (job.duration or 0),
            "input_video_duration": job.input_video_seconds,
            "output_video_duration": job.duration,
            "video_count": 1,
            "SR": resolution_tier(job.width, job.height),
        }
    if job.is_video:
        return {
            "video_duration": job.duration,
            "video_count": 1,
            "video_ratio": size,
            "SR": resolution_tier(job.width, job.height),
        }
    out: dict[str, Any] = {"image_count": len(task.ok_items()), "size": size, "width": job.width, "height": job.height}
    if job.route in MESSAGE_ROUTES:
        tokens_in, tokens_out = 0, 0
        if job.row.new_protocol:  # wan2.7 counts tokens (the wan2.6 examples show zeros)
            tokens_in = 16 + len(job.prompt) // 4 + 1200 * len(job.images)
            tokens_out = 2 * out["image_count"]
        out.update(input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out)
    return out


def resolution_tier(width: int, height: int) -> int:
    """480/720/1080, by pixel count (960*960 is a 720P size, 1440*1440 a 1080P one)."""
    pixels = width * height
    if pixels <= 832 * 480 * 1.1:
        return 480
    if pixels <= 1280 * 720 * 1.1:
        return 720
    return 1080


def sync_body(task: Task, files: ResultFiles, base: str, request_id: str) -> dict[str, Any]:
    output = results(task, files, base)
    # Recorded sync answers carry the counts as `task_metric` (singular), unlike the task query's `task_metrics`.
    ok = len(task.ok_items())
    output["task_metric"] = {"TOTAL": task.job.n, "SUCCEEDED": ok, "FAILED": task.job.n - ok}
    return {"output": output, "usage": usage(task), "request_id": request_id}


def list_item(task: Task, now: float, cfg: SimConfig) -> dict[str, Any]:
    """One row of GET /tasks (epoch milliseconds, like the recorded answer)."""
    status = task.status(now, cfg.task_ttl)
    item: dict[str, Any] = {
        "task_id": task.task_id,
        "status": status.value,
        "model_name": task.model,
        "region": cfg.region,
        "api_key_id": task.key_id,
        "caller_parent_id": "sim",
        "caller_uid": "sim",
        "gmt_create": epoch_ms(task.submitted),
    }
    if status is not Status.PENDING and task.canceled_at is None:
        item["start_time"] = epoch_ms(task.scheduled_at)
    ended = task.ended_at(now, cfg.task_ttl)
    if ended is not None:
        item["end_time"] = epoch_ms(ended)
    item["request_id"] = task.request_id
    item["user_api_unique_key"] = f"apikey:v1:{task.key_id}"  # the key's fingerprint, never the key
    return item
