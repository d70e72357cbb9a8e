"""The throttling model: token buckets for the documented identity & access limits, scaled by a factor.

Budgets (Graph throttling limits, identity and access service): per app and tenant 3,000 writes per 150 s
and 8,000 resource units per 10 s; per tenant, all apps together, 18,000 writes per 5 min. With
``quota_scale`` *s* every bucket refills at *s* times its documented rate; its size is the documented
budget times ``min(s, 1)`` — so *s* < 1 makes small budgets for tests, and *s* > 1 makes time run *s*
times faster (a benchmark sees the real burst-then-pace shape, compressed).

``Retry-After``: the time until the refusing bucket can pay the request. At *s* ≤ 1 an integer ≥ 1
(as Graph sends); at *s* > 1 a multiple of ``1/s`` seconds, at least ``1/s`` (so ``0.02`` at *s* = 50).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: (scope label, limit label, budget, window in seconds, information on refusal)
APP_WRITES = ("Tenant_Application", "Write", 3000.0, 150.0, "WriteLimitExceeded")
TENANT_WRITES = ("Tenant", "Write", 18000.0, 300.0, "WriteLimitExceeded")
APP_RESOURCE_UNITS = ("Tenant_Application", "ReadWrite", 8000.0, 10.0, "ResourceUnitLimitExceeded")

#: Share of each bucket that ``x-ms-throttle-priority: low`` requests may not draw on.
LOW_PRIORITY_RESERVE = 0.2


class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled continuously at ``rate`` per second. Not thread-safe."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, cost: float, reserve: float) -> float:
        """Seconds until ``cost`` can be paid leaving ``reserve`` (0 = now). Call :meth:`refill` first."""
        missing = cost + reserve - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate

    @property
    def used(self) -> float:
        return 1.0 - self.tokens / self.capacity


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of charging one request (or one ``$batch`` item)."""

    allowed: bool
    resource_units: int
    #: Most-used share of the buckets the request draws on (after charging), for the limit-percentage header.
    used: float
    retry_after: str | None = None
    scope: str | None = None
    information: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"x-ms-resource-unit": str(self.resource_units)}
        if self.used > 0.8:
            headers["x-ms-throttle-limit-percentage"] = f"{min(self.used, 1.8):.2f}"
        if not self.allowed:
            assert self.retry_after is not None and self.scope is not None and self.information is not None
            headers["Retry-After"] = self.retry_after
            headers["x-ms-throttle-scope"] = self.scope
            headers["x-ms-throttle-information"] = self.information
        return headers


def format_retry_after(wait: float, scale: float) -> str:
    """Seconds as sent in ``Retry-After`` (see the module docstring)."""
    if scale <= 1.0:
        return str(max(1, math.ceil(wait - 1e-9)))
    ticks = max(1, math.ceil(wait * scale - 1e-9))
    value = ticks / scale
    return f"{math.ceil(value * 1000 - 1e-6) / 1000:.3f}".rstrip("0").rstrip(".")


def resource_units(method: str, path: str, query: dict[str, str]) -> int:
    """The documented base cost of a request, with the ``$select`` / ``$top`` adjustments."""
    segments = [s for s in path.strip("/").split("/") if s]
    cost = 1
    if method == "GET":
        if segments in (["users"], ["users", "delta"]):
            cost = 2
        elif segments == ["subscribedSkus"] or (
            len(segments) == 3 and segments[0] == "groups" and segments[2] == "members"
        ):
            cost = 3
        if "$select" in query:
            cost -= 1
        top = query.get("$top", "")
        if top.isdigit() and int(top) < 20:
            cost -= 1
    return max(1, cost)


class Throttler:
    """Charges requests against the buckets of their app and tenant; thread-safe."""

    def __init__(self, scale: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if scale <= 0:
            raise ValueError(f"quota scale must be positive, got {scale}")
        self.scale = scale
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}

    def _bucket(self, kind: tuple[str, str, float, float, str], owner: str, now: float) -> TokenBucket:
        key = (kind[0], kind[1], owner)
        bucket = self._buckets.get(key)
        if bucket is None:
            budget, window = kind[2], kind[3]
            bucket = TokenBucket(budget * min(self.scale, 1.0), budget * self.scale / window, now)
            self._buckets[key] = bucket
        return bucket

    def charge(self, *, app: str, tenant: str, ru: int, writes: int, low_priority: bool = False) -> Decision:
        """Pays ``ru`` resource units and ``writes`` writes if every bucket can; otherwise pays nothing and
        answers the refusing bucket with the longest wait."""
        with self._lock:
            now = self._clock()
            draws: list[tuple[tuple[str, str, float, float, str], str, TokenBucket, float]] = []
            kinds = [(APP_RESOURCE_UNITS, f"{app}/{tenant}", float(ru))]
            if writes:
                kinds.append((APP_WRITES, f"{app}/{tenant}", float(writes)))
                kinds.append((TENANT_WRITES, tenant, float(writes)))
            for kind, owner, cost in kinds:
                bucket = self._bucket(kind, owner, now)
                bucket.refill(now)
                draws.append((kind, owner, bucket, cost))
            worst: tuple[float, tuple[str, str, float, float, str], str] | None = None
            for kind, owner, bucket, cost in draws:
                reserve = bucket.capacity * LOW_PRIORITY_RESERVE if low_priority else 0.0
                wait = bucket.wait_for(cost, reserve)
                if wait > 0 and (worst is None or wait > worst[0]):
                    worst = (wait, kind, owner)
            if worst is not None:
                wait, kind, _ = worst
                return Decision(
                    allowed=False,
                    resource_units=ru,
                    used=max(1.0, max(b.used for _, _, b, _ in draws)),
                    retry_after=format_retry_after(wait, self.scale),
                    scope=f"{kind[0]}/{kind[1]}/{app}/{tenant}",
                    information=kind[4],
                )
            for _, _, bucket, cost in draws:
                bucket.tokens -= cost
            return Decision(allowed=True, resource_units=ru, used=max(b.used for _, _, b, _ in draws))
