"""Planning licences per user (``license_assignment = "user"``) and per group (``"group"``: the role's
SKUs go once to All Students / All Teachers, which every student / teacher joins)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from sync.directory.model import MAX_BATCH, OpKind
from sync.engine.plan import PHASE_OF, Plan
from sync.engine.planner import make_plan
from sync.profile import Profile
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile, sync_once

TODAY = date(2026, 11, 22)
SKU_S = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
SKU_T = "94763226-9b3c-4e75-a931-5c89701abe66"
SKU_EXTRA = "e82ae690-a2d5-4d76-8d30-7c6e01e6022e"


def district(students: int = 3) -> RosterBuilder:
    builder = RosterBuilder().school("1", "North High").school("2", "South High")
    builder.teacher("T1", "1").teacher("T2", "2")
    ids = [f"S{i}" for i in range(students)]
    for index, student_id in enumerate(ids):
        builder.student(student_id, "1" if index % 2 == 0 else "2")
    builder.section("A", "1", ["T1"], ids)
    return builder


def licensed(mode: str, **overrides: Any) -> Profile:
    base = make_profile()
    profile: Profile = make_profile(
        usage_location="US",
        license_assignment=mode,
        students=replace(base.students, licenses=(SKU_S,)),
        teachers=replace(base.teachers, licenses=(SKU_T,)),
        **overrides,
    )
    return profile


def ops(plan: Plan, kind: OpKind) -> list[Any]:
    return [op for op in plan.operations if op.kind is kind]


def test_in_user_mode_each_user_gets_its_licences_and_no_group_is_made() -> None:
    plan = make_plan(district().build(), licensed("user"), MemoryDirectory().snapshot(), TODAY)

    assigned = {op.target: list(op.fields["addLicenses"]) for op in ops(plan, OpKind.ASSIGN_LICENSES)}
    assert assigned == {
        "Student_S0": [SKU_S],
        "Student_S1": [SKU_S],
        "Student_S2": [SKU_S],
        "Teacher_T1": [SKU_T],
        "Teacher_T2": [SKU_T],
    }
    assert not ops(plan, OpKind.CREATE_GROUP)
    assert not ops(plan, OpKind.ASSIGN_GROUP_LICENSES)
    assert plan.changes["group_licenses_assigned"] == 0


def test_in_group_mode_all_students_and_all_teachers_are_made_filled_and_licensed_once() -> None:
    plan = make_plan(district().build(), licensed("group"), MemoryDirectory().snapshot(), TODAY)

    assert not ops(plan, OpKind.ASSIGN_LICENSES)
    created = {op.target: dict(op.fields) for op in ops(plan, OpKind.CREATE_GROUP)}
    assert created == {
        "Group_All_Students": {"displayName": "All Students", "mailNickname": "All_Students"},
        "Group_All_Teachers": {"displayName": "All Teachers", "mailNickname": "All_Teachers"},
    }  # no per-school Intune groups: intune_groups is off
    members = {op.target: op.refs for op in ops(plan, OpKind.ADD_GROUP_MEMBERS)}
    assert members == {
        "Group_All_Students": ("Student_S0", "Student_S1", "Student_S2"),
        "Group_All_Teachers": ("Teacher_T1", "Teacher_T2"),
    }
    licences = {op.target: dict(op.fields) for op in ops(plan, OpKind.ASSIGN_GROUP_LICENSES)}
    assert licences == {
        "Group_All_Students": {"addLicenses": [SKU_S], "removeLicenses": []},
        "Group_All_Teachers": {"addLicenses": [SKU_T], "removeLicenses": []},
    }
    assert (plan.changes["group_licenses_assigned"], plan.changes["licenses_assigned"]) == (2, 0)
    assert {op.fields["usageLocation"] for op in ops(plan, OpKind.CREATE_USER)} == {"US"}


def test_group_licences_come_after_the_groups_exist_and_before_their_members_are_added() -> None:
    plan = make_plan(district().build(), licensed("group"), MemoryDirectory().snapshot(), TODAY)

    phase = {op.kind: PHASE_OF[op.kind] for op in plan.operations}
    assert phase[OpKind.CREATE_GROUP] < phase[OpKind.ASSIGN_GROUP_LICENSES] < phase[OpKind.ADD_GROUP_MEMBERS]


def test_group_members_are_added_twenty_per_operation() -> None:
    plan = make_plan(district(45).build(), licensed("group"), MemoryDirectory().snapshot(), TODAY)

    sizes = [len(op.refs) for op in ops(plan, OpKind.ADD_GROUP_MEMBERS) if op.target == "Group_All_Students"]
    assert sizes == [MAX_BATCH, MAX_BATCH, 5]


def test_a_second_plan_in_group_mode_is_empty() -> None:
    roster, profile, directory = district().build(), licensed("group"), MemoryDirectory()
    sync_once(roster, profile, directory, TODAY)

    again = make_plan(roster, profile, directory.snapshot(), TODAY)

    assert again.operations == ()
    assert set(again.changes.values()) == {0}


def test_switching_from_user_to_group_mode_keeps_the_licences_users_hold_directly() -> None:
    """Licences are never removed: after the switch the users keep their direct licences (an admin
    removes them once the groups carry the licences) and the groups get theirs on top."""
    roster, directory = district().build(), MemoryDirectory()
    sync_once(roster, licensed("user"), directory, TODAY)

    plan = sync_once(roster, licensed("group"), directory, TODAY)

    assert {op.kind for op in plan.operations} == {
        OpKind.CREATE_GROUP,
        OpKind.ASSIGN_GROUP_LICENSES,
        OpKind.ADD_GROUP_MEMBERS,
    }
    assert {tuple(sorted(user.licenses)) for user in directory.users.values()} == {(SKU_S,), (SKU_T,)}


def test_a_group_that_holds_the_licences_gets_none_and_a_missing_sku_is_added_alone() -> None:
    roster, directory = district().build(), MemoryDirectory()
    sync_once(roster, licensed("group"), directory, TODAY)
    more = licensed("group")
    more = replace(more, students=replace(more.students, licenses=(SKU_S, SKU_EXTRA)))

    plan = make_plan(roster, more, directory.snapshot(), TODAY)

    assert [(op.target, list(op.fields["addLicenses"])) for op in plan.operations] == [
        ("Group_All_Students", [SKU_EXTRA])
    ]


def test_a_student_who_leaves_leaves_all_students_but_per_school_groups_are_left_alone() -> None:
    directory = MemoryDirectory()
    sync_once(district().build(), licensed("group", intune_groups=True), directory, TODAY)
    builder = district()
    builder.students.pop()  # S2 leaves
    builder.enrollments = [row for row in builder.enrollments if row[1] != "S2"]

    plan = make_plan(builder.build(), licensed("group"), directory.snapshot(), TODAY)

    removed = {(op.target, ref) for op in ops(plan, OpKind.REMOVE_GROUP_MEMBERS) for ref in op.refs}
    assert removed == {("Group_All_Students", "Student_S2")}  # not from "Students – North High"


def test_with_intune_groups_group_mode_licenses_the_all_groups_and_keeps_the_school_groups() -> None:
    plan = make_plan(
        district().build(), licensed("group", intune_groups=True), MemoryDirectory().snapshot(), TODAY
    )

    assert len(ops(plan, OpKind.CREATE_GROUP)) == 6  # All ×2 + Students/Teachers per school ×2
    assert {op.target for op in ops(plan, OpKind.ASSIGN_GROUP_LICENSES)} == {
        "Group_All_Students",
        "Group_All_Teachers",
    }


def test_in_group_mode_staff_keep_per_user_licences_as_they_are_in_no_licensed_group() -> None:
    builder = district(1)
    builder.staff_member("F1", "1")

    plan = make_plan(builder.build(), licensed("group", sync_staff=True), MemoryDirectory().snapshot(), TODAY)

    assert [(op.target, list(op.fields["addLicenses"])) for op in ops(plan, OpKind.ASSIGN_LICENSES)] == [
        ("Staff_F1", [SKU_T])
    ]
    members = {ref for op in ops(plan, OpKind.ADD_GROUP_MEMBERS) for ref in op.refs}
    assert "Staff_F1" not in members


def test_a_teacher_back_as_staff_gets_its_own_licence_as_it_leaves_all_teachers() -> None:
    """T1's account holds the teachers' SKU only through All Teachers (Graph lists inherited licences in
    ``assignedLicenses``, as set by hand here). T1 comes back as staff member F1 with T1's Username, is
    matched to that account, and leaves All Teachers in this plan: the licence must be its own now."""
    directory = MemoryDirectory()
    profile = licensed("group", sync_staff=True)
    sync_once(district(1).build(), profile, directory, TODAY)
    [account] = [user for user in directory.users.values() if user.anchor == "Teacher_T1"]
    account.licenses.add(SKU_T)  # inherited from All Teachers

    builder = RosterBuilder().school("1", "North High").school("2", "South High").teacher("T2", "2")
    builder.student("S0", "1").section("A", "1", ["T2"], ["S0"]).staff_member("F1", "1", Username="tt1")
    plan = make_plan(builder.build(), profile, directory.snapshot(), TODAY)

    assert [op.target for op in ops(plan, OpKind.LINK_USER)] == ["Staff_F1"]
    assert [(op.target, list(op.fields["addLicenses"])) for op in ops(plan, OpKind.ASSIGN_LICENSES)] == [
        ("Staff_F1", [SKU_T])
    ]
    removed = [(op.target, ref) for op in ops(plan, OpKind.REMOVE_GROUP_MEMBERS) for ref in op.refs]
    assert ("Group_All_Teachers", "Staff_F1") in removed
