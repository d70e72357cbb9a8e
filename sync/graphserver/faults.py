"""Fault injection: a share of requests answered 429, 503, a held-then-504 timeout, a replication 404, or
carried out and then answered as a held-then-504 timeout (``applied-timeout``).

A :class:`FaultPlan` says how often; a :class:`FaultInjector` draws, reproducibly for a seed. Faults are drawn
before anything is written: a request refused by a fault changes nothing, except under ``applied-timeout``,
whose request is carried out in full before its answer is held and replaced by a ``504`` — the client cannot
tell whether its write landed (it did), as with real Graph.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from enum import StrEnum

from sync.graphserver.calls import Call


class Fault(StrEnum):
    THROTTLE = "429"
    UNAVAILABLE = "503"
    TIMEOUT = "timeout"
    REPLICATION = "replication"
    APPLIED_TIMEOUT = "applied-timeout"


#: ``--faults`` kind → :class:`FaultPlan` field, in draw order.
KINDS = {
    Fault.THROTTLE.value: "throttle",
    Fault.UNAVAILABLE.value: "unavailable",
    Fault.TIMEOUT.value: "timeout",
    Fault.REPLICATION.value: "replication",
    Fault.APPLIED_TIMEOUT.value: "applied_timeout",
}


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Probabilities per request (and per ``$batch`` item); their sum must not exceed 1."""

    throttle: float = 0.0
    unavailable: float = 0.0
    timeout: float = 0.0
    replication: float = 0.0
    #: Carried out, then held ``timeout_s`` and answered ``504``: a write that landed though it timed out.
    applied_timeout: float = 0.0
    #: How long a timeout or applied-timeout fault holds the answer before the 504 (longer than the
    #: client's timeout).
    timeout_s: float = 2.0
    #: A replication fault hits only requests naming an object created less than this long ago.
    replication_ms: float = 2000.0

    def __post_init__(self) -> None:
        for name in KINDS.values():
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault probability {name}={value} must be between 0 and 1")
        if self.total > 1.0:
            raise ValueError("fault probabilities add up to more than 1")
        if self.timeout_s < 0 or self.replication_ms < 0:
            raise ValueError("timeout_s and replication_ms must not be negative")

    @property
    def total(self) -> float:
        """The planned share of faulted requests (``replication`` hits only requests naming fresh objects)."""
        return sum(float(getattr(self, name)) for name in KINDS.values())

    @property
    def active(self) -> bool:
        return self.total > 0.0

    @classmethod
    def parse(cls, spec: str, *, timeout_s: float = 2.0, replication_ms: float = 2000.0) -> FaultPlan:
        """``"429=0.03,503=0.03,timeout=0.02,replication=0.02,applied-timeout=0.01"`` → a plan; a bad spec
        raises ``ValueError`` naming the part at fault."""
        values: dict[str, float] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in KINDS:
                raise ValueError(f"--faults: {part!r} is not KIND=P; kinds are {', '.join(KINDS)}")
            try:
                values[KINDS[key]] = float(raw)
            except ValueError:
                raise ValueError(f"--faults: {part!r}: {raw!r} is not a number between 0 and 1") from None
        return cls(**values, timeout_s=timeout_s, replication_ms=replication_ms)


class FaultInjector:
    """Draws one fault (or none) per request, thread-safe, reproducible for a seed and a request order."""

    def __init__(self, plan: FaultPlan, seed: int = 0) -> None:
        self.plan = plan
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        # Cumulative bounds in the order of KINDS (a kind added later leaves earlier draws as they were).
        self._bounds: list[tuple[float, Fault]] = []
        bound = 0.0
        for kind, name in KINDS.items():
            bound += getattr(plan, name)
            self._bounds.append((bound, Fault(kind)))

    def draw(self, call: Call | None = None) -> Fault | None:
        """The fault for the next call, or ``None``. ``call`` is the call being served (this injector draws
        at random and ignores it; a subclass may script faults for particular calls)."""
        if not self.plan.active:
            return None
        with self._lock:
            roll = self._random.random()
        for bound, fault in self._bounds:
            if roll < bound:
                return fault
        return None
