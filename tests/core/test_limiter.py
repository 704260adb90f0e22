"""The shared token bucket, on a fake clock: sleeping advances the clock, so no test waits and none times anything."""

from __future__ import annotations

import asyncio
import types

import pytest

from qwentui.core import limiter as limiter_module
from qwentui.core.limiter import RateLimiter


class FakeTime:
    """A clock plus an asyncio.sleep that advances it instead of waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    t = FakeTime()
    monkeypatch.setattr(limiter_module, "asyncio", types.SimpleNamespace(Lock=asyncio.Lock, sleep=t.sleep))
    return t


async def take(lim: RateLimiter, fake: FakeTime, n: int) -> list[float]:
    """Acquire n tokens one after the other; the fake time at which each was granted."""
    times = []
    for _ in range(n):
        await lim.acquire()
        times.append(fake.now)
    return times


def test_bad_settings() -> None:
    for rate in (0, -1):
        with pytest.raises(ValueError, match="rate"):
            RateLimiter(rate=rate)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=5, burst=0.5)  # a bucket that never holds a whole token would block forever


def test_default_burst() -> None:
    assert RateLimiter(rate=20).burst == 5
    assert RateLimiter(rate=2).burst == 1
    assert RateLimiter(rate=20, burst=3).burst == 3


async def test_burst_is_free_then_spacing_is_one_over_rate(fake: FakeTime) -> None:
    lim = RateLimiter(rate=20, clock=fake)
    start = fake.now
    times = await take(lim, fake, 5)
    assert times == [start] * 5
    assert lim.waited == 0
    assert fake.sleeps == []
    await lim.acquire()
    assert fake.now == pytest.approx(start + 1 / 20)
    assert lim.waited == pytest.approx(1 / 20)


async def test_rate_respected_over_many_acquisitions(fake: FakeTime) -> None:
    rate, burst, n = 20.0, 5, 205
    lim = RateLimiter(rate=rate, clock=fake)
    start = fake.now
    times = await take(lim, fake, n)
    assert fake.now - start == pytest.approx((n - burst) / rate)
    assert lim.waited == pytest.approx((n - burst) / rate)
    for a, b in zip(times[burst:], times[burst + 1 :], strict=False):
        assert b - a == pytest.approx(1 / rate)
    # token-bucket bound: in any window of length w at most burst + rate * w grants
    for i in range(n):
        for j in range(i, n):
            assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 1e-6


async def test_idle_time_refills_up_to_burst_only(fake: FakeTime) -> None:
    lim = RateLimiter(rate=10, burst=3, clock=fake)
    await take(lim, fake, 3)
    fake.now += 3600  # a long idle time is worth only `burst` tokens
    start = fake.now
    times = await take(lim, fake, 4)
    assert times[:3] == [start] * 3
    assert times[3] == pytest.approx(start + 0.1)


async def test_partial_refill(fake: FakeTime) -> None:
    lim = RateLimiter(rate=20, burst=5, clock=fake)
    await take(lim, fake, 5)
    fake.now += 0.1  # two tokens
    start = fake.now
    times = await take(lim, fake, 3)
    assert times[:2] == [start, start]
    assert times[2] == pytest.approx(start + 0.05)


async def test_concurrent_callers_share_the_rate_in_arrival_order(fake: FakeTime) -> None:
    lim = RateLimiter(rate=10, burst=1, clock=fake)
    start = fake.now
    order: list[tuple[int, float]] = []

    async def caller(i: int) -> None:
        await lim.acquire()
        order.append((i, fake.now))

    await asyncio.gather(*(caller(i) for i in range(8)))
    assert [i for i, _ in order] == list(range(8))
    assert [t - start for _, t in order] == pytest.approx([i / 10 for i in range(8)])


async def test_pause_blocks_everyone_until_its_end(fake: FakeTime) -> None:
    lim = RateLimiter(rate=20, burst=5, clock=fake)
    start = fake.now
    lim.pause(3.0)
    assert lim.pauses == 1
    assert lim.paused_for == pytest.approx(3.0)
    granted: list[float] = []

    async def caller() -> None:
        await lim.acquire()
        granted.append(fake.now)

    await asyncio.gather(*(caller() for _ in range(4)))
    assert all(t >= start + 3.0 for t in granted)
    assert lim.paused_for == 0
    # the bucket was emptied: no burst at the end of the pause, the callers come 1/rate apart
    assert [t - start for t in granted] == pytest.approx([3.0 + (i + 1) / 20 for i in range(4)])


async def test_pause_during_waits_and_longest_pause_wins(fake: FakeTime) -> None:
    lim = RateLimiter(rate=10, burst=2, clock=fake)
    start = fake.now
    await take(lim, fake, 2)
    lim.pause(5.0)
    lim.pause(2.0)  # shorter: does not shorten the first
    lim.pause(-1.0)  # negative: nothing
    assert lim.pauses == 1
    assert lim.paused_for == pytest.approx(5.0)
    fake.now += 1.0
    lim.pause(10.0)  # ends later than the first: extends it
    assert lim.pauses == 2
    assert lim.paused_for == pytest.approx(10.0)
    await lim.acquire()
    assert fake.now >= start + 11.0


async def test_pause_after_it_ended_is_not_still_active(fake: FakeTime) -> None:
    lim = RateLimiter(rate=10, burst=2, clock=fake)
    lim.pause(1.0)
    fake.now += 5
    assert lim.paused_for == 0
    start = fake.now
    await lim.acquire()
    assert fake.now == start  # the bucket has refilled since the pause ended
    assert lim.pauses == 1


async def test_waited_counts_token_waits_not_pauses(fake: FakeTime) -> None:
    lim = RateLimiter(rate=4, burst=1, clock=fake)
    await lim.acquire()
    lim.pause(2.0)
    await lim.acquire()
    assert lim.waited == pytest.approx(0.25)
    assert fake.now == pytest.approx(1000.0 + 2.0 + 0.25)


def test_default_clock_is_monotonic() -> None:
    import time

    lim = RateLimiter()
    assert lim._clock is time.monotonic


async def test_no_bucket_only_the_pause(fake: FakeTime) -> None:
    """The submit limiter: no rate is known, so nothing waits until a 429 pauses every send for its Retry-After."""
    lim = RateLimiter(rate=None, clock=fake)
    start = fake.now
    assert await take(lim, fake, 100) == [start] * 100
    lim.pause(2.0)
    await lim.acquire()
    assert fake.now == pytest.approx(start + 2.0)
    assert (lim.pauses, lim.waited) == (1, 0)


async def test_a_refused_submit_holds_the_next_send_until_its_retry_after() -> None:
    from qwentui.core.catalog import Mode
    from qwentui.core.errors import RateLimited
    from qwentui.core.requests import GenerationRequest, build
    from tests.helpers import SimHarness, fast_sim_config

    harness = SimHarness(fast_sim_config(submit_qps=2))
    client = harness.client()
    wire = build(GenerationRequest(mode=Mode.T2I, prompt="a fox"))
    try:
        await client.submit(wire)
        await client.submit(wire)
        with pytest.raises(RateLimited):
            await client.submit(wire)  # the third in a second: refused, and the sends pause (Retry-After: 1 s)
        assert client.submit_limiter.pauses == 1 and client.submit_limiter.paused_for > 0.5
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.submit(wire), 0.1)  # waits out the pause instead of being refused again
        assert harness.sim.throttled == 1 and len(harness.sim.tasks()) == 2
    finally:
        await client.aclose()
