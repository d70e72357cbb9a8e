"""Group-based licensing in the local tenant: licences on groups, inherited by the groups' user members."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.directory.model import Operation, OpKind
from sync.directory.tenant_errors import TenantError
from sync.directory.tenant_store import TenantStore

STUDENT_SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
FACULTY_SKU = "94763226-9b3c-4e75-a931-5c89701abe66"
UNKNOWN_SKU = "c42b9cae-ea4f-4ab7-9717-81576235ccac"
ADD_STUDENT_SKU = {"addLicenses": [STUDENT_SKU], "removeLicenses": []}


@pytest.fixture
def store(tmp_path: Path) -> TenantStore:
    return TenantStore(tmp_path / "tenant.db")


def user(store: TenantStore, name: str, **props: object) -> str:
    return store.create_user({"userPrincipalName": f"{name}@contoso.edu", "displayName": name, **props})


def group(store: TenantStore, nickname: str) -> str:
    return store.create_group({"displayName": nickname, "mailNickname": nickname})


def skus(store: TenantStore, user_id: str) -> list[str]:
    return [entry["skuId"] for entry in store.get_user(user_id)["assignedLicenses"]]


def test_a_groups_licence_is_shown_on_the_group_and_inherited_by_its_members(store: TenantStore) -> None:
    ava, bo = user(store, "ava", usageLocation="US"), user(store, "bo")
    students = group(store, "All_Students")
    store.add_links(students, "member", [ava, bo])

    store.assign_group_licenses(students, add=[STUDENT_SKU.upper()])

    assert store.get_group(students)["assignedLicenses"] == [{"skuId": STUDENT_SKU, "disabledPlans": []}]
    assert skus(store, ava) == [STUDENT_SKU]
    assert skus(store, bo) == [STUDENT_SKU]  # no usageLocation: Entra uses the tenant's country
    assert store.licenses_of(ava) == set()  # nothing assigned to ava directly


def test_a_member_who_leaves_loses_the_inherited_licence_and_keeps_its_own(store: TenantStore) -> None:
    ava = user(store, "ava", usageLocation="US")
    store.assign_licenses(ava, add=[FACULTY_SKU])
    students = group(store, "All_Students")
    store.add_links(students, "member", [ava])
    store.assign_group_licenses(students, add=[STUDENT_SKU])
    assert skus(store, ava) == sorted([STUDENT_SKU, FACULTY_SKU])

    store.remove_links(students, "member", [ava])

    assert skus(store, ava) == [FACULTY_SKU]


def test_licences_are_not_inherited_through_a_nested_group(store: TenantStore) -> None:
    ava = user(store, "ava", usageLocation="US")
    outer, inner = group(store, "Outer"), group(store, "Inner")
    store.add_links(inner, "member", [ava])
    store.add_links(outer, "member", [inner])

    store.assign_group_licenses(outer, add=[STUDENT_SKU])

    assert skus(store, ava) == []


def test_an_unknown_sku_is_invalid_license_and_an_unknown_group_is_not_found(store: TenantStore) -> None:
    students = group(store, "All_Students")

    with pytest.raises(TenantError) as unknown_sku:
        store.assign_group_licenses(students, add=[UNKNOWN_SKU])
    with pytest.raises(TenantError) as unknown_group:
        store.assign_group_licenses("00000000-0000-0000-0000-000000000000", add=[STUDENT_SKU])

    assert unknown_sku.value.code == "InvalidLicense"
    assert unknown_group.value.code == "Request_ResourceNotFound"
    assert store.group_licenses_of(students) == set()


def test_a_change_of_inherited_licences_is_a_change_of_the_user(store: TenantStore) -> None:
    """So a users delta query reports the new ``assignedLicenses``, as Graph does."""
    ava, bo = user(store, "ava"), user(store, "bo")
    students = group(store, "All_Students")
    store.add_links(students, "member", [ava])
    before_licence = store.counter

    store.assign_group_licenses(students, add=[STUDENT_SKU])
    licensed = {c.id for c in store.changes_since(before_licence).objects}
    before_join = store.counter
    store.add_links(students, "member", [bo])
    joined = {c.id for c in store.changes_since(before_join).objects}

    assert licensed == {students, ava}
    assert joined == {bo}


def test_deleting_a_licensed_group_takes_its_licences_from_its_members(store: TenantStore) -> None:
    ava = user(store, "ava")
    students = group(store, "All_Students")
    store.add_links(students, "member", [ava])
    store.assign_group_licenses(students, add=[STUDENT_SKU])

    store.delete_group(students)

    assert skus(store, ava) == []
    assert store.group_licenses_of(students) == set()


def test_the_local_tenant_assigns_group_licences_idempotently_and_shows_them_everywhere(
    tmp_path: Path,
) -> None:
    with LocalTenantDirectory(tmp_path / "tenant.db") as tenant:
        setup = [
            Operation(OpKind.CREATE_GROUP, "Group_All_Students", {"displayName": "All Students"}),
            Operation(
                OpKind.CREATE_USER,
                "Student_1",
                {"userPrincipalName": "s1@students.contoso.edu", "displayName": "S 1", "usageLocation": "US"},
            ),
        ]
        assert all(result.ok for result in tenant.apply(setup))
        join = Operation(OpKind.ADD_GROUP_MEMBERS, "Group_All_Students", refs=("Student_1",))
        licence = Operation(OpKind.ASSIGN_GROUP_LICENSES, "Group_All_Students", ADD_STUDENT_SKU)

        results = tenant.apply([join]) + tenant.apply([licence]) + tenant.apply([licence])

        assert [result.ok for result in results] == [True, True, True]
        snapshot = tenant.snapshot()
        assert [(g.anchor, g.licenses) for g in snapshot.groups] == [("Group_All_Students", {STUDENT_SKU})]
        assert [(u.anchor, u.licenses) for u in snapshot.users] == [("Student_1", {STUDENT_SKU})]
        state = dump_state(tenant.store)
        assert state["groups"]["Group_All_Students"]["assignedLicenses"] == [STUDENT_SKU]
        assert state["users"]["Student_1"]["assignedLicenses"] == [STUDENT_SKU]


def test_group_licences_for_an_unknown_group_or_sku_fail_with_graphs_codes(tmp_path: Path) -> None:
    with LocalTenantDirectory(tmp_path / "tenant.db") as tenant:
        tenant.apply([Operation(OpKind.CREATE_GROUP, "Group_All_Students", {"displayName": "All Students"})])
        unknown_sku = {"addLicenses": [UNKNOWN_SKU], "removeLicenses": []}

        missing, invalid = tenant.apply(
            [
                Operation(OpKind.ASSIGN_GROUP_LICENSES, "Group_All_Teachers", ADD_STUDENT_SKU),
                Operation(OpKind.ASSIGN_GROUP_LICENSES, "Group_All_Students", unknown_sku),
            ]
        )

        assert (missing.ok, missing.code) == (False, "Request_ResourceNotFound")
        assert (invalid.ok, invalid.code) == (False, "InvalidLicense")
