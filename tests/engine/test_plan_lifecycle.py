"""Planning over time: deletion policies, the guard, term rollover, leavers who come back, drift."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from sync.directory.model import OpKind
from sync.engine.planner import make_plan
from sync.profile import DeletionPolicy
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile, sync_once

TODAY = date(2026, 11, 22)
NO_GUARD = 1.0


def profile(sections: str = "expire", users: str = "keep", guard: float = NO_GUARD, **more):
    return make_profile(
        deletion=DeletionPolicy(sections=sections, users=users, guard_threshold=guard), **more
    )


def fall() -> RosterBuilder:
    builder = RosterBuilder().school("1", "North").school("2", "South")
    builder.teacher("T1", "1").teacher("T2", "1", "2")
    for i in range(6):
        builder.student(f"S{i}", "1" if i < 4 else "2")
    builder.section("A", "1", ["T1"], ["S0", "S1", "S2"])
    builder.section("B", "1", ["T1", "T2"], ["S2", "S3"])
    builder.section("C", "2", ["T2"], ["S4", "S5"])
    return builder


def spring() -> RosterBuilder:
    """Next term: A and B are gone, D is new; S3 left; S6 arrived."""
    builder = RosterBuilder().school("1", "North").school("2", "South")
    builder.teacher("T1", "1").teacher("T2", "1", "2")
    for i in (0, 1, 2, 4, 5, 6):
        builder.student(f"S{i}", "1" if i < 4 or i == 6 else "2")
    builder.section("C", "2", ["T2"], ["S4", "S5"])
    builder.section("D", "1", ["T1"], ["S0", "S1", "S6"])
    return builder


def synced(roster_builder: RosterBuilder, prof) -> MemoryDirectory:
    directory = MemoryDirectory()
    sync_once(roster_builder.build(), prof, directory, TODAY)
    return directory


def ops(plan, kind: OpKind) -> list:
    return [op for op in plan.operations if op.kind is kind]


def test_an_expired_class_is_renamed_loses_its_students_and_keeps_its_teachers() -> None:
    directory = synced(fall(), profile())
    sync_once(spring().build(), profile(), directory, TODAY)
    class_a = directory.objects[directory.anchored("Section_A") or ""]
    assert (class_a.display_name, class_a.mail_nickname) == ("Exp1126_Class A", "Exp1126_Section_A")
    assert directory.members("Section_A", "member") == {"Teacher_T1"}
    assert directory.members("Section_A", "owner") == {"Teacher_T1"}
    assert directory.members("Section_D", "member") == {
        "Teacher_T1",
        "Student_S0",
        "Student_S1",
        "Student_S6",
    }


def test_an_already_expired_class_is_left_alone() -> None:
    directory = synced(fall(), profile())
    sync_once(spring().build(), profile(), directory, TODAY)
    later = make_plan(spring().build(), profile(), directory.snapshot(), date(2027, 3, 1))
    assert later.operations == ()


def test_the_keep_policy_leaves_a_vanished_class_and_its_members() -> None:
    directory = synced(fall(), profile(sections="keep"))
    plan = make_plan(spring().build(), profile(sections="keep"), directory.snapshot(), TODAY)
    assert not ops(plan, OpKind.EXPIRE_CLASS) and not ops(plan, OpKind.DELETE_CLASS)
    assert not [
        op for op in ops(plan, OpKind.REMOVE_CLASS_MEMBERS) if op.target in ("Section_A", "Section_B")
    ]


def test_the_delete_policy_deletes_a_vanished_class() -> None:
    directory = synced(fall(), profile(sections="delete"))
    sync_once(spring().build(), profile(sections="delete"), directory, TODAY)
    assert directory.anchored("Section_A") is None and directory.anchored("Section_B") is None
    assert directory.anchored("Section_D") is not None


@pytest.mark.parametrize(
    ("policy", "enabled", "exists"),
    [("keep", True, True), ("disable", False, True), ("delete", None, False)],
)
def test_a_user_who_leaves_loses_every_managed_membership_then_the_policy_applies(
    policy: str, enabled: bool | None, exists: bool
) -> None:
    directory = synced(fall(), profile(users=policy, intune_groups=True))
    sync_once(spring().build(), profile(users=policy, intune_groups=True), directory, TODAY)
    account = directory.anchored("Student_S3")
    assert (account is not None) is exists
    if account is not None:
        assert directory.users[account].enabled is enabled
        assert not [link for link in directory.links if link[1] == account]


def test_a_user_the_plan_deletes_gets_no_removal_writes_since_deletion_drops_its_memberships() -> None:
    directory = synced(fall(), profile(users="delete", intune_groups=True))
    plan = make_plan(
        spring().build(), profile(users="delete", intune_groups=True), directory.snapshot(), TODAY
    )
    assert [op.target for op in ops(plan, OpKind.DELETE_USER)] == ["Student_S3"]
    removals = [op for op in plan.operations if op.kind.value.startswith("remove_")]
    assert removals and not [op for op in removals if "Student_S3" in op.refs]
    # ... while a user the plan keeps is still taken out of what it left (S2 leaves class B with it).
    assert any("Student_S2" in op.refs for op in removals)


def test_a_user_who_leaves_and_comes_back_is_enabled_and_gets_the_memberships_back() -> None:
    prof = profile(users="disable", intune_groups=True)
    directory = synced(fall(), prof)
    before = directory.state()
    sync_once(spring().build(), prof, directory, TODAY)
    builder = spring()
    builder.student("S3", "1")
    builder.enrollments.append(("D", "S3", "1"))
    plan = sync_once(builder.build(), prof, directory, TODAY)
    assert [op.target for op in ops(plan, OpKind.ENABLE_USER)] == ["Student_S3"]
    assert plan.changes["users_enabled"] == 1
    account = directory.anchored("Student_S3") or ""
    assert directory.users[account].enabled
    assert "Student_S3" in directory.members("Section_D", "member")
    assert "Student_S3" in directory.members("School_1", "user")
    assert "Student_S3" in directory.members("Group_All_Students", "member")
    assert before != directory.state()


def test_a_disabled_account_is_not_enabled_when_the_sync_never_disables() -> None:
    directory = synced(fall(), profile())
    directory.users[directory.anchored("Student_S0") or ""].enabled = False  # an admin's decision
    plan = make_plan(fall().build(), profile(), directory.snapshot(), TODAY)
    assert not ops(plan, OpKind.ENABLE_USER)


def test_term_rollover_converges_to_the_same_state_as_a_fresh_sync_of_the_new_term() -> None:
    directory = synced(fall(), profile())
    plan = sync_once(spring().build(), profile(), directory, TODAY)
    assert plan.changes["classes_expired"] == 2 and plan.changes["classes_created"] == 1
    assert make_plan(spring().build(), profile(), directory.snapshot(), TODAY).operations == ()
    fresh = synced(spring(), profile())
    expired = ("Section_A", "Section_B")
    live = {link for link in directory.state()["links"] if link[0] not in expired and link[1] not in expired}
    assert live == set(fresh.state()["links"])
    # the expired classes keep their teachers and their school link
    assert {link for link in directory.state()["links"] if link[1] in expired} == {
        ("School_1", "Section_A", "class"),
        ("School_1", "Section_B", "class"),
    }


def test_a_member_removed_by_hand_is_restored() -> None:
    directory = synced(fall(), profile())
    class_a, student = directory.anchored("Section_A") or "", directory.anchored("Student_S0") or ""
    directory.unlink(class_a, student, "member")
    plan = make_plan(fall().build(), profile(), directory.snapshot(), TODAY)
    assert [(op.kind, op.target, op.refs) for op in plan.operations] == [
        (OpKind.ADD_CLASS_MEMBERS, "Section_A", ("Student_S0",))
    ]


def test_a_member_the_sync_did_not_add_is_left_alone() -> None:
    directory = synced(fall(), profile())
    outsider = directory.add_user("visitor@example.edu")
    directory.link(directory.anchored("Section_A") or "", outsider, "member")
    directory.link(directory.anchored("School_1") or "", outsider, "user")
    assert make_plan(fall().build(), profile(), directory.snapshot(), TODAY).operations == ()


def test_a_managed_user_added_to_a_class_by_hand_is_removed() -> None:
    directory = synced(fall(), profile())
    directory.link(directory.anchored("Section_C") or "", directory.anchored("Student_S0") or "", "member")
    plan = make_plan(fall().build(), profile(), directory.snapshot(), TODAY)
    assert [(op.kind, op.target, op.refs) for op in plan.operations] == [
        (OpKind.REMOVE_CLASS_MEMBERS, "Section_C", ("Student_S0",))
    ]


def test_a_vanished_school_is_kept_and_its_memberships_are_emptied() -> None:
    directory = synced(fall(), profile())
    builder = RosterBuilder().school("1", "North").teacher("T1", "1")
    for i in range(4):
        builder.student(f"S{i}", "1")
    builder.section("A", "1", ["T1"], ["S0", "S1", "S2"])
    sync_once(builder.build(), profile(), directory, TODAY)
    assert directory.anchored("School_2") is not None
    assert directory.members("School_2", "user") == set() and directory.members("School_2", "class") == set()


def test_the_guard_holds_a_plan_that_removes_too_much_and_explains_why() -> None:
    directory = synced(fall(), profile(guard=0.10))
    plan = make_plan(spring().build(), profile(guard=0.10, users="disable"), directory.snapshot(), TODAY)
    assert plan.guard.held
    reasons = " | ".join(plan.guard.reasons)
    assert "would expire or delete 2 of 3 managed classes" in reasons
    assert "would disable or delete 1 of 8 managed users" in reasons
    assert "managed memberships" in reasons


def test_the_guard_lets_a_small_change_through() -> None:
    directory = synced(fall(), profile(guard=0.10))
    builder = fall()
    builder.enrollments.remove(("A", "S0", "1"))
    plan = make_plan(builder.build(), profile(guard=0.10), directory.snapshot(), TODAY)
    assert plan.changes["members_removed"] == 1
    assert not plan.guard.held


def test_the_guard_never_holds_a_first_run() -> None:
    plan = make_plan(fall().build(), profile(guard=0.0), MemoryDirectory().snapshot(), TODAY)
    assert not plan.guard.held


def test_the_guard_threshold_is_a_share_not_a_count() -> None:
    directory = synced(fall(), profile())
    plan = make_plan(
        spring().build(),
        replace(profile(), deletion=DeletionPolicy(guard_threshold=0.7)),
        directory.snapshot(),
        TODAY,
    )
    assert not plan.guard.held  # 2 of 3 classes (66.7 %) and 27 % of memberships are under 70 %


def test_a_renamed_profile_finds_everything_it_synced_still_managed() -> None:
    """Anchors (``Student_<id>``, ``Section_<id>`` …) do not hold the profile's name: a profile renamed
    after its first sync plans nothing new for the same roster and removes nothing (examples/profile.toml
    says what else a new name changes)."""
    directory = synced(fall(), profile(name="Contoso USD", intune_groups=True, users="delete"))
    renamed = profile(name="Contoso Unified School District", intune_groups=True, users="delete")
    plan = make_plan(fall().build(), renamed, directory.snapshot(), TODAY)
    assert plan.operations == ()


def c_taught_by_t9(t9_username: str | None) -> RosterBuilder:
    """The fall set, with section C taught by T9 instead of T2 (and S6 in it instead of S5)."""
    builder = RosterBuilder().school("1", "North").school("2", "South")
    builder.teacher("T1", "1").teacher("T2", "1", "2").teacher("T9", "2", Username=t9_username)
    for i in range(7):
        builder.student(f"S{i}", "1" if i < 4 else "2")
    builder.section("A", "1", ["T1"], ["S0", "S1", "S2"])
    builder.section("B", "1", ["T1", "T2"], ["S2", "S3"])
    return builder.section("C", "2", ["T9"], ["S4", "S6"])


def test_a_class_whose_new_teachers_have_no_account_keeps_its_teachers_until_one_has() -> None:
    """Section C's teacher changes from T2 to T9, whose record gives no account (no Username). Removing T2
    would leave the class without an owner, which the directory refuses on every run: T2 stays its owner
    and member, with a finding on the section; its students are synced as usual. Once T9 has an account,
    T9 comes in and T2 goes."""
    directory = MemoryDirectory()
    sync_once(fall().build(), profile(), directory, TODAY)

    plan = make_plan(c_taught_by_t9(None).build(), profile(), directory.snapshot(), TODAY)
    class_c = [(op.kind, op.refs) for op in plan.operations if op.target == "Section_C"]
    assert class_c == [
        (OpKind.ADD_CLASS_MEMBERS, ("Student_S6",)),
        (OpKind.REMOVE_CLASS_MEMBERS, ("Student_S5",)),
    ]
    assert ("C", "unmatched_entry") in [(f.record_id, f.code) for f in plan.findings]
    sync_once(c_taught_by_t9(None).build(), profile(), directory, TODAY)

    plan = make_plan(c_taught_by_t9("t9").build(), profile(), directory.snapshot(), TODAY)
    class_c = [(op.kind, op.refs) for op in plan.operations if op.target == "Section_C"]
    assert sorted(class_c) == [
        (OpKind.ADD_CLASS_MEMBERS, ("Teacher_T9",)),
        (OpKind.ADD_CLASS_OWNERS, ("Teacher_T9",)),
        (OpKind.REMOVE_CLASS_MEMBERS, ("Teacher_T2",)),
        (OpKind.REMOVE_CLASS_OWNERS, ("Teacher_T2",)),
    ]
