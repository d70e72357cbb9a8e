"""Counters of what the Graph adapter sent and received, for the benchmark and the run record.

No personal data: only counts and seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GraphStats:
    #: HTTP requests sent (each ``$batch`` counts once, each page of a read once).
    requests: int = 0
    #: ``$batch`` requests sent, and the requests they carried.
    batches: int = 0
    batch_items: int = 0
    #: Write requests issued (batch items other than GET), retries included.
    writes: int = 0
    #: Read requests issued (pages of delta queries, look-ups), retries included.
    reads: int = 0
    #: Requests or batch items answered ``429``.
    throttled: int = 0
    #: Requests or batch items sent again (after ``429``/``503``/``504``/time-out/replication delay).
    retries: int = 0
    #: Wall-clock seconds spent inside ``apply()`` and ``snapshot()`` (overlapping calls counted once).
    apply_seconds: float = 0.0
    snapshot_seconds: float = 0.0

    @property
    def throttled_share(self) -> float:
        """Share of requests (top-level requests that are not batches, plus batch items) answered 429."""
        answered = self.batch_items + self.requests - self.batches
        return self.throttled / answered if answered else 0.0


class Counters:
    """Mutable counters behind :class:`GraphStats`. Request counters are touched only from the adapter's
    event-loop thread; the busy-time clocks by the calling threads, under a lock."""

    def __init__(self) -> None:
        self.requests = 0
        self.batches = 0
        self.batch_items = 0
        self.writes = 0
        self.reads = 0
        self.throttled = 0
        self.retries = 0
        self._lock = threading.Lock()
        self._busy: dict[str, list[float]] = {"apply": [0, 0.0, 0.0], "snapshot": [0, 0.0, 0.0]}

    def enter(self, what: str) -> None:
        with self._lock:
            active, since, total = self._busy[what]
            if active == 0:
                since = time.monotonic()
            self._busy[what] = [active + 1, since, total]

    def leave(self, what: str) -> None:
        with self._lock:
            active, since, total = self._busy[what]
            if active == 1:
                total += time.monotonic() - since
            self._busy[what] = [active - 1, since, total]

    def freeze(self) -> GraphStats:
        return GraphStats(
            requests=self.requests,
            batches=self.batches,
            batch_items=self.batch_items,
            writes=self.writes,
            reads=self.reads,
            throttled=self.throttled,
            retries=self.retries,
            apply_seconds=self._busy["apply"][2],
            snapshot_seconds=self._busy["snapshot"][2],
        )
