"""The service's clock as seen from ours: `server time - local time`, measured from the HTTP `Date` header.

Why: the task list is filtered by creation time on the service's clock, and the reconciler looks for a lost
submission in a window around the moment we sent it. A local clock that is off (no NTP, a wrong manual
setting, a VM resumed from a snapshot) would move that window away from the task, and an absence seen there
would wrongly prove that the POST never arrived: a second, billed submission.

Each answer says the server's time was in [D, D + 1) (`Date` has whole seconds) at some moment between our
send and our receipt, so the offset lies in [D - received, D + 1 - sent]. Intersecting these intervals over
many answers narrows it well below a second; an answer that contradicts the interval so far means one of
the clocks was set (a jump): the estimate starts afresh from that answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

SLACK = 0.25  # tolerated disagreement between samples (drift, a rounding server) before calling it a jump


class ServerClock:
    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local  # the clock submissions are stamped with; the engine sets its own
        self.samples = 0
        self.resets = 0
        self._lo = float("-inf")
        self._hi = float("inf")

    @property
    def offset(self) -> float | None:
        """Server minus local, in seconds (the middle of what is known), or None before any answer."""
        return None if self.samples == 0 else (self._lo + self._hi) / 2

    @property
    def uncertainty(self) -> float:
        """Half the width of the interval the offset is known to lie in (inf before any answer)."""
        return float("inf") if self.samples == 0 else (self._hi - self._lo) / 2

    @property
    def known_within(self) -> float | None:
        """`uncertainty` as stored with a submission: None before any answer (nothing is known yet)."""
        return None if self.samples == 0 else self.uncertainty

    def observe(self, lo: float, hi: float) -> None:
        """One sample: the offset lies in [lo, hi]."""
        if self.samples and (lo > self._hi + SLACK or hi < self._lo - SLACK):
            self.resets += 1  # a clock was set: what was known before no longer holds
            self._lo, self._hi, self.samples = lo, hi, 0
        else:
            self._lo, self._hi = max(self._lo, lo), min(self._hi, hi)
            if self._lo > self._hi:  # within the slack: keep the newest sample's side of the overlap
                self._lo, self._hi = min(lo, hi), max(lo, hi)
        self.samples += 1

    def observe_date(self, sent: float, received: float, date_header: str | None) -> None:
        """An HTTP answer with its `Date` header, sent and received at these local times."""
        if not date_header:
            return
        try:
            server = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return  # a malformed header proves nothing
        if received < sent:
            return  # our own clock moved during the exchange
        self.observe(server - received, server + 1 - sent)

    def to_server(self, local_time: float, known_offset: float | None = None) -> float:
        """A local moment on the server's clock (by `known_offset` if given, else the current estimate)."""
        offset = known_offset if known_offset is not None else self.offset
        return local_time + (offset or 0.0)
