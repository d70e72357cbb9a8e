"""Kill-and-resume at random points on the real embedded tenant (``LocalTenantDirectory``), not the fake.

The process dies during an apply call: before the call wrote anything, after part of its batch reached
the tenant, or after the whole batch was written but before the journal recorded it. The next process opens
the same tenant file and journal anew and applies the same plan (resume from the journal) or plans again
(what ``python -m sync run`` does). Either way the tenant must end in the state of an uninterrupted run,
every operation successful (a duplicate create would fail on the tenant's unique UPN / mail nickname),
with no object or membership twice and nothing left to do.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync import service
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.directory.model import DirectorySnapshot, Operation, OperationResult, OpKind
from sync.engine.apply import ApplyOutcome, apply_plan
from sync.engine.journal import SqliteJournal, TenantJournal
from sync.engine.plan import Plan
from sync.profile import IdentityMatching, Profile, load_profile
from sync.roster.model import Roster
from tests.engine.fakes import Killed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FALL, SPRING = date(2026, 11, 22), date(2027, 1, 20)
BATCH = 5  # small batches: many apply calls, so many places to die


@dataclass(frozen=True)
class Stage:
    """One sync of a set: the tenant it starts from, its plan, and the tenant an uninterrupted run leaves."""

    start: Path
    roster: Roster
    today: date
    plan: Plan
    expected: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    profile: Profile
    stages: dict[str, Stage]


class DiesDuring:
    """The tenant as a process sees it that dies during its ``call``-th apply call (1-based), once the first
    ``written`` operations of that call's batch have reached the tenant (0: none; the batch size or more:
    all of it, the journal not yet told)."""

    def __init__(self, inner: LocalTenantDirectory, call: int, written: int) -> None:
        self.inner = inner
        self.max_batch = inner.max_batch
        self.identity = inner.identity
        self.call = call
        self.written = written
        self.calls = 0
        #: Operations passed to the tenant whole (the batch of the fatal call not counted).
        self.sent = 0

    def snapshot(self) -> DirectorySnapshot:
        return self.inner.snapshot()

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.calls += 1
        if self.calls < self.call:
            self.sent += len(operations)
            return self.inner.apply(operations)
        if self.written:
            self.inner.apply(operations[: self.written])
        raise Killed()


def validated(folder: str, profile: Profile) -> Roster:
    validation = service.validate(service.open_roster_source(str(EXAMPLES / folder), profile), profile)
    assert validation.roster is not None
    return validation.roster


def apply_uninterrupted(path: Path, stage_plan: Plan, roster: Roster, profile: Profile) -> None:
    with LocalTenantDirectory(path, max_batch=BATCH) as tenant, tempfile.TemporaryDirectory() as folder:
        journal = SqliteJournal(Path(folder) / "journal.db")
        outcome = apply_plan(
            stage_plan,
            tenant,
            TenantJournal(journal, tenant.identity),
            passwords=service.passwords_for(stage_plan, roster, profile),
            approved=True,  # the next term's plan is held by the example profile's guard
        )
        journal.close()
    assert outcome.complete and outcome.failed == 0, outcome.findings


def build_scenario(folder: Path, profile: Profile) -> Scenario:
    """The example district's fall set into a tenant that already holds one of its students (unanchored,
    so the plan links it), then the next term's set (sections expire, a student leaves and is disabled,
    new sections) into the fall result with drift (a synced member removed by hand)."""
    fall_start, spring_start, work = folder / "fall.db", folder / "spring.db", folder / "work.db"
    with LocalTenantDirectory(fall_start) as tenant:
        tenant.store.create_user(
            {"userPrincipalName": "ava.smith@students.contoso.edu", "displayName": "Ava (made by hand)"}
        )
        fall_plan = service.make_plan(validated("district", profile), profile, tenant.snapshot(), FALL, [])
    fall_roster = validated("district", profile)
    shutil.copy(fall_start, work)
    apply_uninterrupted(work, fall_plan, fall_roster, profile)
    fall = Stage(fall_start, fall_roster, FALL, fall_plan, dump_state(work))

    shutil.copy(work, spring_start)
    with LocalTenantDirectory(spring_start) as tenant:
        ids = tenant.store.ids_by_anchor("classes", ["Section_Y26-101"])
        [student] = tenant.store.ids_by_anchor("users", ["Student_S01002"]).values()
        tenant.store.remove_links(ids["Section_Y26-101"], "member", [student])
        spring_roster = validated("district-next-term", profile)
        spring_plan = service.make_plan(spring_roster, profile, tenant.snapshot(), SPRING, [])
    shutil.copy(spring_start, work)
    apply_uninterrupted(work, spring_plan, spring_roster, profile)
    spring = Stage(spring_start, spring_roster, SPRING, spring_plan, dump_state(work))
    return Scenario(profile, {"fall": fall, "spring": spring})


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    base = load_profile(EXAMPLES / "profile.toml")
    profile = replace(base, deletion=replace(base.deletion, users="disable"))
    return build_scenario(tmp_path_factory.mktemp("resume"), profile)


def test_the_scenario_exercises_every_kind_of_write_the_resume_must_not_repeat(scenario: Scenario) -> None:
    kinds = {op.kind for stage in scenario.stages.values() for op in stage.plan.operations}
    assert {
        OpKind.CREATE_SCHOOL,
        OpKind.CREATE_GROUP,
        OpKind.CREATE_USER,
        OpKind.LINK_USER,
        OpKind.CREATE_CLASS,
        OpKind.ASSIGN_LICENSES,
        OpKind.ADD_CLASS_MEMBERS,
        OpKind.ADD_SCHOOL_USERS,
        OpKind.ADD_GROUP_MEMBERS,
        OpKind.REMOVE_CLASS_MEMBERS,
        OpKind.REMOVE_GROUP_MEMBERS,
        OpKind.EXPIRE_CLASS,
        OpKind.DISABLE_USER,
    } <= kinds
    assert all(len(stage.plan.operations) > 4 * BATCH for stage in scenario.stages.values())
    assert scenario.stages["fall"].expected != scenario.stages["spring"].expected


def assert_no_duplicates(state: dict[str, Any]) -> None:
    """``dump_state`` keys a second object with the same anchor / nickname ``<key>#2``."""
    for part in ("users", "schools", "classes", "groups"):
        assert not [key for key in state[part] if "#" in key], part
    memberships = [tuple(link) for link in state["memberships"]]
    assert len(memberships) == len(set(memberships))


kill = st.tuples(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=BATCH))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stage_name=st.sampled_from(["fall", "spring"]),
    kills=st.lists(kill, min_size=1, max_size=3),
    replan=st.booleans(),
)
@example(stage_name="fall", kills=[(4, BATCH)], replan=False)  # a whole batch written, never journaled
@example(stage_name="spring", kills=[(3, BATCH), (1, BATCH)], replan=False)
@example(stage_name="spring", kills=[(2, 2)], replan=True)  # half a batch written (as on Graph)
def test_an_apply_killed_at_random_points_on_the_local_tenant_resumes_to_the_uninterrupted_state(
    scenario: Scenario, stage_name: str, kills: list[tuple[int, int]], replan: bool
) -> None:
    assert_resumes(scenario, stage_name, kills, replan)


def assert_resumes(scenario: Scenario, stage_name: str, kills: list[tuple[int, int]], replan: bool) -> None:
    """Apply the stage's plan in processes that die at ``kills`` (``replan``: each new process plans again),
    then in one left to finish; the tenant must end as the uninterrupted run left it."""
    stage, profile = scenario.stages[stage_name], scenario.profile
    with tempfile.TemporaryDirectory() as folder:
        path, journal_file = Path(folder) / "tenant.db", Path(folder) / "tenant.journal.db"
        shutil.copy(stage.start, path)
        plan = stage.plan
        outcome: ApplyOutcome | None = None
        for call, written in [*kills, (0, 0)]:  # (0, 0): the last process is left to finish
            with LocalTenantDirectory(path, max_batch=BATCH) as tenant:  # a new process: tenant and journal
                journal = SqliteJournal(journal_file)
                directory = DiesDuring(tenant, call, written) if call else tenant
                if replan:
                    plan = service.make_plan(stage.roster, profile, tenant.snapshot(), stage.today, [])
                try:
                    outcome = apply_plan(
                        plan,
                        directory,
                        TenantJournal(journal, tenant.identity),
                        passwords=service.passwords_for(plan, stage.roster, profile),
                        approved=True,
                    )
                except Killed:
                    outcome = None
                finally:
                    journal.close()
            if outcome is not None:
                break
        assert outcome is not None and outcome.complete
        assert outcome.failed == 0, outcome.findings
        state = dump_state(path)
        assert state == stage.expected
        assert_no_duplicates(state)
        with LocalTenantDirectory(path) as tenant:
            again = service.make_plan(stage.roster, profile, tenant.snapshot(), stage.today, [])
        assert again.operations == ()


#: Profiles the resume is also tried under: licences per user or per group, Intune groups or not, every
#: deletion policy, students matched by UPN or by Student_id against employeeId.
_PROFILE_OPTIONS = st.tuples(
    st.sampled_from(["user", "group"]),
    st.booleans(),
    st.sampled_from(["keep", "expire", "delete"]),
    st.sampled_from(["keep", "disable", "delete"]),
    st.booleans(),
)
_SCENARIOS: dict[tuple[object, ...], Scenario] = {}


def scenario_under(options: tuple[str, bool, str, str, bool], folders: pytest.TempPathFactory) -> Scenario:
    """The scenario under a profile with these options (built once per options)."""
    if options not in _SCENARIOS:
        licenses, intune, sections, users, by_student_id = options
        base = load_profile(EXAMPLES / "profile.toml")
        profile = replace(
            base,
            license_assignment=licenses,
            intune_groups=intune,
            deletion=replace(base.deletion, sections=sections, users=users),
        )
        if by_student_id:
            matching = IdentityMatching("Student_id", "employeeId", None)
            profile = replace(profile, students=replace(profile.students, matching=matching))
        _SCENARIOS[options] = build_scenario(folders.mktemp("resume"), profile)
    return _SCENARIOS[options]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    options=_PROFILE_OPTIONS,
    stage_name=st.sampled_from(["fall", "spring"]),
    kills=st.lists(kill, min_size=1, max_size=3),
    replan=st.booleans(),
)
def test_the_resume_holds_under_other_profiles(
    tmp_path_factory: pytest.TempPathFactory,
    options: tuple[str, bool, str, str, bool],
    stage_name: str,
    kills: list[tuple[int, int]],
    replan: bool,
) -> None:
    assert_resumes(scenario_under(options, tmp_path_factory), stage_name, kills, replan)


def test_a_batch_written_but_not_journaled_is_sent_again_and_changes_nothing(scenario: Scenario) -> None:
    """The journal's contract, seen on the tenant: the resumed process sends again exactly what the journal
    does not hold (the batch in flight: written, not recorded, then the rest), and the tenant takes the
    batch it already has as done."""
    stage, profile = scenario.stages["spring"], scenario.profile
    passwords = service.passwords_for(stage.plan, stage.roster, profile)
    with tempfile.TemporaryDirectory() as folder:
        path, journal_file = Path(folder) / "tenant.db", Path(folder) / "journal.db"
        shutil.copy(stage.start, path)
        with LocalTenantDirectory(path, max_batch=BATCH) as tenant:
            journal = SqliteJournal(journal_file)
            killed = DiesDuring(tenant, call=3, written=BATCH)
            with pytest.raises(Killed):
                apply_plan(stage.plan, killed, journal, passwords=passwords, approved=True)
            recorded = len(journal.load(stage.plan.plan_id))
            journal.close()
        with LocalTenantDirectory(path, max_batch=BATCH) as tenant:
            journal = SqliteJournal(journal_file)
            resumed = DiesDuring(tenant, call=10**6, written=0)
            outcome = apply_plan(stage.plan, resumed, journal, passwords=passwords, approved=True)
            journal.close()
        assert recorded == killed.sent > 0  # two calls recorded; the third was written, then the process died
        assert resumed.sent == len(stage.plan.operations) - recorded
        assert outcome.complete and outcome.failed == 0, outcome.findings
        assert dump_state(path) == stage.expected
