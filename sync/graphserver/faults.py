"""Fault injection: a share of requests answered 429, 503, a held-then-504 timeout or a replication 404.

A :class:`FaultPlan` says how often; a :class:`FaultInjector` draws, reproducibly for a seed. Faults are drawn
before anything is written, so a faulted request changes nothing.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    THROTTLE = "429"
    UNAVAILABLE = "503"
    TIMEOUT = "timeout"
    REPLICATION = "replication"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Probabilities per request (and per ``$batch`` item); their sum must not exceed 1."""

    throttle: float = 0.0
    unavailable: float = 0.0
    timeout: float = 0.0
    replication: float = 0.0
    #: How long a timeout fault holds the answer before the 504 (longer than the client's timeout).
    timeout_s: float = 2.0
    #: A replication fault hits only requests naming an object created less than this long ago.
    replication_ms: float = 2000.0

    def __post_init__(self) -> None:
        for name in ("throttle", "unavailable", "timeout", "replication"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {name}={value} must be between 0 and 1")
        if self.throttle + self.unavailable + self.timeout + self.replication > 1.0:
            raise ValueError("fault probabilities add up to more than 1")
        if self.timeout_s < 0 or self.replication_ms < 0:
            raise ValueError("timeout_s and replication_ms must not be negative")

    @property
    def active(self) -> bool:
        return self.throttle + self.unavailable + self.timeout + self.replication > 0.0

    @classmethod
    def parse(cls, spec: str, *, timeout_s: float = 2.0, replication_ms: float = 2000.0) -> FaultPlan:
        """``"429=0.03,503=0.03,timeout=0.02,replication=0.02"`` → a plan; a bad spec raises ``ValueError``
        naming the part at fault."""
        names = {"429": "throttle", "503": "unavailable", "timeout": "timeout", "replication": "replication"}
        values: dict[str, float] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in names:
                raise ValueError(
                    f"--faults: {part!r} is not KIND=P; kinds are 429, 503, timeout, replication"
                )
            try:
                values[names[key]] = float(raw)
            except ValueError:
                raise ValueError(f"--faults: {part!r}: {raw!r} is not a number between 0 and 1") from None
        return cls(**values, timeout_s=timeout_s, replication_ms=replication_ms)


class FaultInjector:
    """Draws one fault (or none) per request, thread-safe, reproducible for a seed and a request order."""

    def __init__(self, plan: FaultPlan, seed: int = 0) -> None:
        self.plan = plan
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._bounds = [
            (plan.throttle, Fault.THROTTLE),
            (plan.throttle + plan.unavailable, Fault.UNAVAILABLE),
            (plan.throttle + plan.unavailable + plan.timeout, Fault.TIMEOUT),
            (plan.throttle + plan.unavailable + plan.timeout + plan.replication, Fault.REPLICATION),
        ]

    def draw(self) -> Fault | None:
        if not self.plan.active:
            return None
        with self._lock:
            roll = self._random.random()
        for bound, fault in self._bounds:
            if roll < bound:
                return fault
        return None
