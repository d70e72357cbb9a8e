"""Counters the benchmark reads: requests, reads, writes, ``$batch`` items, resource units, 429s by scope,
faults by kind, and writes carried out though an ``applied-timeout`` fault hid their answer
(``faulted_writes_applied``), and the calls a replication fault could hit (``fresh_calls``). Thread-safe;
:meth:`Stats.snapshot` is a JSON-able copy."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def throttled(self, scope: str) -> None:
        with self._lock:
            self._throttled[scope] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = {
                name: self._counts[name]
                for name in (
                    "requests",
                    "batches",
                    "batch_items",
                    "reads",
                    "writes",
                    "resource_units",
                    "faulted_writes_applied",
                    "fresh_calls",
                )
            }
            data["throttled"] = dict(sorted(self._throttled.items()))
            data["throttled_total"] = sum(self._throttled.values())
            data["faults"] = dict(sorted(self._faults.items()))
            return data
