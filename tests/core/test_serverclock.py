"""The service's clock as seen from ours: measured from Date headers, narrowed, reset by a jump."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from qwentui.core.serverclock import ServerClock
from qwentui.sim import FakeClock
from tests.helpers import SimHarness, fast_sim_config


def test_nothing_is_known_before_an_answer() -> None:
    clock = ServerClock()
    assert clock.offset is None and clock.uncertainty == float("inf")
    assert clock.to_server(100.0) == 100.0  # trusted to agree until measured


def test_answers_at_different_phases_of_the_second_narrow_the_offset_well_below_a_second() -> None:
    true_offset = 7_200.37  # the local clock is 2 h and a bit slow
    clock = ServerClock()
    for i in range(40):
        sent = 1_000_000.0 + i * 1.13  # requests land at every phase of the server's whole seconds
        received = sent + 0.02
        server_then = sent + 0.01 + true_offset
        clock.observe_date(sent, received, formatdate(int(server_then), usegmt=True))
    assert clock.offset is not None and abs(clock.offset - true_offset) < 0.1
    assert clock.uncertainty < 0.1


def test_a_jump_of_our_clock_starts_the_estimate_afresh() -> None:
    clock = ServerClock()
    clock.observe_date(1000.0, 1000.1, formatdate(1000, usegmt=True))
    assert clock.offset is not None and abs(clock.offset) < 1
    clock.observe_date(8200.0, 8200.1, formatdate(1000 + 5, usegmt=True))  # our clock was set 2 h ahead
    assert clock.resets == 1 and clock.offset is not None and abs(clock.offset + 7195) < 1


@pytest.mark.parametrize("header", [None, "", "yesterday", "Mon, 99 Foo 2026 99:99:99 GMT", "1, 2, 3"])
def test_a_missing_or_malformed_date_proves_nothing(header: str | None) -> None:
    clock = ServerClock()
    clock.observe_date(1000.0, 1000.1, header)
    assert clock.samples == 0 and clock.offset is None


def test_an_answer_received_before_it_was_sent_is_ignored() -> None:
    clock = ServerClock()
    clock.observe_date(1000.0, 990.0, formatdate(1000, usegmt=True))  # our clock stepped back mid-exchange
    assert clock.samples == 0


async def test_the_client_measures_the_simulators_clock() -> None:
    fake = FakeClock()  # 2026-01-01, far from today's real clock
    harness = SimHarness(fast_sim_config(clock=fake))
    async with harness.client() as client:
        client.server_clock.local = lambda: fake.now - 3600.0  # our clock an hour slow
        await client.list_tasks(page_size=1)
        fake.advance(0.4)
        await client.list_tasks(page_size=1)
    assert client.server_clock.samples == 2
    assert client.server_clock.offset is not None and abs(client.server_clock.offset - 3600.0) <= 1.0
