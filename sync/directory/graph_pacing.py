"""Pacing Graph requests to the write quota instead of hammering into ``429``.

Microsoft Graph limits identity & access writes to **3,000 per 150 s per app per tenant** and resource
units (RU) to **8,000 per 10 s** (``sds-behaviour.md`` §4). A token bucket of rate ``limit / window``
never issues more than ``capacity + rate × window`` writes in any window; with the rate 2 % under the
limit and a capacity of those 2 % (60 writes at scale 1), that stays under the limit, so a run paced by it
sees no ``429`` as long as nothing else spends the same quota.

When something else does (another run, another app), the server says so: ``Retry-After`` on a ``429``
pauses every sender until that instant and cuts the rate (multiplicative decrease);
``x-ms-throttle-limit-percentage`` above 1.0 (the share of the limit in use, sent from 0.8 on) cuts it in
proportion; each answer without such a signal restores a little of it (additive increase).
``x-ms-resource-unit`` gives the RU a request really cost; the RU bucket is charged that afterwards.
A header that is not a finite number is ignored; ``Retry-After`` is obeyed up to ten minutes
(:data:`MAX_RETRY_AFTER_S`) and one answer's RU figure counts at most one window, so that a garbled value
cannot stall a run for hours.

The buckets compute delays from a clock given to them, so their arithmetic is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sync.directory.model import MAX_BATCH

#: Documented limits (per app per tenant).
WRITES_PER_WINDOW = 3000
WRITE_WINDOW_S = 150.0
RU_PER_WINDOW = 8000
RU_WINDOW_S = 10.0
#: Share of the documented rate the buckets aim at: the burst of one batch then never crosses the limit.
SAFETY = 0.98
#: Bounds of the adaptive multiplier applied to both rates.
MIN_MULTIPLIER = 0.1
RECOVERY_STEP = 0.02
#: The longest ``Retry-After`` obeyed, in seconds. Graph asks for seconds to a few minutes; a longer (or
#: garbled) value would hold the whole run for hours, so it is cut to this.
MAX_RETRY_AFTER_S = 600.0

Clock = Callable[[], float]


class TokenBucket:
    """Tokens accrue at ``rate`` per second up to ``capacity``; taking more than there are is allowed
    (the balance goes negative) and makes the next taker wait, which is how a cost known only afterwards
    (RU) is charged."""

    def __init__(
        self, rate: float, capacity: float, *, initial: float | None = None, clock: Clock = time.monotonic
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity if initial is None else min(initial, capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay(self, cost: float) -> float:
        """Seconds to wait before ``cost`` tokens are available (0 when they are)."""
        self._refill()
        needed = min(cost, self.capacity) - self._tokens
        return max(0.0, needed / self.rate)

    def take(self, cost: float) -> None:
        self._refill()
        self._tokens -= cost

    def drain(self) -> None:
        """Forget any saved-up burst (after the server said we were over)."""
        self._refill()
        self._tokens = min(self._tokens, 0.0)

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens


@dataclass(frozen=True, slots=True)
class Quota:
    """The budgets to pace to; ``scale`` multiplies them (the local server's ``--quota-scale``)."""

    scale: float = 1.0
    writes_per_window: int = WRITES_PER_WINDOW
    write_window_s: float = WRITE_WINDOW_S
    ru_per_window: int = RU_PER_WINDOW
    ru_window_s: float = RU_WINDOW_S

    @property
    def write_rate(self) -> float:
        """Documented writes per second (20 at scale 1)."""
        return self.writes_per_window / self.write_window_s * self.scale

    @property
    def ru_rate(self) -> float:
        return self.ru_per_window / self.ru_window_s * self.scale


class Pacer:
    """Both buckets, the shared pause after a ``429`` and the adaptive multiplier."""

    def __init__(self, quota: Quota, *, clock: Clock = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        # The burst is the margin the 2 % safety leaves in a window (60 writes at scale 1): however the
        # sends bunch up, no window sees more than the limit, and a late sender loses no tokens. It
        # starts with one batch's worth, so a run's measured rate is its sustained rate.
        burst = max(float(MAX_BATCH), (1 - SAFETY) * quota.writes_per_window * quota.scale)
        self.writes = TokenBucket(quota.write_rate * SAFETY, burst, initial=MAX_BATCH, clock=clock)
        self.units = TokenBucket(
            quota.ru_rate * SAFETY, (1 - SAFETY) * quota.ru_per_window * quota.scale, clock=clock
        )
        self.multiplier = 1.0
        self._paused_until = 0.0

    def _apply_multiplier(self) -> None:
        self.writes.rate = self.quota.write_rate * SAFETY * self.multiplier
        self.units.rate = self.quota.ru_rate * SAFETY * self.multiplier

    def delay(self, writes: int, units: int) -> float:
        """Seconds to wait before a request of ``writes`` writes costing ``units`` RU may go."""
        pause = max(0.0, self._paused_until - self._clock())
        return max(pause, self.writes.delay(writes) if writes else 0.0, self.units.delay(units))

    def take(self, writes: int, units: int) -> None:
        if writes:
            self.writes.take(writes)
        self.units.take(units)

    async def acquire(self, writes: int, units: int) -> None:
        """Wait for the tokens, then take them. Callers are serialised by the dispatcher."""
        while (wait := self.delay(writes, units)) > 0:
            await asyncio.sleep(wait)
        self.take(writes, units)

    def throttled(self, retry_after_s: float) -> None:
        """The server answered ``429``: everyone waits ``retry_after_s`` and the rate drops."""
        self._paused_until = max(self._paused_until, self._clock() + retry_after_s)
        self.multiplier = max(MIN_MULTIPLIER, self.multiplier * 0.7)
        self.writes.drain()
        self._apply_multiplier()

    def observe(self, headers: Mapping[str, str], *, estimated_units: int) -> None:
        """Correct the model with a response's throttle headers."""
        extra = _number(headers.get("x-ms-resource-unit"))
        if extra is not None and extra > estimated_units:
            # One answer cannot have cost more than a whole window: a larger figure is garbled.
            self.units.take(min(extra, self.quota.ru_per_window * self.quota.scale) - estimated_units)
        used = _number(headers.get("x-ms-throttle-limit-percentage"))
        if used is not None and used > 1.0:
            self.multiplier = max(MIN_MULTIPLIER, self.multiplier / used)
        elif self.multiplier < 1.0:
            self.multiplier = min(1.0, self.multiplier + RECOVERY_STEP)
        self._apply_multiplier()


def _number(value: str | None) -> float | None:
    """A header's number; ``None`` when absent, unreadable or not finite (``inf``, ``nan``)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    """``Retry-After`` in seconds (Graph sends delta-seconds), at most :data:`MAX_RETRY_AFTER_S`; ``default``
    when absent or unreadable."""
    value = _number(headers.get("retry-after") or headers.get("Retry-After"))
    return default if value is None or value < 0 else min(value, MAX_RETRY_AFTER_S)
