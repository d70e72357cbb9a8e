"""Applying a plan: phases and batches, the journal, kill-and-resume, retries, failures as findings."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import service
from sync.directory.model import Operation, OperationResult, OpKind
from sync.engine.apply import apply_plan
from sync.engine.journal import MemoryJournal, SqliteJournal
from sync.engine.plan import PHASE_OF, Plan
from sync.engine.planner import make_plan
from sync.errors import DirectoryAccessRefused, PlanHeld
from sync.profile import DeletionPolicy
from tests.engine.fakes import Killed, MemoryDirectory, RosterBuilder, make_profile

TODAY = date(2026, 11, 22)
SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
PROFILE = make_profile(intune_groups=True, deletion=DeletionPolicy(guard_threshold=1.0))


def district() -> RosterBuilder:
    builder = RosterBuilder().school("1").school("2")
    builder.teacher("T1", "1").teacher("T2", "1", "2")
    for i in range(30):
        builder.student(f"S{i}", "1" if i < 20 else "2")
    builder.section("A", "1", ["T1", "T2"], [f"S{i}" for i in range(25)])
    builder.section("B", "2", ["T2"], [f"S{i}" for i in range(20, 30)])
    return builder


def no_sleep(seconds: float) -> None:
    del seconds


def uninterrupted_state() -> dict:
    directory = MemoryDirectory(max_batch=7)
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    assert apply_plan(plan, directory, MemoryJournal()).complete
    return directory.state()


def test_operations_are_sent_in_batches_of_max_batch_that_never_mix_phases() -> None:
    directory = MemoryDirectory(max_batch=7)
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    outcome = apply_plan(plan, directory, MemoryJournal())
    assert outcome.complete and outcome.failed == 0
    assert all(1 <= len(batch) <= 7 for batch in directory.batches)
    assert all(len({PHASE_OF[kind] for kind in batch}) == 1 for batch in directory.batches)
    assert outcome.applied == {**plan.changes}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kill_at=st.integers(min_value=0, max_value=140))
def test_a_run_killed_anywhere_resumes_from_the_journal_to_the_same_state_without_duplicates(
    kill_at: int,
) -> None:
    directory = MemoryDirectory(max_batch=7)
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    journal = MemoryJournal()
    directory.kill_after = kill_at
    with contextlib.suppress(Killed):
        apply_plan(plan, directory, journal)
    sent_before = len(directory.applied)
    outcome = apply_plan(plan, directory, journal)
    assert outcome.complete and outcome.failed == 0
    assert directory.state() == uninterrupted_state()
    # only the chunk in flight when the process died is sent again
    assert len(directory.applied) - len(plan.operations) <= min(sent_before, 7)
    assert len({u.anchor for u in directory.users.values()}) == len(directory.users)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kill_at=st.integers(min_value=0, max_value=140))
def test_a_run_killed_anywhere_and_planned_again_converges_to_the_same_state(kill_at: int) -> None:
    directory = MemoryDirectory(max_batch=7)
    roster = district().build()
    directory.kill_after = kill_at
    with contextlib.suppress(Killed):
        apply_plan(make_plan(roster, PROFILE, directory.snapshot(), TODAY), directory, MemoryJournal())
    directory.kill_after = None
    replanned = make_plan(roster, PROFILE, directory.snapshot(), TODAY)
    assert not replanned.guard.held
    assert apply_plan(replanned, directory, MemoryJournal()).complete
    assert directory.state() == uninterrupted_state()
    assert make_plan(roster, PROFILE, directory.snapshot(), TODAY).operations == ()


def test_the_sqlite_journal_survives_the_process(tmp_path: Path) -> None:
    directory = MemoryDirectory(max_batch=5)
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    directory.kill_after = 12
    journal = SqliteJournal(tmp_path / "journal.db")
    with pytest.raises(Killed):
        apply_plan(plan, directory, journal)
    journal.close()
    reopened = SqliteJournal(tmp_path / "journal.db")
    # phase 1 (2 schools + 6 groups) went in chunks of 5 and 3; the process died inside the next chunk
    assert sorted(reopened.load(plan.plan_id)) == list(range(8))
    assert reopened.load("another-plan") == {}
    assert apply_plan(plan, directory, reopened).complete
    reopened.close()


def test_an_unavailable_directory_is_retried_with_backoff() -> None:
    directory = MemoryDirectory()
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    directory.unavailable = 2
    slept: list[float] = []
    outcome = apply_plan(plan, directory, MemoryJournal(), sleep=slept.append, retry_delays=(0.5, 1.0, 2.0))
    assert outcome.complete
    assert slept == [0.5, 1.0]


class RefusingDirectory(MemoryDirectory):
    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        raise DirectoryAccessRefused("Microsoft Graph refused the credentials (HTTP 403)")


def test_a_directory_that_refuses_the_credentials_is_not_retried() -> None:
    directory = RefusingDirectory()
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    slept: list[float] = []
    with pytest.raises(DirectoryAccessRefused, match="HTTP 403"):
        apply_plan(plan, directory, MemoryJournal(), sleep=slept.append, retry_delays=(0.5, 1.0, 2.0))
    assert slept == []


def test_a_directory_that_stays_unavailable_stops_the_run_cleanly_and_a_rerun_resumes() -> None:
    directory = MemoryDirectory(max_batch=5)
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    journal = MemoryJournal()
    first = apply_plan(plan, directory, journal, sleep=no_sleep, retry_delays=(0.1,))
    assert first.complete
    directory2 = MemoryDirectory(max_batch=5)
    journal2 = MemoryJournal()
    plan2 = make_plan(district().build(), PROFILE, directory2.snapshot(), TODAY)
    apply_plan(replace(plan2, operations=plan2.operations[:10]), directory2, journal2, plan_id=plan2.plan_id)
    directory2.unavailable = 2
    stopped = apply_plan(plan2, directory2, journal2, sleep=no_sleep, retry_delays=(0.1,))
    assert not stopped.complete
    assert stopped.error is not None and "run again to resume" in stopped.error
    assert stopped.done == 10
    sent = len(directory2.applied)
    resumed = apply_plan(plan2, directory2, journal2, sleep=no_sleep, retry_delays=(0.1,))
    assert resumed.complete
    assert len(directory2.applied) - sent == len(plan2.operations) - 10
    assert directory2.state() == directory.state()


def test_a_failed_operation_becomes_a_finding_at_its_record() -> None:
    profile = replace(
        PROFILE, usage_location="US", students=replace(PROFILE.students, licenses=("unknown-sku",))
    )
    directory = MemoryDirectory(skus=[SKU])
    plan = make_plan(district().build(), profile, directory.snapshot(), TODAY)
    outcome = apply_plan(plan, directory, MemoryJournal())
    assert outcome.failed == 30 and outcome.done == outcome.total
    finding = next(f for f in outcome.findings if f.record_id == "S0")
    assert (finding.file, finding.line, finding.code, finding.level) == (
        "students.csv",
        2,
        "directory_error",
        "error",
    )
    assert "InvalidLicense" in finding.message
    assert outcome.applied["licenses_assigned"] == 0
    assert outcome.applied["users_created"] == 32


def test_operations_that_depend_on_a_failed_create_are_skipped_without_a_second_finding() -> None:
    directory = MemoryDirectory()
    profile = replace(
        PROFILE,
        students=replace(PROFILE.students, matching=replace(PROFILE.students.matching, target="mail")),
    )
    plan = make_plan(district().build(), profile, directory.snapshot(), TODAY)
    # Taken after the plan was made (someone else created it meanwhile): creating S3 fails at apply time.
    directory.add_user("ss3@s.example.edu", anchor="Someone_else")
    outcome = apply_plan(plan, directory, MemoryJournal())
    assert [(f.record_id, f.code) for f in outcome.findings] == [("S3", "directory_error")]
    assert "Student_S3" not in directory.members("Section_A", "member")
    assert "Student_S4" in directory.members("Section_A", "member")  # the rest of the chunk went in


def test_a_csv_password_reaches_the_directory_only_at_apply_time() -> None:
    builder = district()
    builder.students[0]["Password"] = "Secret-123"
    directory = MemoryDirectory()
    plan = make_plan(builder.build(), PROFILE, directory.snapshot(), TODAY)
    assert "Secret-123" not in plan.dumps()
    apply_plan(plan, directory, MemoryJournal(), passwords={"Student_S0": "Secret-123"})
    assert directory.users[directory.anchored("Student_S0") or ""].password == "Secret-123"
    assert directory.users[directory.anchored("Student_S1") or ""].password == "generated"


def test_progress_reports_finished_operations_of_the_total() -> None:
    directory = MemoryDirectory(max_batch=20)
    plan = make_plan(district().build(), PROFILE, directory.snapshot(), TODAY)
    seen: list[tuple[int, int]] = []
    apply_plan(plan, directory, MemoryJournal(), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(plan.operations), len(plan.operations))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_journal_records_results_including_failures() -> None:
    journal = MemoryJournal()
    journal.record("p", {0: OperationResult(True, directory_id="x"), 1: OperationResult(False, "E", "m")})
    assert journal.load("p")[1] == OperationResult(False, "E", "m")
    assert journal.load("q") == {}
    assert OpKind.CREATE_USER  # the journal is keyed by plan id, not by operation kind


def test_a_forgotten_plan_starts_again_from_nothing(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    journal.record("p", {0: OperationResult(True), 1: OperationResult(True)})
    journal.record("q", {0: OperationResult(True)})
    journal.forget("p")
    assert journal.load("p") == {}
    assert list(journal.load("q")) == [0]
    journal.close()


def held_plan(directory: MemoryDirectory) -> Plan:
    """A plan the guard holds: section B (10 of 30 students) leaves a synced district, limit 10 %."""
    guarded = replace(PROFILE, deletion=DeletionPolicy(guard_threshold=0.10))
    first = make_plan(district().build(), guarded, directory.snapshot(), TODAY)
    apply_plan(first, directory, MemoryJournal())
    builder = district()
    builder.sections = [row for row in builder.sections if row["Section_id"] != "B"]
    builder.section_teachers = [row for row in builder.section_teachers if row[0] != "B"]
    builder.enrollments = [row for row in builder.enrollments if row[0] != "B"]
    plan = make_plan(builder.build(), guarded, directory.snapshot(), TODAY)
    assert plan.guard.held and plan.operations
    return plan


def test_a_held_plan_applied_from_code_without_approval_is_refused_before_anything_is_sent() -> None:
    directory = MemoryDirectory()
    plan = held_plan(directory)
    before, journal = directory.state(), MemoryJournal()
    calls = directory.apply_calls
    for apply in (apply_plan, service.apply):
        with pytest.raises(PlanHeld, match=r"mass-change guard held this plan \(would expire or delete"):
            apply(plan, directory, journal)
    assert directory.apply_calls == calls and directory.state() == before
    assert journal.load(plan.plan_id) == {}


def test_a_held_plan_is_applied_once_approved() -> None:
    directory = MemoryDirectory()
    plan = held_plan(directory)
    outcome = service.apply(plan, directory, MemoryJournal(), approved=True)
    assert outcome.complete and outcome.failed == 0
    assert outcome.applied["classes_expired"] == 1
    assert directory.members("Section_B", "member") == {"Teacher_T2"}  # expired: its students removed
