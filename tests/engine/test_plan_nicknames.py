"""Class mail nicknames at plan time: a class the directory would refuse on every run (its mailNickname
taken, compared ignoring case) is a record error on its section, never a create that adopts another object."""

from __future__ import annotations

from datetime import date

from sync.directory.model import OpKind
from sync.engine.planner import make_plan
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile

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
    assert "2 sections would have classes with one mail nickname (Section_A1, Section_a1" in (
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
    assert "a directory user that is not this section's class" in plan.findings[0].message
    assert "a directory class or group that is not this section's class" in plan.findings[1].message
    assert _created(plan) == ["Section_A"]


def test_an_unanchored_class_with_the_nickname_is_left_to_be_adopted_as_a_lost_create() -> None:
    """A create whose answer was lost left a group without the anchor (it is written last): the create is
    sent again and the adapter adopts that group, as a crash-safe resume needs."""
    directory = MemoryDirectory()
    directory.add_object("class", None, "A", "Section_A")
    plan = make_plan(_roster("A").build(), make_profile(), directory.snapshot(), TODAY)
    assert plan.findings == ()
    assert _created(plan) == ["Section_A"]
