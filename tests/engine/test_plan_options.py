"""Planning: each profile option, the shape of the operations, determinism."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from sync.directory.model import MAX_BATCH, OpKind
from sync.engine.plan import PHASE_OF
from sync.engine.planner import ProfileExpired, make_plan
from sync.profile import IdentityMatching, RoleSettings
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile, sync_once

TODAY = date(2026, 11, 22)
SKU_S = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
SKU_T = "94763226-9b3c-4e75-a931-5c89701abe66"


def district(students: int = 3) -> RosterBuilder:
    builder = RosterBuilder().school("1", "North High", School_number="0001", Principal="P. Rinci")
    builder.teacher("T1", "1", Teacher_number="77")
    ids = [f"S{i}" for i in range(students)]
    for student_id in ids:
        builder.student(student_id, "1", Grade="9", Gender="F", Student_number=student_id[1:])
    builder.section("A", "1", ["T1"], ids, Section_number="HR-1", Course_name="Algebra", Term_name="Fall")
    return builder


def ops(plan, kind: OpKind) -> list:
    return [op for op in plan.operations if op.kind is kind]


def test_operations_come_in_phase_order_and_the_plan_is_byte_identical_for_the_same_inputs() -> None:
    roster, profile = district().build(), make_profile(intune_groups=True)
    snapshot = MemoryDirectory().snapshot()
    first, second = make_plan(roster, profile, snapshot, TODAY), make_plan(roster, profile, snapshot, TODAY)
    assert first.dumps() == second.dumps()
    assert first.plan_id == second.plan_id
    phases = [PHASE_OF[op.kind] for op in first.operations]
    assert phases == sorted(phases)


def test_a_second_plan_after_applying_the_first_is_empty() -> None:
    roster = district().build()
    profile = make_profile(
        intune_groups=True,
        usage_location="US",
        school_properties=frozenset({"School_number", "Principal"}),
        section_properties=frozenset({"Name", "Section_number", "Course_name", "Term_name"}),
    )
    directory = MemoryDirectory()
    sync_once(roster, profile, directory, TODAY)
    again = make_plan(roster, profile, directory.snapshot(), TODAY)
    assert again.operations == ()
    assert set(again.changes.values()) == {0}


def test_new_users_get_upn_from_username_and_domain_the_usage_location_and_their_facet() -> None:
    builder = district(1)
    builder.student("S9", "1", Username="nine@elsewhere.edu")
    plan = make_plan(builder.build(), make_profile(usage_location="NZ"), MemoryDirectory().snapshot(), TODAY)
    creates = {op.target: op.fields for op in ops(plan, OpKind.CREATE_USER)}
    assert creates["Student_S9"]["userPrincipalName"] == "nine@elsewhere.edu"
    assert creates["Teacher_T1"]["userPrincipalName"] == "tt1@example.edu"
    assert creates["Student_S0"]["usageLocation"] == "NZ"
    assert creates["Student_S0"]["student"] == {
        "externalId": "S0",
        "studentNumber": "0",
        "grade": "9",
        "gender": "female",
    }
    assert creates["Teacher_T1"]["teacher"] == {"externalId": "T1", "teacherNumber": "77"}
    assert creates["Teacher_T1"]["primaryRole"] == "teacher"


def test_a_csv_password_is_redacted_in_the_plan() -> None:
    builder = district(1)
    builder.students[0]["Password"] = "Secret-123"
    plan = make_plan(builder.build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    create = next(op for op in ops(plan, OpKind.CREATE_USER) if op.target == "Student_S0")
    assert create.fields["passwordProfile"] == {"password": "***", "forceChangePasswordNextSignIn": True}
    assert "Secret-123" not in plan.dumps()


def test_only_changed_user_properties_are_updated() -> None:
    builder = district(2)
    directory = MemoryDirectory()
    sync_once(builder.build(), make_profile(), directory, TODAY)
    builder.students[0]["Last_name"] = "Newname"
    builder.students[1]["Grade"] = "10"
    plan = make_plan(builder.build(), make_profile(), directory.snapshot(), TODAY)
    updates = {op.target: dict(op.fields) for op in ops(plan, OpKind.UPDATE_USER)}
    assert updates["Student_S0"] == {"surname": "Newname", "displayName": "FirstS0 Newname"}
    assert updates["Student_S1"]["student"]["grade"] == "10"
    assert set(updates["Student_S1"]) == {"student"}
    assert plan.changes["users_updated"] == 2


def test_school_and_section_properties_write_only_the_columns_the_profile_names() -> None:
    profile = make_profile(
        school_properties=frozenset({"Principal"}), section_properties=frozenset({"Course_name"})
    )
    plan = make_plan(district().build(), profile, MemoryDirectory().snapshot(), TODAY)
    school = ops(plan, OpKind.CREATE_SCHOOL)[0].fields
    assert dict(school) == {"displayName": "North High", "externalId": "1", "principalName": "P. Rinci"}
    section = ops(plan, OpKind.CREATE_CLASS)[0].fields
    assert dict(section) == {
        "displayName": "Class A",
        "mailNickname": "Section_A",
        "externalId": "A",
        "course": {"displayName": "Algebra"},
    }


@pytest.mark.parametrize("locked", [True, False])
def test_a_locked_class_name_is_written_at_creation_only(locked: bool) -> None:
    profile = make_profile(lock_section_display_name=locked)
    directory = MemoryDirectory()
    sync_once(district().build(), profile, directory, TODAY)
    directory.objects[directory.anchored("Section_A") or ""].display_name = "Mr T's algebra"
    plan = make_plan(district().build(), profile, directory.snapshot(), TODAY)
    updates = ops(plan, OpKind.UPDATE_CLASS)
    assert (updates == []) is locked
    if not locked:
        assert dict(updates[0].fields) == {"displayName": "Class A"}


def test_teachers_own_and_are_members_and_a_big_class_is_created_with_twenty_then_chunked() -> None:
    plan = make_plan(district(45).build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    create = ops(plan, OpKind.CREATE_CLASS)[0]
    assert create.owners == ("Teacher_T1",)
    assert len(create.owners) + len(create.refs) == MAX_BATCH
    adds = ops(plan, OpKind.ADD_CLASS_MEMBERS)
    assert [len(op.refs) for op in adds] == [20, 7]
    members = set(create.refs).union(*(op.refs for op in adds))
    assert members == {f"Student_S{i}" for i in range(45)} | {"Teacher_T1"}
    assert plan.changes["owners_added"] == 1 and plan.changes["members_added"] == 46


def test_before_the_enrollment_start_date_students_are_neither_added_nor_removed() -> None:
    profile = make_profile(student_enrollment_start_date=date(2027, 1, 10))
    directory = MemoryDirectory()
    sync_once(district(2).build(), make_profile(), directory, TODAY)  # students already in the class
    builder = district(0)
    builder.student("S5", "1")
    builder.enrollments.append(("A", "S5", "1"))
    plan = make_plan(builder.build(), profile, directory.snapshot(), TODAY)
    assert not ops(plan, OpKind.ADD_CLASS_MEMBERS)
    assert not ops(plan, OpKind.REMOVE_CLASS_MEMBERS)
    after = make_plan(builder.build(), profile, directory.snapshot(), date(2027, 1, 10))
    assert [op.refs for op in ops(after, OpKind.ADD_CLASS_MEMBERS)] == [("Student_S5",)]
    assert [op.refs for op in ops(after, OpKind.REMOVE_CLASS_MEMBERS)] == [("Student_S0", "Student_S1")]


def test_a_new_class_before_the_start_date_gets_its_teachers_only() -> None:
    profile = make_profile(student_enrollment_start_date=date(2027, 1, 10))
    plan = make_plan(district(3).build(), profile, MemoryDirectory().snapshot(), TODAY)
    create = ops(plan, OpKind.CREATE_CLASS)[0]
    assert (create.owners, create.refs) == (("Teacher_T1",), ("Teacher_T1",))


def test_intune_groups_are_created_and_filled_per_role_and_school() -> None:
    plan = make_plan(
        district(2).build(), make_profile(intune_groups=True), MemoryDirectory().snapshot(), TODAY
    )
    groups = {op.target: dict(op.fields) for op in ops(plan, OpKind.CREATE_GROUP)}
    assert groups == {
        "Group_All_Students": {"displayName": "All Students", "mailNickname": "All_Students"},
        "Group_All_Teachers": {"displayName": "All Teachers", "mailNickname": "All_Teachers"},
        "Group_Students_1": {"displayName": "Students – North High", "mailNickname": "Students_1"},
        "Group_Teachers_1": {"displayName": "Teachers – North High", "mailNickname": "Teachers_1"},
    }
    members = {op.target: op.refs for op in ops(plan, OpKind.ADD_GROUP_MEMBERS)}
    assert members["Group_Students_1"] == ("Student_S0", "Student_S1")
    assert members["Group_All_Teachers"] == ("Teacher_T1",)
    without = make_plan(district(2).build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    assert not ops(without, OpKind.CREATE_GROUP) and not ops(without, OpKind.ADD_GROUP_MEMBERS)


def test_licences_missing_on_an_account_are_assigned_and_none_are_removed() -> None:
    profile = make_profile(
        usage_location="US",
        students=replace(make_profile().students, licenses=(SKU_S,)),
        teachers=replace(make_profile().teachers, licenses=(SKU_T,)),
    )
    directory = MemoryDirectory()
    directory.add_user("ss0@s.example.edu", licenses={"other-sku"}, usage_location="US")
    plan = make_plan(district(2).build(), profile, directory.snapshot(), TODAY)
    assigned = {op.target: dict(op.fields) for op in ops(plan, OpKind.ASSIGN_LICENSES)}
    assert assigned["Student_S0"] == {"addLicenses": [SKU_S], "removeLicenses": []}
    assert assigned["Teacher_T1"] == {"addLicenses": [SKU_T], "removeLicenses": []}
    assert plan.changes["licenses_assigned"] == 3


def test_a_matched_account_without_a_usage_location_gets_the_profiles_before_its_licences() -> None:
    """Entra refuses a licence to an account with no usage location: a matched account that has none gets
    the profile's (linked or already anchored); one that has its own keeps it."""
    profile = make_profile(
        usage_location="US",
        students=replace(make_profile().students, licenses=(SKU_S,)),
        teachers=replace(make_profile().teachers, licenses=(SKU_T,)),
    )
    directory = MemoryDirectory()
    directory.add_user("ss0@s.example.edu")  # found by the matching rule, linked by this plan
    directory.add_user("ss1@s.example.edu", anchor="Student_S1", primary_role="student")
    directory.add_user("tt1@example.edu", usage_location="NZ")
    plan = make_plan(district(2).build(), profile, directory.snapshot(), TODAY)
    [link_s0, link_t1] = ops(plan, OpKind.LINK_USER)
    assert link_s0.fields["usageLocation"] == "US"
    assert "usageLocation" not in link_t1.fields
    [update_s1] = ops(plan, OpKind.UPDATE_USER)
    assert (update_s1.target, update_s1.fields["usageLocation"]) == ("Student_S1", "US")
    sync_once(district(2).build(), profile, directory, TODAY)  # the licences go in: none fails
    assert {user.upn: user.usage_location for user in directory.users.values()} == {
        "ss0@s.example.edu": "US",
        "ss1@s.example.edu": "US",
        "tt1@example.edu": "NZ",
    }
    assert all(user.licenses for user in directory.users.values())
    assert make_plan(district(2).build(), profile, directory.snapshot(), TODAY).operations == ()


def test_section_domain_writes_nothing_graph_gives_a_class_its_address_from_the_nickname() -> None:
    """A group's ``mail`` is read-only in Graph (Exchange derives it from the mailNickname and the tenant's
    e-mail address policy), so ``section_domain`` changes no operation: the plan is the same byte for byte,
    and no operation sends an address."""
    roster = district().build()
    without = make_plan(roster, make_profile(), MemoryDirectory().snapshot(), TODAY)
    with_domain = make_plan(
        roster, make_profile(section_domain="contoso.edu"), MemoryDirectory().snapshot(), TODAY
    )
    assert with_domain.dumps() == without.dumps()
    [create] = ops(with_domain, OpKind.CREATE_CLASS)
    assert create.fields["mailNickname"] == "Section_A"
    assert not [op for op in with_domain.operations if {"mail", "proxyAddresses"} & set(op.fields)]


def test_replace_special_characters_sanitises_the_class_nickname() -> None:
    builder = RosterBuilder().school("1").teacher("T1", "1").section("A/B 1", "1", ["T1"])
    plan = make_plan(
        builder.build(), make_profile(replace_special_characters=True), MemoryDirectory().snapshot(), TODAY
    )
    create = ops(plan, OpKind.CREATE_CLASS)[0]
    assert (create.target, create.fields["mailNickname"]) == ("Section_A/B 1", "Section_A_B_1")


def test_staff_are_synced_as_faculty_school_members_without_classes_only_when_asked() -> None:
    builder = district(1)
    builder.staff_member("F1", "1")
    with_staff = make_plan(
        builder.build(), make_profile(sync_staff=True), MemoryDirectory().snapshot(), TODAY
    )
    create = next(op for op in ops(with_staff, OpKind.CREATE_USER) if op.target == "Staff_F1")
    assert create.fields["primaryRole"] == "faculty"
    assert create.fields["teacher"] == {"externalId": "F1"}
    school_users = [ref for op in ops(with_staff, OpKind.ADD_SCHOOL_USERS) for ref in op.refs]
    assert "Staff_F1" in school_users
    assert not any(
        "Staff_F1" in op.refs + op.owners for op in with_staff.operations if "CLASS" in op.kind.name
    )
    without = make_plan(builder.build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    assert not [op for op in without.operations if op.target == "Staff_F1"]


def test_a_section_whose_teachers_have_no_account_is_not_created_and_is_reported() -> None:
    plan = make_plan(
        district(1).build(), make_profile(user_mode="existing"), MemoryDirectory().snapshot(), TODAY
    )
    assert not ops(plan, OpKind.CREATE_CLASS)
    section = [f for f in plan.findings if f.file == "sections.csv"]
    assert [(f.record_id, f.level) for f in section] == [("A", "error")]


def test_after_the_stop_date_planning_is_refused_with_the_date_in_the_message() -> None:
    profile = make_profile(stop_date=date(2026, 11, 21))
    with pytest.raises(ProfileExpired, match="2026-11-21"):
        make_plan(district().build(), profile, MemoryDirectory().snapshot(), TODAY)
    assert make_plan(
        district().build(), replace(profile, stop_date=TODAY), MemoryDirectory().snapshot(), TODAY
    )


def test_matching_with_a_different_rule_per_role() -> None:
    directory = MemoryDirectory()
    directory.add_user("x@example.edu", employee_id="77")
    profile = make_profile(
        user_mode="existing",
        teachers=RoleSettings(IdentityMatching("Teacher_number", "employeeId")),
    )
    plan = make_plan(district(0).build(), profile, directory.snapshot(), TODAY)
    assert [op.target for op in ops(plan, OpKind.LINK_USER)] == ["Teacher_T1"]


def test_turning_intune_groups_off_leaves_the_groups_and_their_members_alone() -> None:
    directory = MemoryDirectory()
    sync_once(district(2).build(), make_profile(intune_groups=True), directory, TODAY)
    builder = district(2)
    builder.students.pop()  # S1 leaves: without Intune groups, its group memberships stay
    builder.enrollments = [row for row in builder.enrollments if row[1] != "S1"]
    plan = make_plan(builder.build(), make_profile(), directory.snapshot(), TODAY)
    assert not [op for op in plan.operations if "GROUP" in op.kind.name]
    assert (plan.changes["school_links_removed"], plan.changes["members_removed"]) == (1, 1)
