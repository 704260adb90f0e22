"""Which reference a new job reuses from a finished one: its result URL while that URL lives, else the
downloaded file (which the engine uploads again, as it does any local file).

Result URLs are signed and expire (24 h on the service; `qwentui sim --result-url-ttl` shortens it). A URL handed
to a new task must outlive the task's queue and run, so one within `URL_MARGIN` of its expiry counts as expired.
The expiry is the earlier of what the URL itself says (`Expires=`) and what the job recorded. Animate, duplicate
and the composer's readiness check all decide here, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from qwentui.core.download import url_expiry
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import Problem, is_remote
from qwentui.core.states import JobState
from qwentui.core.store import Asset, Job

URL_MARGIN = 600.0  # seconds: a result URL this close to expiry is not handed to a new task (it may expire in flight)
FINISHED = (JobState.DONE, JobState.SUCCEEDED)


class NothingToReuse(QwentuiError):
    """The job has no result that a new job could take as its input."""


@dataclass(frozen=True)
class Output:
    """One result of a job: the service's URL (if any) joined with the downloaded file (if any)."""

    idx: int  # 1-based, the service's order
    kind: str  # image | video | text
    url: str | None
    path: str | None


def outputs(job: Job, assets: Sequence[Asset]) -> list[Output]:
    """Every result of `job`, in the service's order, each with its downloaded file when there is one."""
    by_idx = {a.idx: a for a in assets if a.idx > 0}
    found: list[Output] = []
    for idx, item in enumerate(job.results or [], start=1):
        if not isinstance(item, dict):
            continue
        asset = by_idx.pop(idx, None)
        kind = str(item.get("kind") or (asset.kind if asset else "image"))
        url = item.get("url") or (asset.url if asset else None)
        found.append(Output(idx, kind, str(url) if url else None, asset.path if asset else None))
    # results not recorded on the job (an imported or older job): the assets alone
    found += [Output(a.idx, a.kind, a.url, a.path) for a in sorted(by_idx.values(), key=lambda a: a.idx)]
    return found


def url_expires_at(url: str, job: Job | None = None) -> float | None:
    """When `url` stops working: the earlier of its own `Expires=` and the job's recorded expiry (None: unknown)."""
    known = [t for t in (url_expiry(url), job.results_expire_at if job is not None else None) if t is not None]
    return min(known) if known else None


def url_usable(url: str, now: float, job: Job | None = None, margin: float = URL_MARGIN) -> bool:
    deadline = url_expires_at(url, job)
    return deadline is None or deadline - now > margin


def choose_reference(output: Output, job: Job, now: float, margin: float = URL_MARGIN) -> str | None:
    """The decision: the URL while it is usable (no upload needed), else the local file, else None."""
    if output.url and url_usable(output.url, now, job, margin):
        return output.url
    if output.path and Path(output.path).is_file():
        return output.path
    return None


def image_to_reuse(
    job: Job, assets: Sequence[Asset], now: float, *, prefer: int | None = None, margin: float = URL_MARGIN
) -> str:
    """The reference of one finished image of `job` (output `prefer` if it is an image, else the first image),
    or NothingToReuse saying why not."""
    if job.state not in FINISHED:
        raise NothingToReuse(f"job {job.id} has no finished image yet ({job.state.value})")
    images = [o for o in outputs(job, assets) if o.kind == "image"]
    if not images:
        raise NothingToReuse(f"job {job.id} has no image to animate")
    chosen = next((o for o in images if o.idx == prefer), images[0])
    ref = choose_reference(chosen, job, now, margin)
    if ref is None:
        raise NothingToReuse(
            f"the image of job {job.id} has neither a valid URL nor a local file any more (its URL expired)"
        )
    return ref


def refresh_references(
    refs: Sequence[str], sources: Sequence[tuple[Job, Sequence[Asset]]], now: float, margin: float = URL_MARGIN
) -> list[str]:
    """`refs` (a request's images) with every result URL of a `sources` job that is expired, or about to, swapped
    for that result's local file. Other references, and URLs with no local file to fall back on, stay as they are
    (`expired_references` then names them)."""
    by_url: dict[str, tuple[Output, Job]] = {}
    for job, assets in sources:
        for output in outputs(job, assets):
            if output.url:
                by_url[output.url] = (output, job)
    fresh: list[str] = []
    for ref in refs:
        known = by_url.get(ref)
        fresh.append((choose_reference(*known, now, margin) or ref) if known else ref)
    return fresh


def expired_references(refs: Sequence[str], now: float, field: str = "images") -> list[Problem]:
    """A problem for every signed URL in `refs` that has expired or will within the margin (the service would
    answer 403 when it fetches it)."""
    problems = []
    for i, ref in enumerate(refs, start=1):
        if not is_remote(ref):
            continue
        deadline = url_expires_at(ref)
        if deadline is not None and deadline - now <= URL_MARGIN:
            when = datetime.fromtimestamp(deadline).strftime("%H:%M:%S")
            verb = "expired" if deadline <= now else "expires"
            problems.append(
                Problem(f"{field}[{i}]", f"this signed URL {verb} at {when}; pick the downloaded file instead (F4)")
            )
    return problems
