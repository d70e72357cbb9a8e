"""Identity matching: anchor first, then the profile's rule, and every outcome of sds-behaviour.md §2."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from sync.directory.model import OpKind
from sync.engine.planner import make_plan
from sync.profile import IdentityMatching, RoleSettings
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile

TODAY = date(2026, 11, 22)


def _roster(**student: str | None) -> RosterBuilder:
    builder = RosterBuilder().school("1").teacher("T1", "1")
    builder.student("S1", "1", **student)
    return builder.section("A", "1", ["T1"], ["S1"])


def _kinds(plan, target: str) -> list[OpKind]:
    return [op.kind for op in plan.operations if op.target == target]


def test_an_account_carrying_the_anchor_is_matched_and_nothing_is_written() -> None:
    directory = MemoryDirectory()
    directory.add_user("someone-else@x.edu", anchor="Student_S1", primary_role="student")
    profile = make_profile(user_mode="existing")
    plan = make_plan(_roster().build(), profile, directory.snapshot(), TODAY)
    assert OpKind.LINK_USER not in _kinds(plan, "Student_S1")
    assert OpKind.CREATE_USER not in _kinds(plan, "Student_S1")
    assert not [f for f in plan.findings if f.record_id == "S1"]


def test_rule_match_appends_the_domain_ignores_case_and_links_the_account() -> None:
    directory = MemoryDirectory()
    account = directory.add_user("SS1@S.Example.EDU")
    plan = make_plan(_roster().build(), make_profile(user_mode="existing"), directory.snapshot(), TODAY)
    link = next(op for op in plan.operations if op.kind is OpKind.LINK_USER and op.target == "Student_S1")
    assert link.fields["id"] == account
    assert link.fields["primaryRole"] == "student"
    assert link.fields["student"]["externalId"] == "S1"
    assert plan.changes["users_matched"] == 1


@pytest.mark.parametrize(
    ("target", "attribute", "stored", "matches"),
    [
        ("mail", "mail", "SS1@S.EXAMPLE.EDU", True),
        ("mailNickname", "mail_nickname", "SS1@S.EXAMPLE.EDU", True),
        ("employeeId", "employee_id", "ss1@s.example.edu", True),
        ("employeeId", "employee_id", "SS1@s.example.edu", False),
        ("onPremisesSamAccountName", "sam", "ss1@s.example.edu", True),
    ],
)
def test_each_target_attribute_is_compared_case_insensitively_only_for_addresses(
    target: str, attribute: str, stored: str, matches: bool
) -> None:
    directory = MemoryDirectory()
    directory.add_user("unrelated@x.edu", **{attribute: stored})
    matching = IdentityMatching("Username", target, "s.example.edu")
    profile = make_profile(user_mode="existing", students=RoleSettings(matching))
    plan = make_plan(_roster(Username="ss1").build(), profile, directory.snapshot(), TODAY)
    linked = OpKind.LINK_USER in _kinds(plan, "Student_S1")
    assert linked is matches
    assert any(f.code == "unmatched_entry" and f.record_id == "S1" for f in plan.findings) is not matches


def test_a_value_that_already_holds_an_at_sign_gets_no_domain() -> None:
    directory = MemoryDirectory()
    directory.add_user("ava@other.edu")
    plan = make_plan(
        _roster(Username="ava@other.edu").build(),
        make_profile(user_mode="existing"),
        directory.snapshot(),
        TODAY,
    )
    assert OpKind.LINK_USER in _kinds(plan, "Student_S1")


def test_an_unmatched_record_in_existing_mode_is_an_error_and_joins_nothing() -> None:
    plan = make_plan(
        _roster().build(), make_profile(user_mode="existing"), MemoryDirectory().snapshot(), TODAY
    )
    finding = next(f for f in plan.findings if f.record_id == "S1")
    assert (finding.code, finding.level, finding.file, finding.line) == (
        "unmatched_entry",
        "error",
        "students.csv",
        2,
    )
    assert finding.column == "Username"
    assert "ss1" not in finding.message  # no personal data in messages
    assert plan.changes["users_unmatched"] == 2  # the teacher is unmatched too
    assert not any("Student_S1" in op.refs for op in plan.operations)


def test_an_unmatched_record_in_create_mode_gets_a_new_account() -> None:
    plan = make_plan(_roster().build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    create = next(op for op in plan.operations if op.kind is OpKind.CREATE_USER and op.target == "Student_S1")
    assert create.fields["userPrincipalName"] == "ss1@s.example.edu"
    assert create.fields["mailNickname"] == "ss1"
    assert create.fields["displayName"] == "FirstS1 LastS1"
    assert create.fields["accountEnabled"] is True
    assert "passwordProfile" not in create.fields  # the directory generates one


def test_two_accounts_matching_one_record_is_duplicate_target_entries() -> None:
    directory = MemoryDirectory()
    directory.add_user("a@x.edu", mail="ss1@s.example.edu")
    directory.add_user("b@x.edu", mail="SS1@s.example.edu")
    profile = make_profile(
        user_mode="create",
        students=RoleSettings(IdentityMatching("Username", "mail", "s.example.edu"), "s.example.edu"),
    )
    plan = make_plan(_roster().build(), profile, directory.snapshot(), TODAY)
    assert [f.code for f in plan.findings if f.record_id == "S1"] == ["duplicate_target_entries"]
    assert _kinds(plan, "Student_S1") == []  # not created either: the record is in error


def test_two_records_matching_one_account_are_both_errors() -> None:
    directory = MemoryDirectory()
    directory.add_user("twin@s.example.edu")
    builder = RosterBuilder().school("1").teacher("T1", "1")
    builder.student("S1", "1", Username="twin").student("S2", "1", Username="TWIN")
    plan = make_plan(builder.build(), make_profile(), directory.snapshot(), TODAY)
    codes = {f.record_id: f.code for f in plan.findings}
    assert codes == {"S1": "duplicate_source_entries", "S2": "duplicate_source_entries"}
    assert not [op for op in plan.operations if op.target in ("Student_S1", "Student_S2")]


def test_an_account_anchored_to_another_roster_record_is_never_matched_by_rule() -> None:
    directory = MemoryDirectory()
    directory.add_user("ss1@s.example.edu", anchor="Student_S9", primary_role="student")
    builder = RosterBuilder().school("1").student("S1", "1").student("S9", "1", Username="other")
    plan = make_plan(builder.build(), make_profile(user_mode="existing"), directory.snapshot(), TODAY)
    assert [f.code for f in plan.findings] == ["unmatched_entry"]
    assert plan.findings[0].record_id == "S1"


def test_an_account_anchored_to_a_record_that_left_may_be_matched_again_by_rule() -> None:
    directory = MemoryDirectory()
    account = directory.add_user("ss1@s.example.edu", anchor="Student_OLD", primary_role="student")
    plan = make_plan(_roster().build(), make_profile(), directory.snapshot(), TODAY)
    link = next(op for op in plan.operations if op.kind is OpKind.LINK_USER)
    assert (link.target, link.fields["id"]) == ("Student_S1", account)


def test_two_new_records_with_one_username_are_both_errors_and_neither_is_created() -> None:
    """In create mode Entra would create the first and refuse the second ("another object with the same
    value for property userPrincipalName") on every run: both are record errors at plan time instead,
    whichever comes first, and the admin gives each its own Username."""
    builder = RosterBuilder().school("1").teacher("T1", "1")
    builder.student("S1", "1", Username="olivia").student("S2", "1", Username="Olivia@S.Example.edu")
    builder.student("S3", "1").section("A", "1", ["T1"], ["S1", "S2", "S3"])
    plan = make_plan(builder.build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    clashes = [f for f in plan.findings if f.record_id in ("S1", "S2")]
    assert [(f.record_id, f.code, f.column) for f in clashes] == [
        ("S1", "duplicate_source_entries", "Username"),
        ("S2", "duplicate_source_entries", "Username"),
    ]
    assert "2 roster records would create accounts with the same userPrincipalName" in clashes[0].message
    assert not [op for op in plan.operations if op.target in ("Student_S1", "Student_S2")]
    assert OpKind.CREATE_USER in _kinds(plan, "Student_S3")
    (create_class,) = [op for op in plan.operations if op.kind is OpKind.CREATE_CLASS]
    assert set(create_class.refs) == {"Student_S3", "Teacher_T1"}  # records in error join nothing


@pytest.mark.parametrize(
    ("anchor", "target"),
    [
        ("Student_S9", "userPrincipalName"),  # the account of another roster record (never matched by rule)
        (None, "employeeId"),  # an account the profile's rule does not look at
    ],
)
def test_a_new_account_whose_upn_a_directory_user_already_has_is_an_error_not_a_failing_create(
    anchor: str | None, target: str
) -> None:
    directory = MemoryDirectory()
    directory.add_user("olivia@s.example.edu", anchor=anchor, primary_role="student")
    builder = RosterBuilder().school("1").student("S1", "1", Username="olivia").student("S9", "1")
    matching = IdentityMatching("Username", target, "s.example.edu")
    profile = make_profile(students=RoleSettings(matching, "s.example.edu"))
    plan = make_plan(builder.build(), profile, directory.snapshot(), TODAY)
    assert [(f.record_id, f.code) for f in plan.findings] == [("S1", "duplicate_source_entries")]
    assert "a directory user that is not this record's account already has" in plan.findings[0].message
    assert _kinds(plan, "Student_S1") == []


@pytest.mark.parametrize(
    ("users_policy", "made_next_run"),
    [("delete", True), ("disable", False), ("keep", False)],
)
def test_a_new_accounts_upn_held_by_a_leaver_this_run_deletes_is_made_on_the_next_run(
    users_policy: str, made_next_run: bool
) -> None:
    """Student S1's SIS id became s1 (matched by Student_id against employeeId, which the account does not
    carry): S1's account leaves, and s1's new account wants its UPN. Under ``delete`` the account is gone at
    the end of this run and s1's is made on the next; otherwise the UPN stays taken (the admin decides)."""
    directory = MemoryDirectory()
    directory.add_user("olivia@s.example.edu", anchor="Student_S1", primary_role="student")
    builder = RosterBuilder().school("1").student("s1", "1", Username="olivia")
    matching = IdentityMatching("Student_id", "employeeId", None)
    profile = make_profile(students=RoleSettings(matching, "s.example.edu"))
    profile = replace(profile, deletion=replace(profile.deletion, users=users_policy))
    plan = make_plan(builder.build(), profile, directory.snapshot(), TODAY)
    assert [(f.record_id, f.code) for f in plan.findings] == [("s1", "duplicate_source_entries")]
    assert plan.findings[0].message.endswith("the account is made on the next run") is made_next_run
    assert _kinds(plan, "Student_s1") == []
    assert (OpKind.DELETE_USER in _kinds(plan, "Student_S1")) is made_next_run


@pytest.mark.parametrize("username", ["olivia nguyen", "olivia@", "o@livia@s.example.edu", "olivia@local"])
def test_a_username_that_makes_no_valid_upn_is_an_error_at_plan_time(username: str) -> None:
    builder = RosterBuilder().school("1").student("S1", "1", Username=username).student("S2", "1")
    plan = make_plan(builder.build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    found = [(f.record_id, f.code, f.column) for f in plan.findings]
    assert found == [("S1", "invalid_username", "Username")]
    assert _kinds(plan, "Student_S1") == []
    assert OpKind.CREATE_USER in _kinds(plan, "Student_S2")


def _nicknames(plan) -> dict[str, str]:
    return {op.target: op.fields["mailNickname"] for op in plan.operations if op.kind is OpKind.CREATE_USER}


def test_two_new_accounts_in_two_domains_with_one_name_part_get_two_mail_nicknames() -> None:
    """inf@s.example.edu and INF@example.edu are two UPNs, but one mailNickname: the directory would
    refuse the second create on every run. The first in roster order keeps it, the second gets a number."""
    builder = RosterBuilder().school("1").teacher("T1", "1", Username="INF")
    builder.student("S1", "1", Username="inf").section("A", "1", ["T1"], ["S1"])
    plan = make_plan(builder.build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    assert plan.findings == ()
    assert _nicknames(plan) == {"Student_S1": "inf", "Teacher_T1": "INF2"}  # students come first
    upns = {
        op.target: op.fields["userPrincipalName"] for op in plan.operations if op.kind is OpKind.CREATE_USER
    }
    assert upns == {"Student_S1": "inf@s.example.edu", "Teacher_T1": "INF@example.edu"}  # UPNs untouched


def test_a_mail_nickname_a_directory_object_holds_gets_the_lowest_free_number() -> None:
    directory = MemoryDirectory()
    directory.add_user("olivia@staff.example.edu", mail_nickname="Olivia")  # not a roster record's account
    directory.add_object("group", None, "Olivia's group", "olivia2")
    builder = RosterBuilder().school("1").teacher("T1", "1")
    builder.student("S1", "1", Username="olivia").student("S2", "1").section("A", "1", ["T1"], ["S1", "S2"])
    plan = make_plan(builder.build(), make_profile(), directory.snapshot(), TODAY)
    assert plan.findings == ()
    assert _nicknames(plan) == {"Student_S1": "olivia3", "Student_S2": "ss2", "Teacher_T1": "tt1"}


def test_a_username_that_is_a_class_mail_nickname_leaves_the_nickname_to_the_class() -> None:
    builder = RosterBuilder().school("1").teacher("T1", "1", Username="Section_A")
    builder.student("S1", "1").section("A", "1", ["T1"], ["S1"])
    plan = make_plan(builder.build(), make_profile(), MemoryDirectory().snapshot(), TODAY)
    assert _nicknames(plan)["Teacher_T1"] == "Section_A2"
    (create_class,) = [op for op in plan.operations if op.kind is OpKind.CREATE_CLASS]
    assert create_class.fields["mailNickname"] == "Section_A"


def test_a_numbered_mail_nickname_stays_within_64_characters() -> None:
    long_name = "x" * 70
    directory = MemoryDirectory()
    directory.add_user("taken@staff.example.edu", mail_nickname="x" * 64)
    builder = RosterBuilder().school("1").teacher("T1", "1").student("S1", "1", Username=long_name)
    plan = make_plan(builder.build(), make_profile(), directory.snapshot(), TODAY)
    assert _nicknames(plan)["Student_S1"] == "x" * 63 + "2"


def test_the_nickname_of_a_matched_account_is_taken_too() -> None:
    directory = MemoryDirectory()
    directory.add_user("ss1@s.example.edu", anchor="Student_S1", primary_role="student", mail_nickname="ss2")
    builder = RosterBuilder().school("1").teacher("T1", "1")
    builder.student("S1", "1").student("S2", "1").section("A", "1", ["T1"], ["S1", "S2"])
    plan = make_plan(builder.build(), make_profile(), directory.snapshot(), TODAY)
    assert _nicknames(plan) == {"Student_S2": "ss22", "Teacher_T1": "tt1"}  # ss2 + the number 2
