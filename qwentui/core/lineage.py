"""Where each job came from: the words for it, and its family drawn as a tree both ways.

The store keeps the links (table `job_lineage`, migrations.V10): a job, its parent, the relation, and the
parent's position among the inputs (an assembled film has several). A job's `source` already says how it was
made ("retry", "animate", ...); `relation_for_source` turns that into the relation recorded when a job is
queued with a parent, so every action that passes a parent records its lineage without saying it twice.
A job dropped in a watched folder has no parent job: its origin is the file (`source_path`), shown as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qwentui.core.store import Job, Link, Store


class Relation(StrEnum):
    RETRY = "retry"
    DUPLICATE = "duplicate"
    ANIMATE = "animate"  # an image made into a video
    EXTEND = "extend"  # a video continued from its last frame
    CONTINUE = "continue"  # a video continued by a model that reads the clip itself (wan2.7 first_clip)
    ASSEMBLE = "assemble"  # clips put together into one film (several parents, in order)


PHRASES: dict[str, str] = {
    Relation.RETRY: "retried from",
    Relation.DUPLICATE: "duplicated from",
    Relation.ANIMATE: "animated from",
    Relation.EXTEND: "extended from",
    Relation.CONTINUE: "continued from",
    Relation.ASSEMBLE: "assembled from",
}
# the same, seen from the parent
CHILD_PHRASES: dict[str, str] = {
    Relation.RETRY: "retried as",
    Relation.DUPLICATE: "duplicated as",
    Relation.ANIMATE: "animated as",
    Relation.EXTEND: "extended as",
    Relation.CONTINUE: "continued as",
    Relation.ASSEMBLE: "part of",
}


def relation_for_source(source: str) -> Relation:
    """The relation of a job queued with a parent, from its `source`; anything else is a duplicate."""
    try:
        return Relation(source)
    except ValueError:
        return Relation.DUPLICATE


def phrase(relation: str) -> str:
    return PHRASES.get(relation, f"{relation} from")


def origin(job: Job) -> str | None:
    """Where a job without a parent job came from, when that is a file: "dropped from photo.png"."""
    if job.source.startswith("drop:") and job.source_path:
        return f"dropped from {job.source_path}"
    return None


@dataclass(frozen=True)
class Lineage:
    """Both directions from one job: `up` lists where it came from, `down` what was made from it."""

    job_id: int
    up: list[Link]
    down: list[Link]

    def lines(self, jobs: dict[int, Job] | None = None) -> list[str]:
        """The lineage as indented plain lines (no markup; the caller escapes if it renders markup)."""
        jobs = jobs or {}

        def name(job_id: int) -> str:
            job = jobs.get(job_id)
            return f"job {job_id}" + (f" ({job.mode.value}, {job.state.value})" if job else "")

        out: list[str] = []
        parents: dict[int, list[Link]] = {}
        for link in self.up:
            parents.setdefault(link.job_id, []).append(link)

        def walk_up(job_id: int, indent: int, seen: frozenset[int]) -> None:
            for link in sorted(parents.get(job_id, []), key=lambda lk: lk.position):
                out.append("  " * indent + f"{phrase(link.relation)} {name(link.parent_id)}")
                if link.parent_id not in seen:
                    walk_up(link.parent_id, indent + 1, seen | {link.parent_id})
            job = jobs.get(job_id)
            if job is not None and not parents.get(job_id) and (where := origin(job)):
                out.append("  " * indent + where)

        children: dict[int, list[Link]] = {}
        for link in self.down:
            children.setdefault(link.parent_id, []).append(link)

        def walk_down(job_id: int, indent: int, seen: frozenset[int]) -> None:
            for link in sorted(children.get(job_id, []), key=lambda lk: lk.job_id):
                out.append("  " * indent + f"{CHILD_PHRASES.get(link.relation, link.relation)} {name(link.job_id)}")
                if link.job_id not in seen:
                    walk_down(link.job_id, indent + 1, seen | {link.job_id})

        out.append(name(self.job_id))
        walk_up(self.job_id, 1, frozenset({self.job_id}))
        walk_down(self.job_id, 1, frozenset({self.job_id}))
        return out


async def lineage_of(store: Store, job_id: int) -> tuple[Lineage, dict[int, Job]]:
    """A job's lineage both ways, with every job it names (for their mode and state)."""
    lineage = Lineage(job_id, await store.ancestors(job_id), await store.descendants(job_id))
    ids = {job_id} | {lk.parent_id for lk in lineage.up} | {lk.job_id for lk in lineage.down}
    jobs = {}
    for i in sorted(ids):
        job = await store.get_job(i)
        if job is not None:
            jobs[i] = job
    return lineage, jobs


CHAIN = frozenset({Relation.EXTEND, Relation.CONTINUE})


async def chain(store: Store, job_id: int) -> list[int]:
    """The clips a chain of extends made, oldest first, ending with `job_id`: the films `assemble --chain`
    puts together (5 s, extended three times: four clips, twenty seconds)."""
    ids = [job_id]
    while len(ids) < 1000:
        links = await store.parents(ids[0])
        step = next((lk for lk in links if lk.relation in CHAIN), None)
        if step is None or step.parent_id in ids:
            break
        ids.insert(0, step.parent_id)
    return ids
