"""The local tenant store: what Entra enforces, the change counter, and persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sync.directory.tenant_errors import TenantError
from sync.directory.tenant_store import LinkChange, ObjectChange, TenantStore
from sync.errors import DirectoryUnavailable

STUDENT_SKU = "314c4481-f395-4525-be8b-2ec4bb1e9d91"
FACULTY_SKU = "94763226-9b3c-4e75-a931-5c89701abe66"
OTHER_SKU = "c42b9cae-ea4f-4ab7-9717-81576235ccac"


@pytest.fixture
def store(tmp_path: Path) -> TenantStore:
    return TenantStore(tmp_path / "tenant.db")


def user(store: TenantStore, name: str, **props: object) -> str:
    return store.create_user({"userPrincipalName": f"{name}@contoso.edu", "displayName": name, **props})


def klass(store: TenantStore, nickname: str, owner: str) -> str:
    props = {"displayName": nickname, "mailNickname": nickname, "externalId": nickname}
    return store.create_group(props, owners=[owner], as_class=True)


def refused(call: object, *args: object, **kwargs: object) -> TenantError:
    assert callable(call)
    with pytest.raises(TenantError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_new_tenant_subscribes_to_the_student_and_faculty_skus(store: TenantStore) -> None:
    assert store.subscribed_skus() == {
        STUDENT_SKU: "STANDARDWOFFPACK_STUDENT",
        FACULTY_SKU: "STANDARDWOFFPACK_FACULTY",
    }


def test_a_created_user_reads_back_in_graph_shape_without_its_password(store: TenantStore) -> None:
    user_id = user(
        store,
        "ava",
        primaryRole="student",
        student={"externalId": "1001", "grade": "5"},
        passwordProfile={"password": "Secret-123!", "forceChangePasswordNextSignIn": True},
    )

    assert store.get_user(user_id) == {
        "id": user_id,
        "userPrincipalName": "ava@contoso.edu",
        "displayName": "ava",
        "accountEnabled": True,
        "primaryRole": "student",
        "student": {"externalId": "1001", "grade": "5"},
        "assignedLicenses": [],
    }
    assert "Secret-123!" not in (store.path.read_bytes() + Path(f"{store.path}-wal").read_bytes()).decode(
        "latin-1"
    )


def test_user_principal_names_are_unique_ignoring_case(store: TenantStore) -> None:
    user(store, "ava")

    error = refused(user, store, "AVA")

    assert (error.code, error.status, error.target) == ("Request_BadRequest", 400, "userPrincipalName")
    assert "Another object with the same value for property userPrincipalName" in error.message


def test_renaming_a_user_onto_a_taken_principal_name_is_refused(store: TenantStore) -> None:
    user(store, "ava")
    ben = user(store, "ben")

    error = refused(store.update_user, ben, {"userPrincipalName": "Ava@contoso.edu"})
    store.update_user(ben, {"userPrincipalName": "BEN@contoso.edu"})

    assert error.target == "userPrincipalName"
    assert store.get_user(ben)["userPrincipalName"] == "BEN@contoso.edu"


def test_mail_nicknames_are_unique_across_users_and_groups(store: TenantStore) -> None:
    teacher = user(store, "tess", mailNickname="tess")

    error = refused(store.create_group, {"displayName": "x", "mailNickname": "TESS"})
    group_id = store.create_group({"displayName": "All", "mailNickname": "all"})
    second = refused(user, store, "other", mailNickname="All")
    third = refused(klass, store, "all", teacher)

    assert error.target == second.target == third.target == "mailNickname"
    assert store.get_group(group_id)["mailNickname"] == "all"


def test_a_nickname_is_free_again_after_its_group_is_renamed_or_deleted(store: TenantStore) -> None:
    first = store.create_group({"displayName": "a", "mailNickname": "a"})
    second = store.create_group({"displayName": "b", "mailNickname": "b"})

    store.update_group(first, {"mailNickname": "a2"})
    store.delete_group(second)
    store.create_group({"displayName": "a", "mailNickname": "a"})
    store.create_group({"displayName": "b", "mailNickname": "b"})

    assert sorted(g["mailNickname"] for g in store.list_groups()) == ["a", "a2", "b"]


def test_a_class_must_be_created_with_an_owner(store: TenantStore) -> None:
    error = refused(
        store.create_group, {"displayName": "x", "mailNickname": "x", "externalId": "x"}, as_class=True
    )
    unified = refused(
        store.create_group, {"displayName": "y", "mailNickname": "y", "groupTypes": ["Unified"]}
    )

    assert error.code == unified.code == "Request_BadRequest"
    assert "at least one owner" in error.message
    assert store.list_groups() == []


def test_the_last_owner_of_a_class_cannot_be_removed(store: TenantStore) -> None:
    tess, tom = user(store, "tess"), user(store, "tom")
    class_id = klass(store, "Section_1", tess)
    store.add_links(class_id, "owner", [tom])

    store.remove_links(class_id, "owner", [tom])
    error = refused(store.remove_links, class_id, "owner", [tess])

    assert "at least one owner" in error.message
    assert store.list_links(class_id, "owner") == [tess]


def test_removing_every_owner_at_once_is_refused_as_a_whole(store: TenantStore) -> None:
    tess, tom = user(store, "tess"), user(store, "tom")
    class_id = store.create_group(
        {"displayName": "c", "mailNickname": "c", "externalId": "c"}, owners=[tess, tom], as_class=True
    )

    refused(store.remove_links, class_id, "owner", [tess, tom])

    assert store.list_links(class_id, "owner") == sorted([tess, tom])


def test_a_security_group_needs_no_owner(store: TenantStore) -> None:
    tess = user(store, "tess")
    group_id = store.create_group(
        {"displayName": "All Teachers", "mailNickname": "allteachers"}, owners=[tess]
    )

    store.remove_links(group_id, "owner", [tess])

    assert store.get_group(group_id)["securityEnabled"] is True
    assert store.get_group(group_id)["groupTypes"] == []
    assert store.list_links(group_id, "owner") == []


def test_a_licence_needs_the_users_usage_location(store: TenantStore) -> None:
    ava = user(store, "ava")

    error = refused(store.assign_licenses, ava, add=[STUDENT_SKU])
    store.update_user(ava, {"usageLocation": "US"})
    store.assign_licenses(ava, add=[STUDENT_SKU.upper()])

    assert (error.code, error.status) == ("InvalidUserUsageLocation", 400)
    assert store.licenses_of(ava) == {STUDENT_SKU}


def test_a_licence_for_an_unsubscribed_sku_is_refused_until_the_sku_is_added(store: TenantStore) -> None:
    ava = user(store, "ava", usageLocation="US")

    error = refused(store.assign_licenses, ava, add=[OTHER_SKU])
    store.add_subscribed_sku(OTHER_SKU, "M365EDU_A3_STUDENT")
    store.assign_licenses(ava, add=[OTHER_SKU])

    assert error.code == "InvalidLicense"
    assert OTHER_SKU in error.message
    assert store.get_user(ava)["assignedLicenses"] == [{"skuId": OTHER_SKU, "disabledPlans": []}]


def test_removing_a_licence_the_user_does_not_have_changes_nothing(store: TenantStore) -> None:
    ava = user(store, "ava", usageLocation="US")
    before = store.counter

    store.assign_licenses(ava, remove=[STUDENT_SKU])

    assert store.counter == before
    assert store.licenses_of(ava) == set()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.update_user("nope", {"displayName": "x"}),
        lambda s: s.delete_user("nope"),
        lambda s: s.get_group("nope"),
        lambda s: s.update_school("nope", {"displayName": "x"}),
        lambda s: s.assign_licenses("nope", add=[STUDENT_SKU]),
        lambda s: s.add_links("nope", "member", ["x"]),
        lambda s: s.list_links("nope", "user"),
    ],
)
def test_an_unknown_id_is_resource_not_found(store: TenantStore, call: object) -> None:
    assert callable(call)
    with pytest.raises(TenantError) as caught:
        call(store)

    assert (caught.value.code, caught.value.status) == ("Request_ResourceNotFound", 404)
    assert "'nope' does not exist" in caught.value.message


def test_linking_an_unknown_member_is_resource_not_found_and_links_nothing(store: TenantStore) -> None:
    tess, ava = user(store, "tess"), user(store, "ava")
    class_id = klass(store, "Section_1", tess)

    error = refused(store.add_links, class_id, "member", [ava, "ghost"])

    assert error.status == 404
    assert store.list_links(class_id, "member") == []


def test_adding_a_member_that_is_there_is_refused_as_graph_does(store: TenantStore) -> None:
    tess, ava, ben = user(store, "tess"), user(store, "ava"), user(store, "ben")
    class_id = klass(store, "Section_1", tess)
    store.add_links(class_id, "member", [ava])
    before = store.counter

    error = refused(store.add_links, class_id, "member", [ben, ava])

    assert error.message.startswith("One or more added object references already exist")
    assert "'members'" in error.message
    assert store.list_links(class_id, "member") == [ava]
    assert store.counter == before


def test_removing_a_link_that_is_not_there_is_resource_not_found(store: TenantStore) -> None:
    tess, ava = user(store, "tess"), user(store, "ava")
    school_id = store.create_school({"displayName": "Lincoln"})

    error = refused(store.remove_links, school_id, "user", [ava])

    assert error.status == 404
    assert tess not in store.list_links(school_id, "user")


def test_a_school_links_users_and_classes_but_not_plain_groups(store: TenantStore) -> None:
    tess = user(store, "tess")
    class_id = klass(store, "Section_1", tess)
    group_id = store.create_group({"displayName": "g", "mailNickname": "g"})
    school_id = store.create_school({"displayName": "Lincoln", "externalId": "1"})

    store.add_links(school_id, "user", [tess])
    store.add_links(school_id, "class", [class_id])
    error = refused(store.add_links, school_id, "class", [group_id])

    assert error.status == 400
    assert store.list_links(school_id, "class") == [class_id]


def test_unknown_and_read_only_properties_are_refused(store: TenantStore) -> None:
    unknown = refused(
        store.create_user, {"userPrincipalName": "a@b.edu", "displayName": "a", "shoeSize": "9"}
    )
    read_only = refused(store.create_school, {"displayName": "x", "id": "123"})
    mistyped = refused(
        store.create_user, {"userPrincipalName": "a@b.edu", "displayName": "a", "accountEnabled": 1}
    )
    bad_upn = refused(store.create_user, {"userPrincipalName": "no-at-sign", "displayName": "a"})

    assert "'shoeSize' does not exist" in unknown.message
    assert "read-only" in read_only.message
    assert "true or false" in mistyped.message
    assert "userPrincipalName" in bad_upn.message
    assert store.list_users() == [] and store.list_schools() == []


def test_a_group_becomes_a_class_when_it_gets_class_properties(store: TenantStore) -> None:
    tess = user(store, "tess")
    group_id = store.create_group(
        {"displayName": "Algebra", "mailNickname": "Section_9", "groupTypes": ["Unified"]}, owners=[tess]
    )
    before = refused(store.get_class, group_id)

    store.update_class(group_id, {"externalId": "9", "term": {"displayName": "Fall"}})

    assert before.status == 404
    assert store.get_class(group_id) == {
        "id": group_id,
        "displayName": "Algebra",
        "mailNickname": "Section_9",
        "externalId": "9",
        "term": {"displayName": "Fall"},
    }
    assert store.ids_by_anchor("classes", ["Section_9"]) == {"Section_9": group_id}


def test_a_security_group_cannot_become_a_class(store: TenantStore) -> None:
    group_id = store.create_group({"displayName": "g", "mailNickname": "g"})

    assert refused(store.update_class, group_id, {"externalId": "1"}).status == 400


def test_lookups_by_principal_name_ignore_case(store: TenantStore) -> None:
    ava = user(store, "ava", employeeId="E1")

    assert [u["id"] for u in store.find_users("userPrincipalName", "AVA@CONTOSO.EDU")] == [ava]
    assert [u["id"] for u in store.find_users("employeeId", "E1")] == [ava]
    assert store.find_users("employeeId", "e1") == []
    assert refused(store.find_users, "accountEnabled", "true").code == "Request_UnsupportedQuery"


def test_anchors_follow_role_and_external_id(store: TenantStore) -> None:
    ava = user(store, "ava", primaryRole="student", student={"externalId": "1001"})
    tess = user(store, "tess", primaryRole="teacher", teacher={"externalId": "T1"})
    sam = user(store, "sam", primaryRole="faculty", teacher={"externalId": "S7"})
    school_id = store.create_school({"displayName": "Lincoln", "externalId": "1"})

    found = store.ids_by_anchor("users", ["Student_1001", "Teacher_T1", "Staff_S7", "Teacher_1001"])
    store.update_user(ava, {"student": {"externalId": "1002"}})

    assert found == {"Student_1001": ava, "Teacher_T1": tess, "Staff_S7": sam}
    assert store.ids_by_anchor("users", ["Student_1001", "Student_1002"]) == {"Student_1002": ava}
    assert store.ids_by_anchor("schools", ["School_1"]) == {"School_1": school_id}


def test_every_change_gets_a_higher_counter_value(store: TenantStore) -> None:
    start = store.counter
    tess = user(store, "tess")
    after_create = store.counter
    store.update_user(tess, {"surname": "Smith"})

    assert start == 0
    assert start < after_create < store.counter


def test_changes_since_lists_only_later_changes_with_deletions_as_tombstones(store: TenantStore) -> None:
    tess, ava = user(store, "tess"), user(store, "ava")
    class_id = klass(store, "Section_1", tess)
    store.add_links(class_id, "member", [ava])
    mark = store.counter

    store.update_user(tess, {"surname": "Smith"})
    store.remove_links(class_id, "member", [ava])
    store.delete_user(ava)
    changes = store.changes_since(mark)

    assert [(c.kind, c.id, c.removed) for c in changes.objects] == [
        ("user", tess, False),
        ("user", ava, True),
    ]
    assert [(c.container_id, c.relation, c.member_id, c.removed) for c in changes.links] == [
        (class_id, "member", ava, True)
    ]
    assert changes.counter == store.counter
    assert all(change.version > mark for change in (*changes.objects, *changes.links))
    assert store.changes_since(store.counter).objects == ()


def test_deleting_a_user_removes_its_links_and_licences(store: TenantStore) -> None:
    tess, ava = user(store, "tess"), user(store, "ava", usageLocation="US")
    class_id = klass(store, "Section_1", tess)
    store.add_links(class_id, "member", [ava, tess])
    store.assign_licenses(ava, add=[STUDENT_SKU])
    mark = store.counter

    store.delete_user(ava)

    assert store.list_links(class_id, "member") == [tess]
    assert store.licenses_of(ava) == set()
    assert store.kind_of(ava) is None
    assert LinkChange(class_id, "member", ava, store.counter, True) in store.changes_since(mark).links
    assert ObjectChange("user", ava, store.counter, True) in store.changes_since(mark).objects


def test_a_failed_request_inside_a_transaction_rolls_back_alone(store: TenantStore) -> None:
    with store.transaction():
        kept = user(store, "kept")
        with pytest.raises(TenantError), store.transaction():
            user(store, "lost")
            user(store, "KEPT")

    assert [u["id"] for u in store.list_users()] == [kept]
    assert [c.id for c in store.changes_since(0).objects] == [kept]


def test_reopening_the_file_keeps_objects_links_and_the_counter(tmp_path: Path) -> None:
    path = tmp_path / "tenant.db"
    with TenantStore(path) as first:
        tess = user(first, "tess", usageLocation="US")
        class_id = klass(first, "Section_1", tess)
        first.assign_licenses(tess, add=[FACULTY_SKU])
        counter = first.counter

    with TenantStore(path) as again:
        assert again.counter == counter
        assert again.list_links(class_id, "owner") == [tess]
        assert again.get_user(tess)["assignedLicenses"] == [{"skuId": FACULTY_SKU, "disabledPlans": []}]
        user(again, "next")
        assert again.counter == counter + 1


def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "tenant.db"
    with TenantStore(path) as writer, TenantStore(path) as reader:
        tess = user(writer, "tess")
        user(reader, "ava")

        assert reader.get_user(tess)["displayName"] == "tess"
        assert writer.counter == reader.counter == 2


def test_a_file_that_is_not_a_tenant_is_reported_as_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)

    with pytest.raises(DirectoryUnavailable, match="is not a tenant file"):
        TenantStore(path)


def test_another_programs_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "invoices.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE invoices (id INTEGER, amount INTEGER)")
    before = path.read_bytes()

    with pytest.raises(
        DirectoryUnavailable, match=r"is not a tenant file \(it holds other tables \(invoices\)\)"
    ):
        TenantStore(path)
    assert path.read_bytes() == before
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [
            ("invoices",)
        ]


def test_a_folder_given_as_the_tenant_is_refused_with_a_file_path_to_use(tmp_path: Path) -> None:
    with pytest.raises(
        DirectoryUnavailable, match=r"is a folder; give the path of a tenant file, e\.g\. .*tenant\.db"
    ):
        TenantStore(tmp_path)
