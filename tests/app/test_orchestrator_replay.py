"""The sync orchestration, replayed by the ``azure-functions-durable`` replay engine over host-format history.

The orchestrator functions are the ones ``function_app.app`` registers; :class:`DurableHost` keeps their
histories and performs the actions they return. Activities are hand-written fakes that record their calls.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import pytest

from sync.app.orchestration import (
    RETRY_MAX_ATTEMPTS,
    RunInput,
    RunOptions,
    apply_batch_id,
    apply_phase_id,
)
from tests.app.app_functions import orchestrators
from tests.app.durable_host import TASK_FAILED, ActivityFault, DurableHost, InstanceResult

RUN_ID = "upload-0123456789abcdef"
OTHER_RUN = "nightly-2026-09-01"
PLAN_REF = {"blob": "reports/runs/upload-0123456789abcdef/plan.json", "plan_id": "p" * 32}


@dataclass
class FakeActivities:
    """The activities of a run, answering as the real ones would for a plan with ``slices``."""

    slices: list[list[int]]
    held: bool = False
    accepted: bool = True
    #: ``(activity, start or None) -> how many attempts fail before one succeeds`` (large = always fails).
    faults: dict[tuple[str, int | None], int] = field(default_factory=dict)
    host: DurableHost | None = None
    applied: list[tuple[int, int, datetime]] = field(default_factory=list)
    finished: dict[str, Any] | None = None
    payloads: list[str] = field(default_factory=list)
    #: Claims of the sync slot refused (another run holds it) before one is granted.
    slot_refusals: int = 0
    #: Who holds the slot while claims are refused.
    slot_holder: str = OTHER_RUN
    #: Activity name -> the message of a permanent error it reports (``{"error", "permanent": true}``).
    permanent: dict[str, str] = field(default_factory=dict)
    #: The run a granted claim names as having completed a newer set (a re-sync then has nothing to do).
    superseded_by: str | None = None
    claims: list[datetime] = field(default_factory=list)
    releases: int = 0

    def __call__(self, name: str, payload: Any, attempt: int) -> Any:
        self.payloads.append(json.dumps(payload))
        start = payload.get("start") if name == "apply_chunk" else None
        if attempt <= self.faults.get((name, start), 0):
            raise ActivityFault(f"{name} attempt {attempt}: storage answered 503 Server Busy")
        if name in self.permanent:
            return {"error": f"{name}: {self.permanent[name]}", "permanent": True}
        if name == "claim_slot":
            assert self.host is not None
            self.claims.append(self.host.clock)
            if len(self.claims) <= self.slot_refusals:
                return {"granted": False, "holder": self.slot_holder, "since": "2026-09-01T01:00:00+00:00"}
            if self.superseded_by is not None:
                return {"granted": True, "superseded_by": self.superseded_by, "source": "uploads/newer"}
            return {"granted": True}
        if name == "release_slot":
            self.releases += 1
            return {"released": True}
        if name == "validate_run":
            roster = f"reports/runs/{RUN_ID}/roster" if self.accepted else None
            return {
                "accepted": self.accepted,
                "status": "completed",
                "roster": roster,
                "findings_errors": 0,
                "findings_warnings": 2,
            }
        if name == "plan_run":
            reasons = ["would remove 23.0 % of managed memberships (limit 10.0 %)"] if self.held else []
            operations = self.slices[-1][1] if self.slices else 0
            return {
                "plan": PLAN_REF,
                "operations": operations,
                "slices": self.slices,
                "held": self.held,
                "reasons": reasons,
            }
        if name == "apply_chunk":
            assert self.host is not None
            self.applied.append((payload["start"], payload["end"], self.host.clock))
            size = payload["end"] - payload["start"]
            return {"applied": size, "failed": 0, "writes": size}
        if name == "finish_run":
            self.finished = payload
            return {"status": "finished", "keys": sorted(payload)}
        raise AssertionError(f"unexpected activity {name}")


def run_input(options: RunOptions | None = None) -> dict[str, Any]:
    return RunInput(RUN_ID, "upload", None, options or RunOptions(chunk_operations=200)).to_json()


def replay(
    fakes: FakeActivities, *, events: dict[str, Any] | None = None, options: RunOptions | None = None
) -> InstanceResult:
    host = DurableHost(orchestrators(), fakes, events=dict(events or {}))
    fakes.host = host
    return host.run("sync_run", RUN_ID, run_input(options))


def activity_names(result: InstanceResult) -> list[str]:
    return [
        event["Name"]
        for instance in result.instances()
        for event in instance.history
        if event["EventType"] == 4
    ]


def test_a_full_run_validates_plans_applies_each_operation_once_phase_by_phase_and_finishes() -> None:
    fakes = FakeActivities(slices=[[0, 450], [450, 1000]])
    result = replay(fakes)

    assert result.error is None
    assert result.output == {
        "status": "finished",
        "keys": ["applied", "decision", "planned", "run", "timings", "validated"],
    }
    applied = sorted((start, end) for start, end, _ in fakes.applied)
    assert [index for start, end in applied for index in range(start, end)] == list(range(1000))
    first_phase_done = max(at for start, _, at in fakes.applied if start < 450)
    assert all(at > first_phase_done for start, _, at in fakes.applied if start >= 450)
    assert fakes.finished is not None
    assert fakes.finished["applied"] == {"applied": 1000, "failed": 0, "writes": 1000}
    assert fakes.finished["decision"] is None
    names = activity_names(result)
    assert [e["Name"] for e in result.history if e["EventType"] == 4] == [
        "validate_run",
        "claim_slot",
        "plan_run",
        "finish_run",
        "release_slot",
    ]
    assert set(names) == {
        "validate_run",
        "claim_slot",
        "plan_run",
        "apply_chunk",
        "finish_run",
        "release_slot",
    }


def test_activities_receive_references_never_roster_or_plan_data() -> None:
    fakes = FakeActivities(slices=[[0, 5000]])
    replay(fakes)

    assert max(len(payload) for payload in fakes.payloads) < 2000
    assert all(
        "operations" not in json.loads(payload).get("planned", {}).get("plan", {})
        for payload in fakes.payloads
    )


def test_a_set_that_fails_validation_goes_straight_to_the_report_without_planning() -> None:
    fakes = FakeActivities(slices=[[0, 100]], accepted=False)
    result = replay(fakes)

    assert activity_names(result) == ["validate_run", "finish_run", "release_slot"]
    assert fakes.finished is not None and fakes.finished["validated"]["accepted"] is False


def test_a_held_run_waits_for_approval_then_applies_when_approved() -> None:
    fakes = FakeActivities(slices=[[0, 300]], held=True)
    result = replay(fakes, events={"approval": {"decision": "approved"}})

    assert result.error is None
    assert any(event["EventType"] == 15 for event in result.history)  # EventRaised
    assert sorted((s, e) for s, e, _ in fakes.applied) == [(0, 200), (200, 300)]
    assert fakes.finished is not None and fakes.finished["decision"] == "approved"


def test_a_held_run_that_is_rejected_applies_nothing_and_records_the_rejection() -> None:
    fakes = FakeActivities(slices=[[0, 300]], held=True)
    result = replay(fakes, events={"approval": {"decision": "rejected"}})

    assert result.error is None
    assert fakes.applied == []
    assert fakes.finished is not None and fakes.finished["decision"] == "rejected"
    assert "applied" not in fakes.finished


def test_a_held_run_nobody_decides_expires_when_the_approval_timer_fires() -> None:
    fakes = FakeActivities(slices=[[0, 300]], held=True)
    options = RunOptions(chunk_operations=200, approval_timeout_hours=2.0)
    result = replay(fakes, options=options)

    assert fakes.applied == []
    assert fakes.finished is not None and fakes.finished["decision"] == "expired"
    assert fakes.finished["timings"]["wait"] == 2 * 3600
    fired = [event for event in result.history if event["EventType"] == 11]
    assert len(fired) == 1


def test_an_activity_failing_transiently_is_retried_and_the_run_completes() -> None:
    fakes = FakeActivities(slices=[[0, 600]], faults={("apply_chunk", 200): 2, ("validate_run", None): 1})
    result = replay(fakes)

    assert result.error is None
    assert fakes.finished is not None and fakes.finished["applied"]["applied"] == 600
    assert "error" not in fakes.finished
    host_calls = [(start, end) for start, end, _ in fakes.applied]
    assert sorted(host_calls) == [(0, 200), (200, 400), (400, 600)]
    failures = [
        event
        for instance in result.instances()
        for event in instance.history
        if event["EventType"] == TASK_FAILED
    ]
    assert len(failures) == 3


def test_an_activity_failing_for_good_ends_the_run_failed_with_its_reason_after_every_retry() -> None:
    fakes = FakeActivities(slices=[[0, 600]], faults={("plan_run", None): 99})
    result = replay(fakes)

    assert result.error is None  # the orchestration records the failure instead of crashing
    assert fakes.applied == []
    assert fakes.finished is not None
    assert fakes.finished["error"].startswith("plan_run attempt 4: storage answered 503 Server Busy")
    attempts = [event for event in result.history if event["EventType"] == 4 and event["Name"] == "plan_run"]
    assert len(attempts) == RETRY_MAX_ATTEMPTS


def test_a_chunk_failing_for_good_fails_its_batch_and_the_run_reports_the_reason() -> None:
    fakes = FakeActivities(slices=[[0, 600]], faults={("apply_chunk", 400): 99})
    result = replay(fakes)

    assert fakes.finished is not None
    assert "apply_chunk attempt 4" in fakes.finished["error"]
    assert "applied" not in fakes.finished
    assert any(child.error for child in result.children)


def test_apply_is_paced_to_the_graph_write_quota() -> None:
    options = RunOptions(chunk_operations=100, parallel_chunks=4, writes_per_second=20.0)
    fakes = FakeActivities(slices=[[0, 2000]])
    replay(fakes, options=options)

    times = sorted(at for _, _, at in fakes.applied)
    elapsed = (times[-1] - times[0]).total_seconds()
    writes_before_last_wave = 2000 - 4 * 100
    assert elapsed >= writes_before_last_wave / 20.0


def sub_orchestrations(result: InstanceResult) -> list[tuple[str, str]]:
    """``(name, instance id)`` of every sub-orchestration the run created (all generations), depth first."""
    return [(instance.name, instance.instance_id) for instance in result.instances()[1:]]


def test_each_plan_phase_is_applied_by_its_own_sub_orchestration_in_plan_order() -> None:
    fakes = FakeActivities(slices=[[0, 450], [450, 1000]])
    result = replay(fakes)

    phases = [child for child in result.children if child.name == "apply_phase"]
    assert [phase.instance_id for phase in phases] == [apply_phase_id(RUN_ID, 0), apply_phase_id(RUN_ID, 1)]
    assert [phase.output for phase in phases] == [
        {"applied": 450, "failed": 0, "writes": 450},
        {"applied": 550, "failed": 0, "writes": 550},
    ]
    batches = [child.instance_id for phase in phases for child in phase.children]
    assert batches == [apply_batch_id(RUN_ID, 0, 0), apply_batch_id(RUN_ID, 1, 0)]


#: Small limits, so that a plan of a few hundred operations needs several generations of ``apply_phase``.
SMALL = RunOptions(chunk_operations=10, chunks_per_batch=2, batches_per_generation=3)


def test_a_long_phase_continues_as_new_applying_each_operation_once_and_carrying_its_totals() -> None:
    fakes = FakeActivities(slices=[[0, 45], [45, 200]])
    result = replay(fakes, options=SMALL)

    assert result.error is None
    applied = sorted((start, end) for start, end, _ in fakes.applied)
    assert [index for start, end in applied for index in range(start, end)] == list(range(200))
    assert max(at for start, _, at in fakes.applied if start < 45) < min(
        at for start, _, at in fakes.applied if start >= 45
    )
    first, second = (child for child in result.children if child.name == "apply_phase")
    # 155 operations = 16 chunks = 8 batches = generations of 3, 3 and 2 batches.
    assert (first.generations, second.generations) == (1, 3)
    assert second.output == {"applied": 155, "failed": 0, "writes": 155}
    assert fakes.finished is not None and fakes.finished["applied"]["applied"] == 200
    batches = [instance_id for name, instance_id in sub_orchestrations(result) if name == "apply_batch"]
    assert batches == [apply_batch_id(RUN_ID, 0, b) for b in range(3)] + [
        apply_batch_id(RUN_ID, 1, b) for b in range(8)
    ]
    assert all(len(child.history) == len(second.children[0].history) for child in second.children[:-1])


def test_a_replayed_run_addresses_the_same_sub_orchestrations() -> None:
    """Instance ids come from the run, the phase and the batch: a run the host restarts from its history
    (or a retried start) addresses the sub-orchestrations it already created instead of new ones."""
    first, second = FakeActivities(slices=[[0, 45], [45, 200]]), FakeActivities(slices=[[0, 45], [45, 200]])

    ids = [sub_orchestrations(replay(fakes, options=SMALL)) for fakes in (first, second)]

    assert ids[0] == ids[1]
    assert len(set(ids[0])) == len(ids[0])


def test_a_phase_paced_across_many_batches_and_generations_stays_within_the_write_quota() -> None:
    options = RunOptions(
        chunk_operations=100, chunks_per_batch=2, batches_per_generation=2, writes_per_second=20.0
    )
    fakes = FakeActivities(slices=[[0, 2000]])
    result = replay(fakes, options=options)

    [phase] = [child for child in result.children if child.name == "apply_phase"]
    assert phase.generations == 5
    times = sorted(at for _, _, at in fakes.applied)
    elapsed = (times[-1] - times[0]).total_seconds()
    assert elapsed >= (2000 - 2 * 100) / 20.0


@pytest.mark.parametrize("low_priority", [False, True])
def test_every_apply_activity_is_told_the_runs_graph_priority(low_priority: bool) -> None:
    fakes = FakeActivities(slices=[[0, 450], [450, 1000]])
    replay(fakes, options=RunOptions(low_priority=low_priority))

    chunks = [json.loads(payload) for payload in fakes.payloads if '"start"' in payload]
    assert len(chunks) == 6  # 450 + 550 operations, 200 a chunk, no chunk across the phases
    assert {chunk["low_priority"] for chunk in chunks} == {low_priority}
    runs = [json.loads(payload)["run"] for payload in fakes.payloads if '"run"' in payload]
    assert {run["options"]["low_priority"] for run in runs} == {low_priority}


# --- history size at district XL ------------------------------------------------------------------------
#
# District XL (bench/district.py): 1,000 schools, 1,000,000 students, 60,000 teachers, 300,000 sections and
# 8,000,000 enrollments. Its first sync against an empty tenant, phase by phase, is district S's first plan
# (14,717 operations: 32 schools and groups, 5,300 users, 1,600 classes + 5,300 licence assignments, 2,485
# membership writes of up to 20 members each; M's is 147,072 = 10 × S, bench/README.md "Planning
# benchmark") scaled to XL (200 × S's users and enrollments, 187.5 × its sections): about 2.9 million
# operations. The worst case writes each of XL's 12.2 million memberships (bench/README.md) one by one.
XL_FIRST_SYNC_PHASES = (3_000, 1_060_000, 1_360_000, 476_000)
XL_WORST_CASE_PHASES = (3_000, 1_060_000, 1_360_000, 12_200_000)
TEN_TIMES_XL_PHASES = tuple(10 * size for size in XL_FIRST_SYNC_PHASES)
#: Ceilings: every orchestration's history, whatever the plan's size (measured: docs/local-development.md).
SYNC_RUN_MAX_EVENTS = 60
APPLY_PHASE_MAX_EVENTS = 4 * RunOptions().batches_per_generation + 10
APPLY_BATCH_MAX_EVENTS = 260


def slices_of(sizes: tuple[int, ...]) -> list[list[int]]:
    slices, start = [], 0
    for size in sizes:
        slices.append([start, start + size])
        start += size
    return slices


def largest_by_orchestrator(result: InstanceResult) -> dict[str, int]:
    """Orchestrator name → the largest history any of its instances (any generation) reached."""
    largest: dict[str, int] = {}
    for instance in result.instances():
        largest[instance.name] = max(largest.get(instance.name, 0), instance.own_largest_history)
    return largest


def _batch_stand_in(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """Stands in for ``apply_batch``: returns the batch's totals at once. A batch's history depends only on
    its own input (at most ``chunks_per_batch`` chunks, checked), and its largest is measured on a full batch
    below; what the stand-in saves is replaying millions of chunk activities to measure the levels above."""
    batch = context.get_input(expected_type=dict)
    assert len(batch["chunks"]) <= RunOptions().chunks_per_batch
    size = sum(end - start for start, end in batch["chunks"])
    return {"applied": size, "failed": 0, "writes": size}
    yield  # a generator, as orchestrators are


def replay_with_batch_stand_in(sizes: tuple[int, ...]) -> tuple[InstanceResult, FakeActivities]:
    fakes = FakeActivities(slices=slices_of(sizes))
    host = DurableHost({**orchestrators(), "apply_batch": df.Orchestrator.create(_batch_stand_in)}, fakes)
    fakes.host = host
    return host.run("sync_run", RUN_ID, run_input(RunOptions())), fakes


@pytest.mark.slow
def test_every_orchestration_history_stays_bounded_for_the_first_sync_of_district_xl() -> None:
    """Every orchestration replayed for real: 2.9 million operations, 14,495 chunk activities."""
    fakes = FakeActivities(slices=slices_of(XL_FIRST_SYNC_PHASES))
    result = replay(fakes, options=RunOptions())

    total = sum(XL_FIRST_SYNC_PHASES)
    assert result.error is None
    assert fakes.finished is not None and fakes.finished["applied"]["applied"] == total
    applied = sorted((start, end) for start, end, _ in fakes.applied)
    assert applied[0][0] == 0 and applied[-1][1] == total
    assert all(end == following for (_, end), (following, _) in itertools.pairwise(applied))
    largest = largest_by_orchestrator(result)
    phases = [child for child in result.children if child.name == "apply_phase"]
    print(
        f"\nXL first sync, {total:,} operations: {len(fakes.applied):,} chunks, "
        f"{sum(len(phase.children) for phase in phases):,} apply batches, "
        f"{sum(phase.generations for phase in phases)} apply_phase generations; largest histories {largest}"
    )
    assert largest["sync_run"] <= SYNC_RUN_MAX_EVENTS
    assert largest["apply_phase"] <= APPLY_PHASE_MAX_EVENTS
    assert largest["apply_batch"] <= APPLY_BATCH_MAX_EVENTS
    # The levels above the batches reach the same histories with the stand-in batches used below.
    stand_in, _ = replay_with_batch_stand_in(XL_FIRST_SYNC_PHASES)
    measured = largest_by_orchestrator(stand_in)
    assert (measured["sync_run"], measured["apply_phase"]) == (largest["sync_run"], largest["apply_phase"])


@pytest.mark.slow
def test_no_history_grows_with_the_plan_from_xls_first_sync_to_its_worst_case_and_ten_times_more() -> None:
    measured = {}
    for name, sizes in (
        ("XL first sync", XL_FIRST_SYNC_PHASES),
        ("XL worst case", XL_WORST_CASE_PHASES),
        ("10 x XL first sync", TEN_TIMES_XL_PHASES),
    ):
        result, fakes = replay_with_batch_stand_in(sizes)
        assert result.error is None
        assert fakes.finished is not None and fakes.finished["applied"]["applied"] == sum(sizes)
        largest = largest_by_orchestrator(result)
        batches = sum(1 for instance in result.instances() if instance.name == "apply_batch")
        print(f"\n{name}: {sum(sizes):,} operations, {batches:,} apply batches; largest histories {largest}")
        measured[name] = (largest["sync_run"], largest["apply_phase"])

    assert len(set(measured.values())) == 1, measured
    sync_run, apply_phase = measured["XL worst case"]
    assert sync_run <= SYNC_RUN_MAX_EVENTS and apply_phase <= APPLY_PHASE_MAX_EVENTS


@pytest.mark.parametrize("failures_per_chunk", [0, 1, RETRY_MAX_ATTEMPTS - 1])
def test_a_full_apply_batch_stays_bounded_when_every_completion_arrives_alone_even_after_retries(
    failures_per_chunk: int,
) -> None:
    """The largest ``apply_batch`` history: a full batch, every activity result in its own episode, and
    (second case) every chunk failing transiently as often as the retry policy allows before it succeeds."""
    options = RunOptions()
    chunks = [[start, start + 200] for start in range(0, 200 * options.chunks_per_batch, 200)]
    faults = {("apply_chunk", start): failures_per_chunk for start, _ in chunks}
    fakes = FakeActivities(slices=[], faults=faults)
    host = DurableHost(orchestrators(), fakes, one_completion_per_episode=True)
    fakes.host = host
    batch = {"run_id": RUN_ID, "plan": PLAN_REF, "chunks": chunks, "options": options.to_json()}

    result = host.run("apply_batch", apply_batch_id(RUN_ID, 0, 0), batch)

    assert result.output == {"applied": 10_000, "failed": 0, "writes": 10_000}
    print(
        f"\nfull apply batch, {len(chunks)} chunks, {failures_per_chunk} transient failures each: "
        f"{len(result.history)} events"
    )
    # A transient failure adds 8 events: the failure, the retry timer created and fired, the new attempt and
    # the two episodes' start and end.
    assert len(result.history) <= APPLY_BATCH_MAX_EVENTS + 8 * failures_per_chunk * len(chunks)
