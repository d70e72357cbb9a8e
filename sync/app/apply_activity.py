"""The apply activity: operations ``start..end-1`` of a run's plan, through the engine's ``apply_plan`` and
the run's journal, so a retried chunk skips what it finished (see :mod:`sync.app.chunks`).

A plan the mass-change guard held is applied only when the run's record holds an operator's approval (the
approve endpoint records it before it wakes the orchestration): an approval event raised any other way
applies nothing, and the run fails with :class:`~sync.errors.PlanHeld` (a permanent error)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sync.app.chunks import ChunkJournal, cut_chunk
from sync.app.orchestration import RunInput
from sync.app.run_files import journal_of, load_profile, read_plan, validate_set
from sync.app.runtime import Runtime
from sync.app.uploads import SetRef
from sync.directory.model import Operation, OpKind
from sync.engine.apply import apply_plan
from sync.engine.plan import Plan
from sync.engine.user_ops import REDACTED
from sync.errors import SourceError


def _with_roster_password(operations: Sequence[Operation]) -> frozenset[str]:
    return frozenset(
        op.target
        for op in operations
        if op.kind is OpKind.CREATE_USER
        and (op.fields.get("passwordProfile") or {}).get("password") == REDACTED
    )


def _passwords(rt: Runtime, run_id: str, plan: Plan, start: int, end: int) -> dict[str, str]:
    """Roster passwords of the accounts the plan creates, read from the run's set once per process and only
    when operations ``start..end-1`` need them. They stay in memory: never in a blob, a log or a result."""
    if not _with_roster_password(plan.operations[start:end]):
        return {}
    key = f"passwords:{run_id}"
    if key not in rt.cache:
        for stale in [k for k in rt.cache if k.startswith("passwords:")]:
            del rt.cache[stale]
        rt.cache[key] = _read_passwords(rt, run_id, _with_roster_password(plan.operations))
    passwords: dict[str, str] = rt.cache[key]
    return passwords


def _read_passwords(rt: Runtime, run_id: str, wanted: frozenset[str]) -> dict[str, str]:
    record = rt.runs.get_run(run_id)
    container, _, folder = record.source.partition("/")
    if record.source == "clever_api":
        return {}
    run = RunInput(run_id, record.trigger, SetRef(container, folder, record.set_etags))
    profile = load_profile(rt)
    result = validate_set(rt, run, profile)
    if result.roster is None:
        raise SourceError(f"the set in {record.source} no longer validates; upload it again")
    from sync.engine.desired import roster_passwords

    return roster_passwords(result.roster, profile, wanted)


def apply_chunk(rt: Runtime, payload: Mapping[str, Any]) -> dict[str, int]:
    """Apply operations ``start..end-1`` of the plan; journaled, so a retry skips what is done. The payload's
    ``low_priority`` (the run's) says which Graph priority to write with."""
    run_id = str(payload["run_id"])
    start, end = int(payload["start"]), int(payload["end"])
    with rt.telemetry.stage("apply", run_id=run_id):
        plan = read_plan(rt, payload["plan"])
        plan_id = str(payload["plan"]["plan_id"])
        journal = journal_of(rt, run_id)
        chunk = cut_chunk(plan, start, end, journal, plan_id)
        chunk_journal = ChunkJournal(chunk, journal, plan_id)
        passwords = _passwords(rt, run_id, plan, start, end)
        approved = plan.guard.held and rt.runs.get_run(run_id).decision == "approved"
        directory = rt.directory(low_priority=bool(payload.get("low_priority", False)))
        outcome = apply_plan(
            chunk.plan, directory, chunk_journal, passwords=passwords, plan_id=plan_id, approved=approved
        )
        if outcome.error is not None:
            raise SourceError(outcome.error)  # transient: the orchestrator retries the chunk
    window = {i: r for i, r in chunk.known.items() if chunk.global_index[i] >= start}
    done = {**{chunk.global_index[i]: r for i, r in window.items()}, **chunk_journal.recorded}
    return {
        "applied": sum(1 for r in done.values() if r.ok),
        "failed": sum(1 for r in done.values() if not r.ok),
        "writes": sum(1 for r in chunk_journal.recorded.values() if r.code != "Skipped"),
    }
