"""The sync orchestration, replayed by the ``azure-functions-durable`` replay engine over host-format history.

The orchestrator functions are the ones ``function_app.app`` registers; :class:`DurableHost` keeps their
histories and performs the actions they return. Activities are hand-written fakes that record their calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from sync.app.orchestration import RETRY_MAX_ATTEMPTS, RunInput, RunOptions
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


# District XL (sds-behaviour.md §4): 50,000 students, 3,000 teachers, 16,000 sections, ~400,000
# enrollments; about 485,000 operations when every change is written one by one (the upper bound).
XL_PHASES = [
    [0, 1_000],
    [1_000, 54_000],
    [54_000, 123_000],
    [123_000, 420_000],
    [420_000, 470_000],
    [470_000, 485_000],
]


@pytest.mark.slow
def test_orchestration_history_stays_bounded_for_district_xl() -> None:
    fakes = FakeActivities(slices=XL_PHASES)
    result = replay(fakes, options=RunOptions(chunk_operations=200))

    assert result.error is None
    assert fakes.finished is not None and fakes.finished["applied"]["applied"] == 485_000
    sizes = sorted((len(instance.history), instance.name) for instance in result.instances())
    largest = result.largest_history
    print(
        f"\nXL: {len(result.instances()) - 1} apply batches; largest history {largest} events "
        f"({sizes[-1][1]}); parent {len(result.history)} events"
    )
    assert largest <= 1_000


def test_an_apply_batch_history_stays_bounded_even_when_every_completion_arrives_alone() -> None:
    options = RunOptions(chunk_operations=200)
    chunks = [[start, start + 200] for start in range(0, 200 * options.chunks_per_batch, 200)]
    fakes = FakeActivities(slices=[])
    host = DurableHost(orchestrators(), fakes, one_completion_per_episode=True)
    fakes.host = host
    batch = {"run_id": RUN_ID, "plan": PLAN_REF, "chunks": chunks, "options": options.to_json()}

    result = host.run("apply_batch", f"{RUN_ID}:apply:0000", batch)

    assert result.output == {"applied": 10_000, "failed": 0, "writes": 10_000}
    print(f"\nworst-case apply batch of {len(chunks)} chunks: {len(result.history)} events")
    assert len(result.history) <= 400
