"""Pieces that used to be written twice, now written once: the wire body's hash, the duration formatter, the
start-up action of a step that stopped half-way."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from qwentui.cli.output import age
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.states import JobState
from qwentui.core.store import Store, body_hash
from qwentui.core.timefmt import Style, duration
from qwentui.tui.presentation import clock_duration, human_duration, short_duration
from tests.helpers import SimHarness, fast_sim_config, poll_until, running_engine

# What the submitter stored for this body before the two hash functions were merged: a database written then
# must still compare equal with hashes computed now.
STORED_BEFORE = "270b53487e515f6e77d8e1cb0548b44d5e0643031058583228fbe1552e2b3f84"
BODY = {
    "model": "wan2.6-t2v",
    "input": {"prompt": "un bateau en papier · 紙の船"},
    "parameters": {"size": "1280*720", "duration": 5},
}


def test_the_body_hash_is_the_one_existing_databases_hold() -> None:
    assert body_hash(BODY) == STORED_BEFORE
    reordered = {"parameters": {"duration": 5, "size": "1280*720"}, "input": BODY["input"], "model": BODY["model"]}
    assert body_hash(reordered) == STORED_BEFORE


async def test_a_stored_wire_body_gets_the_same_hash(store: Store) -> None:
    """The store hashes a wire body it is given without one exactly as the submitter does."""
    req = GenerationRequest(mode=Mode.T2V, prompt="a paper boat")
    job = await store.add_job(req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt)
    wire = build(req).body
    job = await store.transition(job.id, JobState.SUBMITTING, wire_json=json.dumps(wire, ensure_ascii=False))
    assert job.body_hash == body_hash(wire)


@pytest.mark.parametrize(
    ("seconds", "style", "expected"),
    [
        (-5, "coarse", "0s"),
        (59.9, "coarse", "59s"),
        (3599, "coarse", "59m"),
        (7300, "coarse", "2h"),
        (3 * 86400 + 5, "coarse", "3d"),
        (44.6, "decimal", "45s"),
        (150, "decimal", "2m"),
        (5400, "decimal", "1.5h"),
        (2 * 86400, "decimal", "2.0d"),
        (45, "two_units", "45s"),
        (185, "two_units", "3m 05s"),
        (3720, "two_units", "1h 02m"),
        (2 * 86400 + 3 * 3600, "two_units", "2d 3h"),
        (42, "clock", "0:42"),
        (3723, "clock", "1:02:03"),
    ],
)
def test_one_duration_formatter_in_every_style(seconds: float, style: Style, expected: str) -> None:
    assert duration(seconds, style) == expected


def test_the_cli_and_the_tui_use_that_formatter() -> None:
    for seconds in (0, 59, 61, 3599, 5400, 90000):
        assert age(seconds) == duration(seconds, "decimal")
        assert short_duration(seconds) == duration(seconds, "coarse")
        assert human_duration(seconds) == duration(seconds, "two_units")
        assert clock_duration(seconds) == duration(seconds, "clock")


async def test_an_interrupted_sync_call_asks_the_user_at_start_up(tmp_path: Path, store: Store) -> None:
    """A crash during a synchronous call leaves a SUBMITTING row with no task to look for: at start-up it goes
    straight to the user with the reason, and it is never sent again."""
    harness = SimHarness(fast_sim_config())
    req = GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="a sync call cut short")
    job = await store.add_job(req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt)
    await store.transition(job.id, JobState.SUBMITTING, submitted_at=time.time(), wire_json=json.dumps(build(req).body))
    async with running_engine(tmp_path, store, harness):

        async def asked() -> bool:
            now = await store.get_job(job.id)
            return now is not None and now.state is JobState.NEEDS_USER

        await poll_until(asked, timeout=30, what="the interrupted sync call to ask the user")
    after = await store.get_job(job.id)
    assert after is not None and "synchronous call was interrupted" in (after.error_message or "")
    assert len(harness.sim.submissions) == 0
