"""One run at a time per tenant, and no retries of permanent failures: the sync orchestration replayed by the
``azure-functions-durable`` replay engine over host-format history, with the fakes of
``test_orchestrator_replay``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sync.app.orchestration import QUEUE_POLLS_PER_GENERATION, RunOptions, queue_gave_up
from tests.app.durable_host import TASK_FAILED, TASK_SCHEDULED, TIMER_FIRED, InstanceResult
from tests.app.test_orchestrator_replay import OTHER_RUN, FakeActivities, replay

POLL = RunOptions(chunk_operations=200, queue_poll_seconds=60.0, queue_max_hours=2.0)


def scheduled(instance: InstanceResult) -> list[str]:
    return [event["Name"] for event in instance.history if event["EventType"] == TASK_SCHEDULED]


def queue_of(result: InstanceResult) -> InstanceResult:
    [queue] = [child for child in result.children if child.name == "wait_for_slot"]
    return queue


def test_a_run_that_finds_the_slot_taken_waits_on_timers_and_plans_once_it_is_free() -> None:
    fakes = FakeActivities(slices=[[0, 300]], slot_refusals=3)
    result = replay(fakes, options=POLL)

    assert result.error is None
    gaps = [later - earlier for earlier, later in zip(fakes.claims, fakes.claims[1:], strict=False)]
    assert len(gaps) == 3  # the test host spends a second per episode on top of each timer
    assert all(timedelta(seconds=60) <= gap <= timedelta(seconds=65) for gap in gaps)
    queue = queue_of(result)
    assert queue.instance_id.endswith(":queue") and queue.output == {"granted": True}
    assert queue.custom_status == {"stage": "queued", "behind": OTHER_RUN}
    assert sum(1 for event in queue.history if event["EventType"] == TIMER_FIRED) == 3
    assert scheduled(result) == ["validate_run", "claim_slot", "plan_run", "finish_run", "release_slot"]
    assert fakes.applied and min(at for _, _, at in fakes.applied) > fakes.claims[-1]
    assert fakes.finished is not None and fakes.finished["timings"]["queue"] >= 180
    assert "error" not in fakes.finished


def test_a_run_that_gets_the_slot_at_once_neither_queues_nor_waits() -> None:
    fakes = FakeActivities(slices=[[0, 300]])
    result = replay(fakes, options=POLL)

    assert len(fakes.claims) == 1
    assert [child.name for child in result.children] == ["apply_phase"]
    assert fakes.finished is not None and "queue" not in fakes.finished["timings"]


def test_a_run_gives_up_after_the_maximum_wait_naming_the_run_that_held_the_slot() -> None:
    fakes = FakeActivities(slices=[[0, 300]], slot_refusals=10**6)
    result = replay(fakes, options=POLL)

    assert result.error is None
    assert fakes.finished is not None
    assert fakes.finished["error"] == queue_gave_up(OTHER_RUN, POLL)
    assert OTHER_RUN in fakes.finished["error"] and "2 h" in fakes.finished["error"]
    assert fakes.applied == [] and "plan_run" not in scheduled(result)
    waited = fakes.claims[-1] - fakes.claims[0]
    assert timedelta(hours=2) <= waited <= timedelta(hours=2, seconds=10)
    assert 100 <= len(fakes.claims) <= 1 + 120  # the first claim, then about one a minute for two hours
    assert fakes.releases == 1


def test_a_long_wait_continues_as_new_so_no_history_grows_with_the_wait() -> None:
    fakes = FakeActivities(slices=[[0, 300]], slot_refusals=10**6)
    result = replay(fakes, options=POLL)

    queue = queue_of(result)
    polls = len(fakes.claims) - 1
    assert queue.generations >= polls // QUEUE_POLLS_PER_GENERATION >= 3
    # Every generation, not only the last: 8 events a poll, and the generation's first 4.
    assert queue.own_largest_history <= 8 * QUEUE_POLLS_PER_GENERATION + 4
    assert result.largest_history <= 8 * QUEUE_POLLS_PER_GENERATION + 4


def test_the_holder_shown_is_the_one_of_the_last_refusal() -> None:
    fakes = FakeActivities(slices=[[0, 300]], slot_refusals=10**6, slot_holder="manual-20260901T010000")
    replay(fakes, options=RunOptions(queue_poll_seconds=600.0, queue_max_hours=0.5))

    assert fakes.finished is not None and "run manual-20260901T010000 held it" in fakes.finished["error"]
    assert len(fakes.claims) == 1 + 3


EXITS: dict[str, dict[str, Any]] = {
    "completed": {},
    "validation refused the set": {"accepted": False},
    "held and rejected": {"held": True, "events": {"approval": {"decision": "rejected"}}},
    "held and expired": {"held": True},
    "a transient failure that outlasts the retries": {"faults": {("plan_run", None): 99}},
    "a permanent failure": {"permanent": {"plan_run": "profile.toml is not valid"}},
    "a chunk failing for good": {"faults": {("apply_chunk", 200): 99}},
    "gave up waiting for the slot": {"slot_refusals": 10**6},
    "superseded by a newer set": {"slot_refusals": 2, "superseded_by": OTHER_RUN},
}


@pytest.mark.parametrize("path", list(EXITS))
def test_every_way_out_of_a_run_releases_the_slot_after_the_report(path: str) -> None:
    settings = dict(EXITS[path])
    events = settings.pop("events", None)
    fakes = FakeActivities(slices=[[0, 300]], **settings)
    options = RunOptions(chunk_operations=200, approval_timeout_hours=1.0, queue_max_hours=0.1)
    result = replay(fakes, events=events, options=options)

    assert result.error is None
    names = scheduled(result)
    assert names[-2:] == ["finish_run", "release_slot"]
    assert fakes.releases == 1


def test_a_run_whose_report_fails_for_good_still_releases_the_slot_and_fails() -> None:
    fakes = FakeActivities(slices=[[0, 300]], faults={("finish_run", None): 99})
    result = replay(fakes, options=POLL)

    assert result.error is not None and "finish_run attempt 4" in result.error
    assert scheduled(result)[-1] == "release_slot" and fakes.releases == 1


def test_a_permanent_activity_error_ends_the_run_failed_after_one_attempt() -> None:
    reason = "profile config/profile.toml: [sync] source: unknown value 'cleverr'"
    fakes = FakeActivities(slices=[[0, 300]], permanent={"plan_run": reason})
    result = replay(fakes, options=POLL)

    assert result.error is None
    assert scheduled(result).count("plan_run") == 1
    assert not [event for event in result.history if event["EventType"] == TASK_FAILED]
    assert fakes.finished is not None and fakes.finished["error"] == f"plan_run: {reason}"
    assert fakes.applied == []


def test_a_permanent_error_of_a_chunk_fails_the_run_without_retrying_the_chunk() -> None:
    fakes = FakeActivities(slices=[[0, 300]], permanent={"apply_chunk": "blob reports/x/plan.json is gone"})
    result = replay(fakes, options=POLL)

    chunk_attempts = [name for child in result.instances()[1:] for name in scheduled(child)]
    assert chunk_attempts == ["apply_chunk", "apply_chunk"]  # one wave of two chunks, each tried once
    assert fakes.finished is not None
    assert "apply_chunk: blob reports/x/plan.json is gone" in fakes.finished["error"]


def test_a_transient_error_is_still_retried_before_the_run_goes_on() -> None:
    fakes = FakeActivities(slices=[[0, 300]], faults={("claim_slot", None): 2})
    result = replay(fakes, options=POLL)

    assert scheduled(result).count("claim_slot") == 3
    assert fakes.finished is not None and "error" not in fakes.finished


@pytest.mark.parametrize("refusals", [0, 2])
def test_a_resync_superseded_by_a_newer_set_ends_without_planning(refusals: int) -> None:
    fakes = FakeActivities(slices=[[0, 300]], slot_refusals=refusals, superseded_by=OTHER_RUN)
    result = replay(fakes, options=POLL)

    assert result.error is None
    assert scheduled(result) == ["validate_run", "claim_slot", "finish_run", "release_slot"]
    assert fakes.applied == []
    assert fakes.finished is not None and fakes.finished["superseded_by"] == OTHER_RUN
    assert "planned" not in fakes.finished and "error" not in fakes.finished
