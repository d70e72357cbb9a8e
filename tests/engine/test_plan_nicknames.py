"""Class mail nicknames at plan time: a class the directory would refuse on every run (its mailNickname
taken, compared ignoring case) is a record error on its section, never a create that adopts another object."""

from __future__ import annotations

from datetime import date

from sync.directory.model import OpKind
from sync.engine.planner import make_plan
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile, sync_once

TODAY = date(2026, 11, 22)


def _roster(*sections: str) -> RosterBuilder:
    builder = RosterBuilder().school("1").teacher("T1", "1").student("S1", "1").student("S2", "1")
    for section_id in sections:
        builder.section(section_id, "1", ["T1"], ["S1", "S2"])
    return builder


def _created(plan) -> list[str]:
    return [op.target for op in plan.operations if op.kind is OpKind.CREATE_CLASS]


def _errors(plan) -> list[tuple[str | None, str, str | None]]:
    return [(f.record_id, f.code, f.column) for f in plan.findings]


def test_two_sections_whose_ids_differ_only_in_case_are_both_errors_and_neither_class_is_made() -> None:
    plan = make_plan(_roster("A1", "a1", "B").build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    assert _errors(plan) == [
        ("A1", "duplicate_source_entries", "Section_id"),
        ("a1", "duplicate_source_entries", "Section_id"),
    ]
    assert "another section's class of the roster has it too (Section_A1 and Section_a1)" in (
        plan.findings[0].message
    )
    assert _created(plan) == ["Section_B"]
    assert not [op for op in plan.operations if op.target in ("Section_A1", "Section_a1")]  # no members


def test_a_new_section_whose_nickname_an_existing_class_of_another_section_has_is_an_error() -> None:
    directory = MemoryDirectory()
    directory.add_object("class", "Section_A1", "Algebra", "Section_A1")
    plan = make_plan(_roster("A1", "a1").build(), make_profile(), directory.snapshot(), TODAY)
    assert _errors(plan) == [("a1", "duplicate_source_entries", "Section_id")]  # A1 keeps its class
    assert _created(plan) == []


def test_a_nickname_a_user_or_a_group_of_the_directory_holds_is_an_error() -> None:
    directory = MemoryDirectory()
    directory.add_user("someone@x.edu", mail_nickname="section_b")
    directory.add_object("group", "Group_Section_C", "C", "SECTION_C")
    plan = make_plan(_roster("A", "B", "C").build(), make_profile(), directory.snapshot(), TODAY)
    assert _errors(plan) == [
        ("B", "duplicate_source_entries", "Section_id"),
        ("C", "duplicate_source_entries", "Section_id"),
    ]
    assert (
        "mail nickname Section_B (Entra ignores case in mail nicknames), but a user of the directory has it:"
        in (plan.findings[0].message)
    )
    assert (
        "but a group of the directory has it: give the section another Section_id" in plan.findings[1].message
    )
    assert _created(plan) == ["Section_A"]


def test_an_unanchored_class_with_the_nickname_is_left_to_be_adopted_as_a_lost_create() -> None:
    """A create whose answer was lost left a group without the anchor (it is written last): the create is
    sent again and the adapter adopts that group, as a crash-safe resume needs."""
    directory = MemoryDirectory()
    directory.add_object("class", None, "A", "Section_A")
    plan = make_plan(_roster("A").build(), make_profile(), directory.snapshot(), TODAY)
    assert plan.findings == ()
    assert _created(plan) == ["Section_A"]


def _schools(*school_ids: str) -> RosterBuilder:
    builder = RosterBuilder()
    for n, school_id in enumerate(school_ids):
        builder.school(school_id).teacher(f"T{n}", school_id).student(f"S{n}", school_id)
        builder.section(f"C{n}", school_id, [f"T{n}"], [f"S{n}"])
    return builder


def _group_members(plan, anchor: str) -> set[str]:
    return {ref for op in plan.operations if op.target == anchor for ref in op.refs}


def test_schools_whose_ids_differ_only_in_case_get_no_per_school_groups_but_sync_the_rest() -> None:
    """Students_X1 and Students_x1 are one nickname: through Graph the second create would find the first
    school's group and the two schools' members would flip between them every night."""
    profile = make_profile(intune_groups=True)
    plan = make_plan(_schools("X1", "x1", "Y").build(), profile, MemoryDirectory().snapshot(), TODAY)
    assert sorted(_errors(plan)) == [
        ("X1", "duplicate_source_entries", "School_id"),
        ("X1", "duplicate_source_entries", "School_id"),
        ("x1", "duplicate_source_entries", "School_id"),
        ("x1", "duplicate_source_entries", "School_id"),
    ]  # its Students and its Teachers group
    made = [op.target for op in plan.operations if op.kind is OpKind.CREATE_GROUP]
    assert sorted(made) == [
        "Group_All_Students",
        "Group_All_Teachers",
        "Group_Students_Y",
        "Group_Teachers_Y",
    ]
    assert not [
        op for op in plan.operations if op.target.startswith(("Group_Students_X", "Group_Students_x"))
    ]
    assert _group_members(plan, "Group_Students_Y") == {"Student_S2"}
    assert _group_members(plan, "Group_All_Students") == {"Student_S0", "Student_S1", "Student_S2"}
    assert sorted(_created(plan)) == ["Section_C0", "Section_C1", "Section_C2"]  # classes and users go on


def test_an_existing_school_group_keeps_its_nickname_and_only_the_new_one_is_refused() -> None:
    directory = MemoryDirectory()
    directory.add_object("group", "Group_Students_X1", "Students – X1", "Students_X1")
    directory.add_object("group", "Group_Teachers_X1", "Teachers – X1", "Teachers_X1")
    profile = make_profile(intune_groups=True)
    plan = make_plan(_schools("X1", "x1").build(), profile, directory.snapshot(), TODAY)
    assert _errors(plan) == [("x1", "duplicate_source_entries", "School_id")] * 2
    assert _group_members(plan, "Group_Students_X1") == {"Student_S0"}


def test_a_section_id_whose_case_changed_gets_its_class_on_the_run_after_the_old_one_is_expired() -> None:
    """The old class (Section_A, its section gone) holds the nickname until it is expired in the plan's last
    phase, after its students have left it: the new class is made on the next run, and the finding says so."""
    directory = MemoryDirectory()
    sync_once(_roster("A").build(), make_profile(), directory, TODAY)
    second = sync_once(_roster("a").build(), make_profile(), directory, TODAY)
    assert _errors(second) == [("a", "duplicate_source_entries", "Section_id")]
    assert second.findings[0].message.endswith(
        "holds it until this run expires or deletes it, its section having left the roster: the class is "
        "made on the next run"
    )
    assert [op.kind for op in second.operations if op.target == "Section_A"][-1] is OpKind.EXPIRE_CLASS
    third = make_plan(_roster("a").build(), make_profile(), directory.snapshot(), TODAY)
    assert third.findings == ()
    assert _created(third) == ["Section_a"]
