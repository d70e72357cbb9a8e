"""The apply journal: which operations of a plan are finished, so a killed run resumes where it stopped.

Keyed by plan id (``Plan.plan_id``). A chunk's results are recorded atomically after the directory has
applied it; a chunk applied but not recorded (the process died in between) is applied again on resume,
which the directory's idempotence contract makes harmless. A plan id names content, not a run: the same
drift on two nights gives the same plan, so a finished plan's entries are dropped (``forget``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from sync.directory.model import OperationResult
from sync.errors import UsageError


class Journal(Protocol):
    def load(self, plan_id: str) -> dict[int, OperationResult]:
        """Results of the finished operations of ``plan_id``, by operation index (empty for a new plan)."""
        ...

    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None:
        """Record finished operations atomically (all of ``results`` or none)."""
        ...


class MemoryJournal:
    """A journal that lives as long as the process (tests; a dry apply)."""

    def __init__(self) -> None:
        self._plans: dict[str, dict[int, OperationResult]] = {}

    def load(self, plan_id: str) -> dict[int, OperationResult]:
        return dict(self._plans.get(plan_id, {}))

    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None:
        self._plans.setdefault(plan_id, {}).update(results)

    def forget(self, plan_id: str) -> None:
        self._plans.pop(plan_id, None)


class SqliteJournal:
    """A journal in a SQLite file (the CLI keeps it beside the local tenant)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS results (plan_id TEXT NOT NULL, op INTEGER NOT NULL,"
                " ok INTEGER NOT NULL, code TEXT, message TEXT, directory_id TEXT, PRIMARY KEY (plan_id, op))"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as err:
            raise UsageError(f"cannot open the apply journal {self.path}: {err}; check the path") from err

    def load(self, plan_id: str) -> dict[int, OperationResult]:
        rows = self._db.execute(
            "SELECT op, ok, code, message, directory_id FROM results WHERE plan_id = ?", (plan_id,)
        )
        return {
            op: OperationResult(bool(ok), code, message, directory_id)
            for op, ok, code, message, directory_id in rows
        }

    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None:
        rows = [
            (plan_id, index, int(r.ok), r.code, r.message, r.directory_id)
            for index, r in sorted(results.items())
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)", rows)

    def forget(self, plan_id: str) -> None:
        """Drop a finished plan's entries: the same plan may be made again later (the same drift twice)
        and must then be applied again, not skipped as done."""
        with self._db:
            self._db.execute("DELETE FROM results WHERE plan_id = ?", (plan_id,))

    def close(self) -> None:
        self._db.close()


class TenantJournal:
    """A journal whose entries belong to one tenant (``Directory.identity``): the same plan id applied to
    another tenant, or to a tenant file made anew at the same path, is a new plan, not one already done."""

    def __init__(self, inner: SqliteJournal | MemoryJournal, identity: str) -> None:
        self._inner = inner
        self._scope = identity

    def _key(self, plan_id: str) -> str:
        return f"{self._scope}/{plan_id}"

    def load(self, plan_id: str) -> dict[int, OperationResult]:
        return self._inner.load(self._key(plan_id))

    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None:
        self._inner.record(self._key(plan_id), results)

    def forget(self, plan_id: str) -> None:
        self._inner.forget(self._key(plan_id))
