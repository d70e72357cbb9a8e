"""Pure helpers the orchestrators use: the run's input, how a plan is cut into bounded apply work, pacing.

Orchestrators replay, so everything here is deterministic: no clock, no I/O, no randomness. The plan itself
never reaches an orchestrator; it sees only the plan's blob reference and its phase slices
(``Plan.phase_slices()``), and hands index ranges to the apply activities.

**Bounded history.** A run's apply work is cut three ways, and each orchestration's history is bounded by
its own limit, never by the size of the plan:

- a *chunk* is ``chunk_operations`` operations of one plan phase, one ``apply_chunk`` activity;
- an *apply batch* (``apply_batch`` sub-orchestration) runs at most ``chunks_per_batch`` chunks of one phase;
- an *apply phase* (``apply_phase`` sub-orchestration, one per non-empty plan phase, so at most six) runs its
  phase's batches one after another, at most ``batches_per_generation`` of them per generation of its
  history, then continues as new with the next batch and the running totals (:class:`ApplyPhase`).

So ``sync_run`` sees at most six phases, a generation of ``apply_phase`` at most ``batches_per_generation``
batches, and ``apply_batch`` at most ``chunks_per_batch`` chunks. Instance ids are derived from the run, the
phase and the batch (:func:`apply_phase_id`, :func:`apply_batch_id`), so a replayed or restarted run
addresses the same sub-orchestrations instead of starting new ones.

**Pacing.** Chunks of a batch run ``parallel_chunks`` at a time (a *wave*). After a wave the batch sleeps on a
durable timer until the writes the wave reported fit the Graph write quota (20 writes/s per app and tenant,
times ``GRAPH_QUOTA_SCALE``). Batches, and phases, run one after another, so the whole run stays under the
quota and a phase starts only once the one before it is applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sync.app.uploads import SetRef

#: Graph identity-and-access writes per second per app per tenant (``sds-behaviour.md`` §4).
GRAPH_WRITES_PER_SECOND = 20.0
#: Name of the external event that approves or rejects a held run.
APPROVAL_EVENT = "approval"
#: Activity retry policy (transient faults: storage or Graph unavailable, a worker recycled).
RETRY_FIRST_INTERVAL_MS = 5_000
RETRY_MAX_ATTEMPTS = 4
#: Defaults of ``SYNC_QUEUE_POLL_SECONDS`` and ``SYNC_QUEUE_MAX_HOURS`` (see :mod:`sync.settings`).
QUEUE_POLL_SECONDS = 60.0
QUEUE_MAX_HOURS = 6.0
#: Apply batches per generation of ``apply_phase`` before it continues as new (bounded history).
BATCHES_PER_GENERATION = 50
#: Polls of the sync slot per generation of ``wait_for_slot`` before it continues as new (bounded history).
QUEUE_POLLS_PER_GENERATION = 30


@dataclass(frozen=True, slots=True)
class RunOptions:
    chunk_operations: int = 200
    chunks_per_batch: int = 50
    #: Apply batches per generation of an ``apply_phase`` history (it then continues as new).
    batches_per_generation: int = BATCHES_PER_GENERATION
    parallel_chunks: int = 4
    writes_per_second: float = GRAPH_WRITES_PER_SECOND
    approval_timeout_hours: float = 72.0
    #: A run queued behind another one asks again for the sync slot this often, for at most this long.
    queue_poll_seconds: float = QUEUE_POLL_SECONDS
    queue_max_hours: float = QUEUE_MAX_HOURS
    #: Graph requests carry ``x-ms-throttle-priority: low`` (runs started by the nightly timer): the tenant
    #: throttles them first when it is busy, ahead of interactive work.
    low_priority: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "chunk_operations": self.chunk_operations,
            "chunks_per_batch": self.chunks_per_batch,
            "batches_per_generation": self.batches_per_generation,
            "parallel_chunks": self.parallel_chunks,
            "writes_per_second": self.writes_per_second,
            "approval_timeout_hours": self.approval_timeout_hours,
            "queue_poll_seconds": self.queue_poll_seconds,
            "queue_max_hours": self.queue_max_hours,
            "low_priority": self.low_priority,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunOptions:
        return cls(
            chunk_operations=int(data["chunk_operations"]),
            chunks_per_batch=int(data["chunks_per_batch"]),
            batches_per_generation=int(data.get("batches_per_generation", BATCHES_PER_GENERATION)),
            parallel_chunks=int(data["parallel_chunks"]),
            writes_per_second=float(data["writes_per_second"]),
            approval_timeout_hours=float(data["approval_timeout_hours"]),
            # Inputs of runs started before the sync slot existed have no queue options.
            queue_poll_seconds=float(data.get("queue_poll_seconds", QUEUE_POLL_SECONDS)),
            queue_max_hours=float(data.get("queue_max_hours", QUEUE_MAX_HOURS)),
            low_priority=bool(data.get("low_priority", False)),
        )

    @classmethod
    def from_settings(
        cls,
        *,
        chunk_operations: int,
        quota_scale: float,
        approval_timeout_hours: float,
        queue_poll_seconds: float = QUEUE_POLL_SECONDS,
        queue_max_hours: float = QUEUE_MAX_HOURS,
    ) -> RunOptions:
        return cls(
            chunk_operations=chunk_operations,
            writes_per_second=GRAPH_WRITES_PER_SECOND * quota_scale,
            approval_timeout_hours=approval_timeout_hours,
            queue_poll_seconds=queue_poll_seconds,
            queue_max_hours=queue_max_hours,
        )


@dataclass(frozen=True, slots=True)
class RunInput:
    """The sync orchestration's input: what to sync, why, and how to pace it. References only."""

    run_id: str
    #: ``upload``, ``nightly`` or ``manual``.
    trigger: str
    #: The file set to sync; ``None`` when the profile's source is the Clever API.
    set_ref: SetRef | None
    options: RunOptions = field(default_factory=RunOptions)
    #: The set is the last accepted one, picked when the run started (nightly, or a manual run without a
    #: folder): a set accepted while the run waited for the sync slot supersedes it.
    resync: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "set": self.set_ref.to_json() if self.set_ref else None,
            "options": self.options.to_json(),
            "resync": self.resync,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInput:
        set_data = data.get("set")
        return cls(
            run_id=str(data["run_id"]),
            trigger=str(data["trigger"]),
            set_ref=SetRef.from_json(set_data) if set_data else None,
            options=RunOptions.from_json(data["options"]),
            resync=bool(data.get("resync", False)),
        )


@dataclass(frozen=True, slots=True)
class ApplyPhase:
    """The input of one generation of ``apply_phase``: operations ``start..end-1`` (one plan phase), the
    batch this generation starts with, and the totals of the batches run by the generations before it."""

    run_id: str
    #: The plan's blob reference (``{"blob", "plan_id"}``), never the plan.
    plan: Mapping[str, Any]
    #: Position of the phase among the plan's non-empty phases (0 first).
    index: int
    start: int
    end: int
    options: RunOptions
    next_batch: int = 0
    totals: Mapping[str, int] = field(default_factory=dict)

    @property
    def batch_count(self) -> int:
        """Batches of the whole phase (each at most ``chunks_per_batch`` chunks)."""
        return math.ceil(max(self.end - self.start, 0) / self._batch_operations)

    @property
    def _batch_operations(self) -> int:
        return self.options.chunk_operations * self.options.chunks_per_batch

    def generation(self) -> range:
        """The batches this generation runs, in order: at most ``batches_per_generation``."""
        stop = min(self.next_batch + self.options.batches_per_generation, self.batch_count)
        return range(self.next_batch, stop)

    def chunks(self, batch: int) -> list[tuple[int, int]]:
        """The ``(start, end)`` ranges of batch ``batch``'s chunks; all inside the phase."""
        first = self.start + batch * self._batch_operations
        last = min(first + self._batch_operations, self.end)
        size = self.options.chunk_operations
        return [(at, min(at + size, last)) for at in range(first, last, size)]

    def batch_input(self, batch: int) -> dict[str, Any]:
        """The ``apply_batch`` sub-orchestration's input for batch ``batch``."""
        return {
            "run_id": self.run_id,
            "plan": dict(self.plan),
            "chunks": [list(chunk) for chunk in self.chunks(batch)],
            "options": self.options.to_json(),
        }

    def continued(self, totals: Mapping[str, int]) -> ApplyPhase | None:
        """The next generation's input once this one has run its batches, reaching ``totals``; ``None``
        when this generation ran the phase's last batch."""
        following = self.generation().stop
        if following >= self.batch_count:
            return None
        return replace(self, next_batch=following, totals=dict(totals))

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "plan": dict(self.plan),
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "options": self.options.to_json(),
            "next_batch": self.next_batch,
            "totals": dict(self.totals),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApplyPhase:
        return cls(
            run_id=str(data["run_id"]),
            plan=dict(data["plan"]),
            index=int(data["index"]),
            start=int(data["start"]),
            end=int(data["end"]),
            options=RunOptions.from_json(data["options"]),
            next_batch=int(data.get("next_batch", 0)),
            totals={str(key): int(value) for key, value in dict(data.get("totals", {})).items()},
        )


def apply_phases(
    run_id: str, plan: Mapping[str, Any], phase_slices: Sequence[Sequence[int]], options: RunOptions
) -> list[ApplyPhase]:
    """The first generation of each phase's ``apply_phase``, in plan order (``Plan.phase_slices()``)."""
    return [
        ApplyPhase(run_id, dict(plan), index, int(start), int(end), options)
        for index, (start, end) in enumerate(phase_slices)
    ]


def waves(chunks: Sequence[Sequence[int]], parallel: int) -> list[list[tuple[int, int]]]:
    """Chunks of one batch, ``parallel`` at a time."""
    ranges = [(int(start), int(end)) for start, end in chunks]
    return [ranges[at : at + parallel] for at in range(0, len(ranges), parallel)]


def pause_after_wave(writes: int, elapsed: timedelta, writes_per_second: float) -> timedelta:
    """How long to wait after a wave that made ``writes`` writes in ``elapsed`` so the average stays within
    ``writes_per_second``; zero when the wave was slow enough."""
    needed = timedelta(seconds=math.ceil(1000 * writes / writes_per_second) / 1000)
    return max(needed - elapsed, timedelta(0))


def add_totals(totals: Mapping[str, int], result: Mapping[str, Any]) -> dict[str, int]:
    """Sum the integer counts of an apply result into ``totals``."""
    summed = dict(totals)
    for key, value in result.items():
        if isinstance(value, int) and not isinstance(value, bool):
            summed[key] = summed.get(key, 0) + value
    return summed


def seconds_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)


def decision_of(event: Any) -> str:
    """The decision an approval event carries: ``approved`` or ``rejected`` (anything else rejects)."""
    decision = event.get("decision") if isinstance(event, Mapping) else event
    return "approved" if decision == "approved" else "rejected"


def apply_phase_id(run_id: str, phase: int) -> str:
    return f"{run_id}:apply:{phase}"


def apply_batch_id(run_id: str, phase: int, batch: int) -> str:
    return f"{run_id}:apply:{phase}:{batch:05d}"


def next_queue_poll(now: datetime, queued_since: datetime, options: RunOptions) -> datetime | None:
    """When a queued run next asks for the sync slot: one poll interval on, the last time at the end of the
    maximum wait; ``None`` once that has passed (the run gives up)."""
    deadline = queued_since + timedelta(hours=options.queue_max_hours)
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=options.queue_poll_seconds), deadline)


def queue_gave_up(holder: str, options: RunOptions) -> str:
    """The reason a run that waited the whole time for the sync slot ends ``failed``."""
    return (
        f"gave up after waiting {options.queue_max_hours:g} h for the sync slot: run {holder} held it all "
        "that time (see `python -m sync runs`); start this run again once that one has finished, or raise "
        "SYNC_QUEUE_MAX_HOURS"
    )


#: Longest reason kept from a failed activity; a permanent failure's reason is cut to the same length
#: (:data:`sync.app.permanent.REASON_LIMIT`).
FAILURE_REASON_LIMIT = 500


def first_line(error: BaseException, limit: int = FAILURE_REASON_LIMIT) -> str:
    """A failed activity's message as the orchestrator sees it (``Reason \\n Details``), first line only."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:limit]
