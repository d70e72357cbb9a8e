"""One apply activity applies operations ``start..end-1`` of a plan with the engine's own ``apply_plan``.

The engine applies whole plans, so a chunk becomes a small plan of its own: the chunk's operations, preceded
by the creates that failed in earlier chunks (already "done" with their failure, never sent again) so that
the engine leaves references to objects that could not be created out of the chunk's operations, as it does
in a single-process run. :class:`ChunkJournal` maps the small plan's indices onto the run's journal, so the
journal stays one per plan and a retried chunk skips what it finished before it was interrupted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from sync.directory.model import OperationResult
from sync.engine.plan import Plan


class WindowJournal(Protocol):
    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None: ...

    def load_window(
        self, plan_id: str, start: int, end: int
    ) -> tuple[dict[int, OperationResult], dict[int, OperationResult]]: ...


@dataclass(frozen=True)
class Chunk:
    plan: Plan
    #: Index in the run's plan of each operation of the chunk's plan.
    global_index: tuple[int, ...]
    #: Results already known, by index in the chunk's plan (earlier failures, and this chunk's done work).
    known: Mapping[int, OperationResult]


def cut_chunk(plan: Plan, start: int, end: int, journal: WindowJournal, plan_id: str) -> Chunk:
    if not 0 <= start < end <= len(plan.operations):
        raise ValueError(f"chunk {start}..{end} is outside the plan's {len(plan.operations)} operations")
    done, failed_before = journal.load_window(plan_id, start, end)
    indices = (*sorted(failed_before), *range(start, end))
    position = {index: at for at, index in enumerate(indices)}
    known = {position[i]: r for i, r in failed_before.items()} | {position[i]: r for i, r in done.items()}
    small = replace(plan, operations=tuple(plan.operations[i] for i in indices), findings=())
    return Chunk(small, indices, known)


class ChunkJournal:
    """The engine's ``Journal`` for one chunk: loads the chunk's known results, records into the run's."""

    def __init__(self, chunk: Chunk, journal: WindowJournal, plan_id: str) -> None:
        self._chunk = chunk
        self._journal = journal
        self._plan_id = plan_id
        self.recorded: dict[int, OperationResult] = {}

    def load(self, plan_id: str) -> dict[int, OperationResult]:
        return dict(self._chunk.known)

    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None:
        mapped = {self._chunk.global_index[i]: result for i, result in results.items()}
        self._journal.record(self._plan_id, mapped)
        self.recorded.update(mapped)
