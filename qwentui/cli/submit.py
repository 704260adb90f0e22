"""`qwentui submit`: a request from flags or JSON, validated before anything is sent; `--wait` follows it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qwentui.cli import media_flags
from qwentui.cli.context import options
from qwentui.cli.output import print_json
from qwentui.core import provenance
from qwentui.core.catalog import GENERATION_MODES
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Job
from qwentui.runtime import Context, open_context


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true/false")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "submit",
        help="submit a generation job",
        description="Submit a job. Give the request as flags, or as JSON with --json "
        "(the skill scripts' request keys work too: img_url, reference_urls, ...).",
    )
    p.add_argument("prompt", nargs="?", help="the prompt (or --prompt)")
    p.add_argument("--prompt", dest="prompt_flag")
    p.add_argument(
        "--mode", choices=[m.value for m in GENERATION_MODES], help="default: detected from the fields, else t2i"
    )
    p.add_argument("--model", help="default: the recommended model of the mode")
    p.add_argument("--negative-prompt")
    p.add_argument("--size", help="W*H or a named size (1K, 2K) as the model allows")
    p.add_argument("--n", type=int, help="number of images")
    p.add_argument("--seed", type=int)
    p.add_argument("--duration", type=int, help="video seconds")
    p.add_argument("--resolution", help="480P, 720P or 1080P (image-to-video, first+last frame)")
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="reference image / first frame / last frame / reference (repeat in order)",
    )
    p.add_argument("--audio-url")
    p.add_argument("--audio", type=_bool, metavar="true|false")
    p.add_argument("--shot-type", choices=["single", "multi"])
    p.add_argument("--prompt-extend", type=_bool, metavar="true|false")
    p.add_argument("--watermark", type=_bool, metavar="true|false")
    p.add_argument("--template")
    p.add_argument("--max-images", type=int)
    p.add_argument("--function", help="VACE function")
    p.add_argument(
        "--vace",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="VACE field, e.g. video_url=https://... or obj_or_bg='[\"obj\"]'",
    )
    p.add_argument("--json", dest="json_request", metavar="JSON|@FILE|-", help="the whole request as JSON")
    p.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="the request a qwentui output (or its .json sidecar) was made with; other flags change it",
    )
    p.add_argument("--wait", action="store_true", help="follow the job to the end, with progress")
    p.add_argument("--timeout", type=float, help="with --wait: give up waiting after this many seconds")
    p.add_argument("--print-json", action="store_true", help="print the job as JSON at the end")
    media_flags.add_arguments(p)
    p.set_defaults(func=run)


def _load_json(spec: str) -> dict[str, Any]:
    try:
        if spec == "-":
            text = sys.stdin.read()
        elif spec.startswith("@"):
            text = Path(spec[1:]).read_text(encoding="utf-8")
        else:
            text = spec
        data = json.loads(text)
    except OSError as exc:
        raise QwentuiError(f"cannot read the request file: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise QwentuiError(
            f"the request is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise QwentuiError('the request JSON must be an object, e.g. {"prompt": "a cat"}')
    return data


def request_from_args(args: argparse.Namespace) -> GenerationRequest:
    if args.json_request and args.from_file:
        raise QwentuiError("give the request with --json or --from, not both")
    data: dict[str, Any] = _load_json(args.json_request) if args.json_request else {}
    if args.from_file:
        data = dict(provenance.read(Path(args.from_file)).request)
    prompt = args.prompt_flag or args.prompt
    if prompt is not None:
        data["prompt"] = prompt
    for key in (
        "model",
        "negative_prompt",
        "size",
        "n",
        "seed",
        "duration",
        "resolution",
        "audio_url",
        "audio",
        "shot_type",
        "prompt_extend",
        "watermark",
        "template",
        "max_images",
        "function",
    ):
        value = getattr(args, key)
        if value is not None:
            data[key] = value
    if args.image:
        data["images"] = list(data.get("images", [])) + args.image
    if args.vace:
        vace = dict(data.get("vace", {}))
        for item in args.vace:
            key, sep, raw = item.partition("=")
            if not sep:
                raise QwentuiError(f"--vace {item!r} must be KEY=VALUE")
            try:
                vace[key] = json.loads(raw)
            except json.JSONDecodeError:
                vace[key] = raw
        data["vace"] = vace
    media_flags.apply(args, data)
    return GenerationRequest.from_dict(data, mode=args.mode)


def _progress(job: Job) -> None:
    extra = f" task {job.task_id}" if job.task_id else ""
    print(f"job {job.id}: {job.state.value}{extra}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    async with open_context(options(args)) as ctx:
        job = await ctx.engine.add(request, source="cli")
        print(f"job {job.id} queued: {request.mode.value} with {request.model_name}", file=sys.stderr)
        if (prices := ctx.engine.config.prices) is not None:
            print(f"job {job.id}: {prices.estimate(request).text}", file=sys.stderr)
        if not ctx.engine.leader:
            print("another qwentui process is running the engine; it will send this job", file=sys.stderr)
            if not args.wait:
                return 0
            # followed through the database: the other process's every change reaches this one's change feed
            return await _wait(ctx, job.id, args)
        job = await _until_sent(ctx.engine, job.id)
        pause = ctx.engine.status().pause_reason
        if pause is not None and job.state is JobState.QUEUED:  # the account's problem, said once
            raise QwentuiError(f"{pause}; job {job.id} stays queued")
        if job.state is JobState.QUEUED:
            events = await ctx.store.events(job.id)
            why = events[-1].detail if events else "not sent"
            raise QwentuiError(
                f"job {job.id} could not be sent ({why}); it stays queued and `qwentui run` "
                "sends it once the service is reachable"
            )
        if args.wait:
            return await _wait(ctx, job.id, args)
        print(f"job {job.id}: {job.state.value}" + (f" task {job.task_id}" if job.task_id else ""))
        if job.state in TERMINAL and job.state is not JobState.DONE:
            print(f"job {job.id} ended {job.state.value}: {job.error_message or ''}", file=sys.stderr)
            return 1
        print(f"follow it with `qwentui run` or the TUI; `qwentui show {job.id}` shows it", file=sys.stderr)
        return 0


async def _wait(ctx: Context, job_id: int, args: argparse.Namespace) -> int:
    """Follow the job to its end (whichever process runs the engine), then print its files."""
    (job,) = await ctx.engine.wait_for([job_id], timeout=args.timeout, on_change=_progress)
    assets = await ctx.store.assets(job.id)
    if not args.print_json:
        for asset in assets:
            print(asset.path)
    else:
        print_json(
            {
                "id": job.id,
                "state": job.state.value,
                "task_id": job.task_id,
                "files": [a.path for a in assets],
                "error": job.error_message,
            }
        )
    if job.state is not JobState.DONE:
        print(f"job {job.id} ended {job.state.value}: {job.error_message or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0


async def _until_sent(engine: Engine, job_id: int) -> Job:
    """Until the service has the job (a task id, a result or a refusal), or a first attempt failed."""
    waiting = {JobState.QUEUED, JobState.UPLOADING, JobState.SUBMITTING}
    with engine.subscribe() as changes:
        job = await engine.store.get_job(job_id)
        assert job is not None
        while True:
            if job.state not in waiting or (job.state is JobState.QUEUED and job.attempts >= 1):
                return job
            if engine.status().paused and job.state is JobState.QUEUED:
                return job
            # the timeout only lets a pause (which is not a job change) be noticed
            for changed in await changes.get(timeout=0.25):
                if changed.id == job_id:
                    job = changed
