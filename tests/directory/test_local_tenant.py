"""The local tenant as a Directory: every operation kind, idempotence, failures as results, the snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.directory.model import MEMBERSHIP_SCHEMA, Operation, OperationResult, OpKind
from sync.directory.tenant_store import TenantStore
from sync.errors import DirectoryUnavailable

STUDENT_SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
FACULTY_SKU = "94763226-9b3c-4e75-a931-5c89701abe66"


def op(
    kind: OpKind, target: str, fields: dict[str, Any] | None = None, **links: tuple[str, ...]
) -> Operation:
    return Operation(kind, target, fields or {}, refs=links.get("refs", ()), owners=links.get("owners", ()))


def school(school_id: str) -> Operation:
    return op(OpKind.CREATE_SCHOOL, f"School_{school_id}", {"displayName": f"School {school_id}"})


def student(student_id: str, **fields: Any) -> Operation:
    return op(
        OpKind.CREATE_USER,
        f"Student_{student_id}",
        {
            "userPrincipalName": f"s{student_id}@students.contoso.edu",
            "displayName": f"Student {student_id}",
            "usageLocation": "US",
            **fields,
        },
    )


def teacher(teacher_id: str) -> Operation:
    return op(
        OpKind.CREATE_USER,
        f"Teacher_{teacher_id}",
        {"userPrincipalName": f"t{teacher_id}@contoso.edu", "displayName": f"Teacher {teacher_id}"},
    )


def section(section_id: str, owner: str, *members: str) -> Operation:
    return op(
        OpKind.CREATE_CLASS,
        f"Section_{section_id}",
        {"displayName": f"Class {section_id}"},
        owners=(owner,),
        refs=members,
    )


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[LocalTenantDirectory]:
    with LocalTenantDirectory(tmp_path / "tenant.db") as directory:
        yield directory


@pytest.fixture
def district(tenant: LocalTenantDirectory) -> LocalTenantDirectory:
    """One school, one teacher, two students, one class taught by the teacher with the first student."""
    ok(tenant.apply([school("1"), teacher("T1"), student("1"), student("2")]))
    ok(tenant.apply([section("42", "Teacher_T1", "Teacher_T1", "Student_1")]))
    return tenant


def ok(results: list[OperationResult]) -> list[OperationResult]:
    failures = [result for result in results if not result.ok]
    assert not failures, failures
    return results


def one(tenant: LocalTenantDirectory, operation: Operation) -> OperationResult:
    [result] = tenant.apply([operation])
    return result


def links(tenant: LocalTenantDirectory) -> list[list[str]]:
    memberships: list[list[str]] = dump_state(tenant.store)["memberships"]
    return memberships


# -- creates and their idempotence ---------------------------------------------------------------------
def test_creates_return_the_new_ids_and_the_objects_carry_their_anchors(tenant: LocalTenantDirectory) -> None:
    results = ok(tenant.apply([school("1"), teacher("T1"), student("1")]))
    [class_result] = ok(tenant.apply([section("42", "Teacher_T1", "Student_1")]))
    snapshot = tenant.snapshot()

    assert {s.anchor: s.id for s in snapshot.schools} == {"School_1": results[0].directory_id}
    assert {u.anchor: u.id for u in snapshot.users} == {
        "Teacher_T1": results[1].directory_id,
        "Student_1": results[2].directory_id,
    }
    assert [(c.anchor, c.id, c.mail_nickname) for c in snapshot.classes] == [
        ("Section_42", class_result.directory_id, "Section_42")
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda: school("1"),
        lambda: student("1"),
        lambda: section("42", "Teacher_T1"),
        lambda: op(OpKind.CREATE_GROUP, "Group_AllStudents", {"displayName": "All Students"}),
    ],
)
def test_creating_an_object_whose_anchor_exists_returns_the_existing_id(
    district: LocalTenantDirectory, make: Any
) -> None:
    first = one(district, make())
    state = dump_state(district.store)

    again = one(district, make())

    assert again.ok and again.directory_id == first.directory_id
    assert dump_state(district.store) == state


def test_a_create_whose_anchor_exists_leaves_the_object_as_it_is(district: LocalTenantDirectory) -> None:
    result = one(district, student("1", displayName="Someone Else"))

    assert result.ok
    assert dump_state(district.store)["users"]["Student_1"]["displayName"] == "Student 1"


def test_a_created_user_gets_role_facet_and_no_password_anywhere(tenant: LocalTenantDirectory) -> None:
    [result] = ok(tenant.apply([student("1", student={"grade": "5"})]))

    stored = tenant.store.get_user(str(result.directory_id))

    assert stored["primaryRole"] == "student"
    assert stored["student"] == {"externalId": "1", "grade": "5"}
    assert stored["accountEnabled"] is True
    assert "passwordProfile" not in stored
    assert result.message is None


def test_a_staff_member_is_created_with_the_faculty_role(tenant: LocalTenantDirectory) -> None:
    ok(
        tenant.apply(
            [op(OpKind.CREATE_USER, "Staff_9", {"userPrincipalName": "x@c.edu", "displayName": "X"})]
        )
    )

    [user] = tenant.snapshot().users

    assert (user.anchor, user.primary_role, user.properties["teacher"]) == (
        "Staff_9",
        "faculty",
        {"externalId": "9"},
    )


def test_a_class_is_created_with_its_owner_and_first_members(district: LocalTenantDirectory) -> None:
    assert links(district) == [
        ["Section_42", "member", "Student_1"],
        ["Section_42", "member", "Teacher_T1"],
        ["Section_42", "owner", "Teacher_T1"],
    ]


def test_a_class_without_an_owner_is_refused(district: LocalTenantDirectory) -> None:
    result = one(district, op(OpKind.CREATE_CLASS, "Section_7", {"displayName": "x"}, refs=("Student_1",)))

    assert not result.ok and result.code == "Request_BadRequest"
    assert [c.anchor for c in district.snapshot().classes] == ["Section_42"]


def test_a_class_whose_owner_does_not_exist_is_refused_whole(district: LocalTenantDirectory) -> None:
    result = one(district, section("7", "Teacher_nobody", "Student_1"))

    assert (result.ok, result.code) == (False, "Request_ResourceNotFound")
    assert [c.anchor for c in district.snapshot().classes] == ["Section_42"]


def test_a_taken_principal_name_fails_that_operation_only(district: LocalTenantDirectory) -> None:
    clash = student("3", userPrincipalName="S1@students.contoso.edu")

    results = district.apply([clash, student("4")])

    assert not results[0].ok and results[0].code == "Request_BadRequest"
    assert results[0].message is not None and "userPrincipalName" in results[0].message
    assert results[1].ok
    assert sorted(u.anchor or "" for u in district.snapshot().users) == [
        "Student_1",
        "Student_2",
        "Student_4",
        "Teacher_T1",
    ]


def test_fields_that_name_another_object_than_the_target_are_refused(tenant: LocalTenantDirectory) -> None:
    result = one(tenant, op(OpKind.CREATE_SCHOOL, "School_1", {"displayName": "x", "externalId": "2"}))

    assert not result.ok
    assert tenant.snapshot().schools == []


# -- link user ------------------------------------------------------------------------------------------
def test_linking_writes_the_anchor_onto_an_existing_account(tenant: LocalTenantDirectory) -> None:
    account = tenant.store.create_user({"userPrincipalName": "ava@contoso.edu", "displayName": "Ava"})

    first = one(tenant, op(OpKind.LINK_USER, "Student_1", {"id": account, "student": {"grade": "3"}}))
    again = one(tenant, op(OpKind.LINK_USER, "Student_1", {"id": account, "student": {"grade": "3"}}))
    [user] = tenant.snapshot().users

    assert first.ok and again.ok and first.directory_id == account
    assert (user.anchor, user.primary_role) == ("Student_1", "student")
    assert user.properties["student"] == {"externalId": "1", "grade": "3"}


def test_linking_an_anchor_that_is_on_another_account_is_refused(district: LocalTenantDirectory) -> None:
    other = district.store.create_user({"userPrincipalName": "x@contoso.edu", "displayName": "X"})

    result = one(district, op(OpKind.LINK_USER, "Student_1", {"id": other}))

    assert not result.ok
    assert district.store.get_user(other).get("primaryRole") is None


def test_linking_an_unknown_account_is_resource_not_found(tenant: LocalTenantDirectory) -> None:
    result = one(tenant, op(OpKind.LINK_USER, "Student_1", {"id": "00000000-0000-0000-0000-000000000000"}))

    assert (result.ok, result.code) == (False, "Request_ResourceNotFound")


# -- updates --------------------------------------------------------------------------------------------
def test_updates_change_only_the_given_properties(district: LocalTenantDirectory) -> None:
    ok(
        district.apply(
            [
                op(OpKind.UPDATE_SCHOOL, "School_1", {"principalName": "Dr. P", "address": {"city": "Town"}}),
                op(OpKind.UPDATE_USER, "Student_1", {"surname": "Smith", "student": {"grade": "6"}}),
                op(
                    OpKind.UPDATE_CLASS, "Section_42", {"classCode": "ALG-1", "term": {"displayName": "Fall"}}
                ),
            ]
        )
    )
    state = dump_state(district.store)

    assert state["schools"]["School_1"]["principalName"] == "Dr. P"
    assert state["schools"]["School_1"]["address"] == {"city": "Town"}
    assert state["users"]["Student_1"]["surname"] == "Smith"
    assert state["users"]["Student_1"]["displayName"] == "Student 1"
    assert state["users"]["Student_1"]["student"] == {"externalId": "1", "grade": "6"}
    assert state["classes"]["Section_42"]["classCode"] == "ALG-1"


def test_applying_the_same_updates_again_succeeds_and_changes_nothing(district: LocalTenantDirectory) -> None:
    updates = [
        op(OpKind.UPDATE_SCHOOL, "School_1", {"phone": "555-0100"}),
        op(OpKind.UPDATE_USER, "Student_2", {"middleName": "Q", "student": {"grade": "7"}}),
        op(OpKind.UPDATE_CLASS, "Section_42", {"description": "Room 9", "course": {"subject": "Math"}}),
    ]
    ok(district.apply(updates))
    state = dump_state(district.store)

    ok(district.apply(updates))

    assert dump_state(district.store) == state
    assert state["users"]["Student_2"]["student"] == {"externalId": "2", "grade": "7"}


def test_an_update_of_an_unknown_anchor_is_resource_not_found(district: LocalTenantDirectory) -> None:
    results = district.apply(
        [
            op(OpKind.UPDATE_USER, "Student_99", {"surname": "x"}),
            op(OpKind.UPDATE_CLASS, "Section_99", {"grade": "5"}),
            op(OpKind.UPDATE_SCHOOL, "School_99", {"phone": "1"}),
            op(OpKind.ADD_CLASS_MEMBERS, "Section_99", refs=("Student_1",)),
        ]
    )

    assert [(r.ok, r.code) for r in results] == [(False, "Request_ResourceNotFound")] * 4


def test_expiring_a_class_renames_it_and_keeps_its_anchor(district: LocalTenantDirectory) -> None:
    expire = op(
        OpKind.EXPIRE_CLASS,
        "Section_42",
        {"displayName": "Exp0627_Class 42", "mailNickname": "Exp0627_Section_42"},
    )

    ok(district.apply([expire]))
    ok(district.apply([expire]))
    [klass] = district.snapshot().classes

    assert (klass.anchor, klass.display_name, klass.mail_nickname) == (
        "Section_42",
        "Exp0627_Class 42",
        "Exp0627_Section_42",
    )


def test_disabling_and_enabling_are_idempotent(district: LocalTenantDirectory) -> None:
    ok(district.apply([op(OpKind.DISABLE_USER, "Student_1")]))
    ok(district.apply([op(OpKind.DISABLE_USER, "Student_1")]))
    disabled = {u.anchor: u.account_enabled for u in district.snapshot().users}
    ok(district.apply([op(OpKind.ENABLE_USER, "Student_1"), op(OpKind.ENABLE_USER, "Student_1")]))

    assert disabled["Student_1"] is False and disabled["Student_2"] is True
    assert all(u.account_enabled for u in district.snapshot().users)


# -- deletes --------------------------------------------------------------------------------------------
def test_deleting_removes_the_object_and_its_links_and_absent_objects_are_fine(
    district: LocalTenantDirectory,
) -> None:
    ok(district.apply([op(OpKind.DELETE_USER, "Student_1"), op(OpKind.DELETE_USER, "Student_1")]))
    ok(district.apply([op(OpKind.DELETE_CLASS, "Section_42"), op(OpKind.DELETE_CLASS, "Section_404")]))
    snapshot = district.snapshot()

    assert sorted(u.anchor or "" for u in snapshot.users) == ["Student_2", "Teacher_T1"]
    assert snapshot.classes == []
    assert snapshot.memberships.num_rows == 0


# -- links ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("add", "remove", "expected"),
    [
        (OpKind.ADD_CLASS_MEMBERS, OpKind.REMOVE_CLASS_MEMBERS, ["Section_42", "member", "Student_2"]),
        (OpKind.ADD_CLASS_OWNERS, OpKind.REMOVE_CLASS_OWNERS, ["Section_42", "owner", "Student_2"]),
        (OpKind.ADD_SCHOOL_USERS, OpKind.REMOVE_SCHOOL_USERS, ["School_1", "user", "Student_2"]),
    ],
)
def test_adding_and_removing_links_is_idempotent(
    district: LocalTenantDirectory, add: OpKind, remove: OpKind, expected: list[str]
) -> None:
    target = expected[0]

    ok(district.apply([op(add, target, refs=("Student_2",))]))
    ok(district.apply([op(add, target, refs=("Student_2", "Student_1"))]))
    added = links(district)
    ok(district.apply([op(remove, target, refs=("Student_2",))]))
    ok(district.apply([op(remove, target, refs=("Student_2", "Student_404"))]))

    assert expected in added
    assert expected not in links(district)


def test_school_classes_and_group_members_are_linked_idempotently(district: LocalTenantDirectory) -> None:
    ok(district.apply([op(OpKind.CREATE_GROUP, "Group_AllStudents", {"displayName": "All Students"})]))
    adds = [
        op(OpKind.ADD_SCHOOL_CLASSES, "School_1", refs=("Section_42",)),
        op(OpKind.ADD_GROUP_MEMBERS, "Group_AllStudents", refs=("Student_1", "Student_2")),
    ]

    ok(district.apply(adds))
    ok(district.apply(adds))
    added = links(district)
    ok(district.apply([op(OpKind.REMOVE_SCHOOL_CLASSES, "School_1", refs=("Section_42",))]))
    ok(district.apply([op(OpKind.REMOVE_GROUP_MEMBERS, "Group_AllStudents", refs=("Student_1",))]))

    assert ["School_1", "class", "Section_42"] in added
    assert ["Group_AllStudents", "member", "Student_1"] in added
    assert [m for m in links(district) if m[0] != "Section_42"] == [
        ["Group_AllStudents", "member", "Student_2"]
    ]


def test_adding_an_unknown_member_fails_and_adds_none(district: LocalTenantDirectory) -> None:
    result = one(district, op(OpKind.ADD_CLASS_MEMBERS, "Section_42", refs=("Student_2", "Student_404")))

    assert (result.ok, result.code) == (False, "Request_ResourceNotFound")
    assert ["Section_42", "member", "Student_2"] not in links(district)


def test_removing_the_last_owner_of_a_class_fails(district: LocalTenantDirectory) -> None:
    result = one(district, op(OpKind.REMOVE_CLASS_OWNERS, "Section_42", refs=("Teacher_T1",)))

    assert (result.ok, result.code) == (False, "Request_BadRequest")
    assert ["Section_42", "owner", "Teacher_T1"] in links(district)


# -- licences -------------------------------------------------------------------------------------------
def test_licences_are_assigned_and_removed_idempotently(district: LocalTenantDirectory) -> None:
    add = op(OpKind.ASSIGN_LICENSES, "Student_1", {"addLicenses": [STUDENT_SKU], "removeLicenses": []})

    ok(district.apply([add, add]))
    assigned = {u.anchor: u.licenses for u in district.snapshot().users}
    ok(
        district.apply(
            [op(OpKind.ASSIGN_LICENSES, "Student_1", {"removeLicenses": [{"skuId": STUDENT_SKU}]})]
        )
    )

    assert assigned["Student_1"] == {STUDENT_SKU}
    assert all(not u.licenses for u in district.snapshot().users)


def test_licence_failures_carry_graphs_codes(district: LocalTenantDirectory) -> None:
    results = district.apply(
        [
            op(OpKind.ASSIGN_LICENSES, "Teacher_T1", {"addLicenses": [FACULTY_SKU]}),
            op(
                OpKind.ASSIGN_LICENSES, "Student_1", {"addLicenses": ["c42b9cae-ea4f-4ab7-9717-81576235ccac"]}
            ),
        ]
    )

    assert [r.code for r in results] == ["InvalidUserUsageLocation", "InvalidLicense"]


# -- snapshot -------------------------------------------------------------------------------------------
def test_the_snapshot_has_the_graph_shape_the_planner_compares(district: LocalTenantDirectory) -> None:
    ok(
        district.apply(
            [
                op(OpKind.UPDATE_SCHOOL, "School_1", {"schoolNumber": "001", "address": {"city": "Town"}}),
                op(OpKind.UPDATE_CLASS, "Section_42", {"course": {"subject": "Math"}, "grade": "5"}),
                op(
                    OpKind.UPDATE_USER,
                    "Teacher_T1",
                    {"givenName": "Tess", "teacher": {"teacherNumber": "77"}},
                ),
                op(OpKind.ASSIGN_LICENSES, "Student_1", {"addLicenses": [STUDENT_SKU]}),
            ]
        )
    )
    snapshot = district.snapshot()
    users = {u.anchor: u for u in snapshot.users}

    assert users["Teacher_T1"].properties == {
        "displayName": "Teacher T1",
        "givenName": "Tess",
        "teacher": {"externalId": "T1", "teacherNumber": "77"},
    }
    assert users["Teacher_T1"].user_principal_name == "tT1@contoso.edu"
    assert users["Student_1"].usage_location == "US"
    assert users["Student_1"].licenses == {STUDENT_SKU}
    assert snapshot.schools[0].properties == {
        "displayName": "School 1",
        "externalId": "1",
        "schoolNumber": "001",
        "address": {"city": "Town"},
    }
    assert snapshot.classes[0].properties == {
        "displayName": "Class 42",
        "mailNickname": "Section_42",
        "externalId": "42",
        "grade": "5",
        "course": {"subject": "Math"},
    }
    assert snapshot.subscribed_skus == {STUDENT_SKU, FACULTY_SKU}


def test_snapshot_memberships_are_an_arrow_table_of_ids(district: LocalTenantDirectory) -> None:
    snapshot = district.snapshot()
    ids = {u.anchor: u.id for u in snapshot.users}
    class_id = snapshot.classes[0].id

    assert snapshot.memberships.schema == MEMBERSHIP_SCHEMA
    assert sorted(snapshot.memberships.to_pylist(), key=lambda r: (r["relation"], r["member_id"])) == sorted(
        [
            {"container_id": class_id, "member_id": ids["Student_1"], "relation": "member"},
            {"container_id": class_id, "member_id": ids["Teacher_T1"], "relation": "member"},
            {"container_id": class_id, "member_id": ids["Teacher_T1"], "relation": "owner"},
        ],
        key=lambda r: (r["relation"], r["member_id"]),
    )


def test_an_empty_tenant_has_an_empty_snapshot_with_the_seeded_skus(tenant: LocalTenantDirectory) -> None:
    snapshot = tenant.snapshot()

    assert (snapshot.users, snapshot.classes, snapshot.schools, snapshot.groups) == ([], [], [], [])
    assert snapshot.memberships.equals(
        pa.table({n: pa.array([], pa.string()) for n in MEMBERSHIP_SCHEMA.names})
    )
    assert snapshot.subscribed_skus == {STUDENT_SKU, FACULTY_SKU}


def test_accounts_the_sync_does_not_manage_have_no_anchor(tenant: LocalTenantDirectory) -> None:
    tenant.store.create_user({"userPrincipalName": "admin@contoso.edu", "displayName": "Admin"})

    [user] = tenant.snapshot().users

    assert (user.anchor, user.primary_role) == (None, None)


# -- batches, persistence, dumps ------------------------------------------------------------------------
def test_more_operations_than_max_batch_are_refused_before_any_is_applied(tmp_path: Path) -> None:
    with LocalTenantDirectory(tmp_path / "t.db", max_batch=2) as small:
        with pytest.raises(ValueError, match="takes 2"):
            small.apply([school("1"), school("2"), school("3")])

        assert small.snapshot().schools == []


def test_one_apply_call_moves_the_change_counter_once_per_change(tenant: LocalTenantDirectory) -> None:
    ok(tenant.apply([school("1"), teacher("T1"), student("1")]))

    assert [c.kind for c in tenant.store.changes_since(0).objects] == ["school", "user", "user"]
    assert tenant.store.counter == 3


def test_reopening_the_tenant_file_keeps_its_state(tmp_path: Path) -> None:
    path = tmp_path / "tenant.db"
    with LocalTenantDirectory(path) as first:
        ok(first.apply([school("1"), teacher("T1"), student("1")]))
        ok(first.apply([section("42", "Teacher_T1", "Student_1")]))
        before = dump_state(first.store)
        ids = {u.anchor: u.id for u in first.snapshot().users}

    with LocalTenantDirectory(path) as again:
        assert dump_state(again.store) == before
        assert {u.anchor: u.id for u in again.snapshot().users} == ids
        assert one(again, student("1")).directory_id == ids["Student_1"]


def test_dumps_of_tenants_filled_in_different_orders_are_equal(tmp_path: Path) -> None:
    forward = [school("1"), teacher("T1"), student("1"), student("2")]
    with LocalTenantDirectory(tmp_path / "a.db") as a, LocalTenantDirectory(tmp_path / "b.db") as b:
        ok(a.apply(forward))
        ok(b.apply(list(reversed(forward))))
        for tenant in (a, b):
            ok(tenant.apply([section("42", "Teacher_T1", "Student_2", "Student_1")]))
        ok(b.apply([op(OpKind.ADD_SCHOOL_USERS, "School_1", refs=("Student_1",))]))

        dumped_b = dump_state(tmp_path / "b.db")
        assert dump_state(a.store) != dumped_b
        ok(a.apply([op(OpKind.ADD_SCHOOL_USERS, "School_1", refs=("Student_1",))]))
        assert dump_state(a.store) == dumped_b


def test_a_dump_keys_unmanaged_objects_by_principal_name_and_nickname(tmp_path: Path) -> None:
    with TenantStore(tmp_path / "t.db") as store:
        store.create_user({"userPrincipalName": "Admin@Contoso.edu", "displayName": "Admin"})
        store.create_school({"displayName": "Hidden School"})
        state = dump_state(store)

    assert list(state["users"]) == ["upn:admin@contoso.edu"]
    assert list(state["schools"]) == ["name:Hidden School"]
    assert "id" not in state["users"]["upn:admin@contoso.edu"]


def test_a_tenant_path_that_cannot_be_opened_is_reported_as_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DirectoryUnavailable, match="cannot be opened"):
        LocalTenantDirectory(tmp_path / "missing-folder" / "tenant.db")


def test_a_malformed_operation_fails_as_a_result_not_an_exception(tenant: LocalTenantDirectory) -> None:
    results = tenant.apply(
        [student("1", student="grade 5"), student("2", accountEnabled="yes"), student("3")]
    )

    assert [(r.ok, r.code) for r in results] == [(False, "Request_BadRequest")] * 2 + [(True, None)]
