"""Each operation kind as Graph requests, and the idempotence contract (fake Graph transport)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sync.directory.graph import GraphDirectory, static_token
from sync.directory.graph_batch import RetryPolicy
from sync.directory.model import Operation, OperationResult, OpKind
from sync.errors import DirectoryUnavailable
from tests.directory.graph_fakes import BASE, Answer, FakeGraph, Item, error

FAST = RetryPolicy(attempts=4, backoff_s=0.001, max_backoff_s=0.01)
ROOT = "https://graph.microsoft.com/v1.0"
STUDENTS = [f"Student_{index}" for index in range(30)]


def roster_tenant() -> FakeGraph:
    """A teacher (Teacher_T), 30 students (Student_0..29), a school (School_1), a class (Section_9) and
    a security group (Group_All)."""
    users = [{"id": "t", "userPrincipalName": "t@x.edu"}] + [
        {"id": f"s{index}", "userPrincipalName": f"s{index}@x.edu"} for index in range(30)
    ]
    education = [{"id": "t", "primaryRole": "teacher", "teacher": {"externalId": "T"}}] + [
        {"id": f"s{index}", "primaryRole": "student", "student": {"externalId": str(index)}}
        for index in range(30)
    ]
    return FakeGraph(
        page_size=999,
        seed={
            "/users/delta": users,
            "/education/users/delta": education,
            "/education/schools/delta": [{"id": "sch", "externalId": "1", "displayName": "One"}],
            "/education/classes/delta": [{"id": "c9", "externalId": "9", "mailNickname": "Section_9"}],
            "/groups/delta": [
                {"id": "c9", "mailNickname": "Section_9", "groupTypes": ["Unified"]},
                {"id": "g", "mailNickname": "All", "groupTypes": [], "securityEnabled": True},
            ],
        },
    )


@pytest.fixture
def fake() -> FakeGraph:
    return roster_tenant()


def open_directory(fake: FakeGraph, tmp_path: Path, **options: Any) -> GraphDirectory:
    """A Graph directory on ``fake`` with fast retries (``options`` override), its snapshot read."""
    graph = GraphDirectory(
        BASE,
        cache_dir=tmp_path,
        token=static_token("t"),
        transport=fake.transport(),
        quota_scale=1000,
        **{"retry": FAST, "replication": FAST, **options},
    )
    graph.snapshot()
    return graph


@pytest.fixture
def directory(fake: FakeGraph, tmp_path: Path) -> Iterator[GraphDirectory]:
    with open_directory(fake, tmp_path) as graph:
        yield graph


def apply_one(directory: GraphDirectory, operation: Operation) -> OperationResult:
    [result] = directory.apply([operation])
    return result


def test_a_class_is_created_with_its_owner_and_first_members_then_given_its_education_properties(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fields = {"displayName": "Biology", "mailNickname": "Section_5", "externalId": "5", "classCode": "B1"}
    result = apply_one(
        directory, Operation(OpKind.CREATE_CLASS, "Section_5", fields, ("Student_0",), ("Teacher_T",))
    )
    create, patch = fake.writes
    assert (create.method, create.url) == ("POST", "/groups")
    assert create.body["owners@odata.bind"] == [f"{ROOT}/users/t"]
    assert create.body["members@odata.bind"] == [f"{ROOT}/directoryObjects/s0"]
    assert create.body["groupTypes"] == ["Unified"] and create.body["mailEnabled"] is True
    assert "externalId" not in create.body
    assert (patch.method, patch.url) == ("PATCH", f"/education/classes/{result.directory_id}")
    assert patch.body == {"externalId": "5", "classCode": "B1", "externalSource": "sis"}
    assert result.ok


def test_a_class_with_more_than_20_owners_and_members_gets_the_rest_in_a_members_request(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    operation = Operation(
        OpKind.CREATE_CLASS, "Section_6", {"mailNickname": "Section_6"}, tuple(STUDENTS[:25]), ("Teacher_T",)
    )
    result = apply_one(directory, operation)
    create, _, more = fake.writes
    assert len(create.body["owners@odata.bind"]) + len(create.body["members@odata.bind"]) == 20
    assert (more.method, more.url) == ("PATCH", f"/groups/{result.directory_id}")
    assert more.body["members@odata.bind"] == [f"{ROOT}/directoryObjects/s{index}" for index in range(19, 25)]


def test_members_are_added_twenty_per_request(fake: FakeGraph, directory: GraphDirectory) -> None:
    assert apply_one(
        directory, Operation(OpKind.ADD_CLASS_MEMBERS, "Section_9", refs=tuple(STUDENTS[:25]))
    ).ok
    assert [(item.method, item.url, len(item.body["members@odata.bind"])) for item in fake.writes] == [
        ("PATCH", "/groups/c9", 20),
        ("PATCH", "/groups/c9", 5),
    ]


def test_a_create_that_finds_the_user_already_there_returns_the_existing_id(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fake.script = lambda item: (
        error(
            400,
            "Request_BadRequest",
            "Another object with the same value for property userPrincipalName already exists.",
        )
        if item.method == "POST"
        else None
    )
    fake.lookups[("/users", "userPrincipalName", "new'one@x.edu")] = "existing-id"
    operation = Operation(OpKind.CREATE_USER, "Student_99", {"userPrincipalName": "new'one@x.edu"})
    assert apply_one(directory, operation) == OperationResult(ok=True, directory_id="existing-id")
    assert len(fake.writes) == 1
    # ... and later operations resolve the anchor to it.
    assert apply_one(directory, Operation(OpKind.DISABLE_USER, "Student_99")).ok
    assert fake.writes[-1].url == "/users/existing-id"


def test_a_create_whose_anchor_is_known_writes_nothing(fake: FakeGraph, directory: GraphDirectory) -> None:
    result = apply_one(
        directory, Operation(OpKind.CREATE_USER, "Student_3", {"userPrincipalName": "s3@x.edu"})
    )
    assert result == OperationResult(ok=True, directory_id="s3")
    assert fake.writes == []


def test_a_new_user_is_created_as_an_education_user_from_the_sis(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    result = apply_one(
        directory, Operation(OpKind.CREATE_USER, "Student_77", {"userPrincipalName": "n@x.edu"})
    )
    [create] = fake.writes
    assert (create.method, create.url, create.body["externalSource"]) == ("POST", "/education/users", "sis")
    assert result.ok and result.directory_id


def test_a_member_add_refused_because_one_is_there_already_adds_them_one_by_one(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    def script(item: Item) -> Answer | None:
        if item.method == "PATCH" or (
            item.url.endswith("/members/$ref") and item.body["@odata.id"].endswith("/s1")
        ):
            return error(
                400,
                "Request_BadRequest",
                "One or more added object references already exist for the "
                "following modified properties: 'members'.",
            )
        return None

    fake.script = script
    assert apply_one(
        directory, Operation(OpKind.ADD_GROUP_MEMBERS, "Group_All", refs=("Student_0", "Student_1"))
    ).ok
    singles = [item for item in fake.writes if item.method == "POST"]
    assert sorted(item.body["@odata.id"] for item in singles) == [
        f"{ROOT}/directoryObjects/s0",
        f"{ROOT}/directoryObjects/s1",
    ]


def test_removing_a_member_that_is_not_there_succeeds(fake: FakeGraph, directory: GraphDirectory) -> None:
    fake.script = lambda item: error(404, "Request_ResourceNotFound", "Resource 's2' does not exist")
    assert apply_one(directory, Operation(OpKind.REMOVE_CLASS_MEMBERS, "Section_9", refs=("Student_2",))).ok
    assert [(item.method, item.url) for item in fake.writes] == [("DELETE", "/groups/c9/members/s2/$ref")]


def test_a_404_removing_a_member_from_a_class_just_created_is_retried_as_replication_delay(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    created = apply_one(
        directory,
        Operation(
            OpKind.CREATE_CLASS, "Section_5", {"mailNickname": "Section_5"}, ("Student_0",), ("Teacher_T",)
        ),
    )
    assert created.ok
    not_replicated = iter(
        [error(404, "Request_ResourceNotFound", f"Resource '{created.directory_id}' does not exist")]
    )
    fake.script = lambda item: next(not_replicated, None) if item.method == "DELETE" else None
    assert apply_one(directory, Operation(OpKind.REMOVE_CLASS_MEMBERS, "Section_5", refs=("Student_0",))).ok
    deletes = [item.url for item in fake.writes if item.method == "DELETE"]
    assert deletes == [f"/groups/{created.directory_id}/members/s0/$ref"] * 2


def test_a_class_created_moments_ago_that_keeps_answering_404_to_its_delete_is_a_failure_not_success(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    created = Operation(OpKind.CREATE_CLASS, "Section_5", {"mailNickname": "Section_5"}, (), ("Teacher_T",))
    assert apply_one(directory, created).ok
    fake.script = lambda item: (
        error(404, "Request_ResourceNotFound", "does not exist") if item.method == "DELETE" else None
    )
    assert not apply_one(directory, Operation(OpKind.DELETE_CLASS, "Section_5")).ok
    assert len([item for item in fake.writes if item.method == "DELETE"]) == FAST.attempts + 1


def test_deleting_a_user_the_directory_does_not_know_succeeds_without_a_write(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    assert apply_one(directory, Operation(OpKind.DELETE_USER, "Student_404")).ok
    assert fake.writes == []


def test_a_fresh_object_answering_404_is_retried_until_it_has_replicated(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    answers = iter(
        [
            error(404, "Request_ResourceNotFound", "does not exist"),
            error(
                400,
                "Request_BadRequest",
                "Resource 'c9' does not exist or one of its queried "
                "reference-property objects are not present.",
            ),
        ]
    )
    fake.script = lambda item: next(answers, None)
    assert apply_one(directory, Operation(OpKind.UPDATE_CLASS, "Section_9", {"grade": "10"})).ok
    assert len(fake.writes) == 3
    assert directory.stats().writes == 3


def test_replication_transient_and_read_retries_wait_backoffs_drawn_from_the_directorys_random_source(
    fake: FakeGraph, tmp_path: Path
) -> None:
    draws: list[float] = []
    source = random.Random(11)

    def draw() -> float:
        draws.append(source.random())
        return draws[-1]

    with open_directory(fake, tmp_path, draw=draw) as directory:
        assert draws == []  # the snapshot's reads needed no retry
        answers = iter(
            [
                error(404, "Request_ResourceNotFound", "does not exist"),  # replication delay
                error(503, "ServiceUnavailable", "busy"),  # transient, no Retry-After
            ]
        )
        fake.script = lambda item: next(answers, None)
        assert apply_one(directory, Operation(OpKind.UPDATE_CLASS, "Section_9", {"grade": "10"})).ok
        assert len(fake.writes) == 3 and len(draws) == 2
        fake.get_faults = [(503, {})]
        directory.snapshot()
        assert len(draws) == 3


def test_a_graph_error_becomes_a_failed_result_with_the_graph_code(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fake.script = lambda item: error(
        400, "Request_BadRequest", "License assignment cannot be done for user with invalid usage location."
    )
    result = apply_one(directory, Operation(OpKind.ASSIGN_LICENSES, "Student_4", {"addLicenses": ["sku-1"]}))
    assert (result.ok, result.code) == (False, "InvalidUserUsageLocation")
    [write] = fake.writes
    assert write.url == "/users/s4/assignLicense"
    assert write.body == {"addLicenses": [{"skuId": "sku-1", "disabledPlans": []}], "removeLicenses": []}


def test_school_links_are_one_reference_per_request(fake: FakeGraph, directory: GraphDirectory) -> None:
    assert apply_one(
        directory, Operation(OpKind.ADD_SCHOOL_USERS, "School_1", refs=("Student_0", "Teacher_T"))
    ).ok
    assert apply_one(directory, Operation(OpKind.ADD_SCHOOL_CLASSES, "School_1", refs=("Section_9",))).ok
    assert sorted((item.url, item.body["@odata.id"]) for item in fake.writes) == [
        ("/education/schools/sch/classes/$ref", f"{ROOT}/education/classes/c9"),
        ("/education/schools/sch/users/$ref", f"{ROOT}/education/users/s0"),
        ("/education/schools/sch/users/$ref", f"{ROOT}/education/users/t"),
    ]


def test_owners_are_added_and_removed_one_per_request(fake: FakeGraph, directory: GraphDirectory) -> None:
    assert apply_one(directory, Operation(OpKind.ADD_CLASS_OWNERS, "Section_9", refs=("Teacher_T",))).ok
    assert apply_one(directory, Operation(OpKind.REMOVE_CLASS_OWNERS, "Section_9", refs=("Teacher_T",))).ok
    assert [(item.method, item.url) for item in fake.writes] == [
        ("POST", "/groups/c9/owners/$ref"),
        ("DELETE", "/groups/c9/owners/t/$ref"),
    ]


def test_a_school_is_looked_up_before_it_is_created_so_a_retried_create_cannot_duplicate_it(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fake.lookups[("/education/schools", "externalId", "2")] = "sch2"
    result = apply_one(directory, Operation(OpKind.CREATE_SCHOOL, "School_2", {"externalId": "2"}))
    assert result == OperationResult(ok=True, directory_id="sch2")
    assert fake.writes == []


class LandsLater(dict[tuple[str, str, str], str]):
    """Look-ups that find an object only from ``at`` on (a create still at work on the server)."""

    at = float("inf")

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, default) if time.monotonic() >= self.at else default


def test_a_school_create_that_timed_out_is_given_time_to_land_before_it_is_tried_again(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.lookups = LandsLater({("/education/schools", "externalId", "2"): "sch2"})

    def gateway_timeout_then_lands(item: Any) -> Any:
        if item.method == "POST" and fake.lookups.at == float("inf"):
            fake.lookups.at = time.monotonic() + 0.2  # the first attempt lands 0.2 s after its 504
            return error(504, "GatewayTimeout", "The request timed out.")
        return None

    fake.script = gateway_timeout_then_lands
    with open_directory(fake, tmp_path, timeout_s=0.4) as graph:
        result = apply_one(graph, Operation(OpKind.CREATE_SCHOOL, "School_2", {"externalId": "2"}))
    assert result == OperationResult(ok=True, directory_id="sch2")
    assert [item.url for item in fake.writes] == ["/education/schools"]


def test_a_security_group_is_looked_up_before_it_is_created(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fake.lookups[("/groups", "mailNickname", "Students_9")] = "g9"
    operation = Operation(OpKind.CREATE_GROUP, "Group_Students_9", {"mailNickname": "Students_9"})
    assert apply_one(directory, operation) == OperationResult(ok=True, directory_id="g9")
    assert fake.writes == []


def test_user_state_and_class_lifecycle_operations_use_their_documented_requests(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    operations = [
        Operation(OpKind.ENABLE_USER, "Student_5"),
        Operation(OpKind.UPDATE_USER, "Student_6", {"displayName": "New"}),
        Operation(OpKind.LINK_USER, "Student_50", {"id": "s7", "student": {"externalId": "50"}}),
        Operation(
            OpKind.EXPIRE_CLASS,
            "Section_9",
            {"displayName": "Exp1226_Bio", "mailNickname": "Exp1226_Section_9"},
        ),
        Operation(OpKind.UPDATE_SCHOOL, "School_1", {"phone": "555"}),
        Operation(
            OpKind.CREATE_GROUP,
            "Group_AllTeachers",
            {"displayName": "All Teachers", "mailNickname": "AllTeachers"},
        ),
    ]
    results = directory.apply(operations)
    assert all(result.ok for result in results)
    assert results[2].directory_id == "s7"
    assert sorted((item.method, item.url) for item in fake.writes) == [
        ("PATCH", "/education/classes/c9"),
        ("PATCH", "/education/schools/sch"),
        ("PATCH", "/education/users/s6"),
        ("PATCH", "/education/users/s7"),
        ("PATCH", "/users/s5"),
        ("POST", "/groups"),
    ]
    group = next(item for item in fake.writes if item.url == "/groups")
    assert group.body == {
        "displayName": "All Teachers",
        "mailNickname": "AllTeachers",
        "mailEnabled": False,
        "securityEnabled": True,
        "groupTypes": [],
    }


def test_an_operation_naming_an_unknown_anchor_fails_after_the_directory_is_read_again(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    reads_before = directory.stats().reads
    result = apply_one(directory, Operation(OpKind.ADD_CLASS_MEMBERS, "Section_9", refs=("Student_404",)))
    assert (result.ok, result.code) == (False, "AnchorNotFound")
    assert "Student" in (result.message or "") and "404" not in (result.message or "")
    assert directory.stats().reads > reads_before
    assert fake.writes == []


def test_a_directory_that_never_answers_raises_directory_unavailable(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fake.batch_faults = [(0, {})] * 10
    with pytest.raises(DirectoryUnavailable, match="did not answer"):
        directory.apply([Operation(OpKind.DISABLE_USER, "Student_1")])


def test_apply_refuses_more_operations_than_max_batch(directory: GraphDirectory) -> None:
    with pytest.raises(ValueError, match="at most"):
        directory.apply([Operation(OpKind.DISABLE_USER, "Student_1")] * (directory.max_batch + 1))


class ListedAfter(dict[tuple[str, str, str], str]):
    """Look-ups that find an object only from the ``listed_at``-th look on (Graph listing it late)."""

    listed_at = 3
    looks = 0

    def get(self, key: Any, default: Any = None) -> Any:
        self.looks += 1
        return super().get(key, default) if self.looks >= self.listed_at else default


def already_exists_on_post(prop: str) -> Callable[[Item], Answer | None]:
    message = f"Another object with the same value for property {prop} already exists."
    return lambda item: error(400, "Request_BadRequest", message) if item.method == "POST" else None


@pytest.mark.parametrize(
    ("operation", "key"),
    [
        (
            Operation(OpKind.CREATE_USER, "Student_99", {"userPrincipalName": "ana@x.edu"}),
            ("/users", "userPrincipalName", "ana@x.edu"),
        ),
        (
            Operation(OpKind.CREATE_CLASS, "Section_7", {"mailNickname": "Section_7"}, (), ("Teacher_T",)),
            ("/groups", "mailNickname", "Section_7"),
        ),
    ],
)
def test_a_create_that_landed_but_is_not_listed_yet_is_found_by_looking_again_not_failed(
    fake: FakeGraph, directory: GraphDirectory, operation: Operation, key: tuple[str, str, str]
) -> None:
    # The retry of a create whose answer was lost meets its own object: "already exists", but the
    # look-up by natural key lists it only from the third look (replication).
    fake.script = already_exists_on_post(key[1])
    fake.lookups = ListedAfter({key: "landed"})
    assert apply_one(directory, operation) == OperationResult(ok=True, directory_id="landed")
    assert fake.lookups.looks == 3
    assert [item.method for item in fake.writes].count("POST") == 1


def test_a_create_refused_as_already_existing_whose_object_is_never_found_fails_with_the_conflict(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    fake.script = already_exists_on_post("userPrincipalName")
    operation = Operation(OpKind.CREATE_USER, "Student_99", {"userPrincipalName": "ana@x.edu"})
    result = apply_one(directory, operation)
    assert not result.ok and result.code == "Request_BadRequest"
    assert "already exists" in (result.message or "")


def test_a_class_whose_group_was_made_but_never_finished_is_completed_not_duplicated(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    def script(item: Item) -> Answer | None:
        if (item.method, item.url) == ("POST", "/groups"):
            return error(
                400,
                "Request_BadRequest",
                "Another object with the same value for property mailNickname already exists.",
            )
        return None

    fake.script = script
    fake.lookups[("/groups", "mailNickname", "Section_7")] = "half"
    operation = Operation(
        OpKind.CREATE_CLASS,
        "Section_7",
        {"mailNickname": "Section_7"},
        ("Student_0", "Student_1"),
        ("Teacher_T",),
    )
    assert apply_one(directory, operation) == OperationResult(ok=True, directory_id="half")
    _, patch, members = fake.writes
    assert (patch.method, patch.url, patch.body["externalId"]) == ("PATCH", "/education/classes/half", "7")
    assert (members.url, len(members.body["members@odata.bind"])) == ("/groups/half", 2)


def test_a_class_create_never_takes_another_sections_class_that_holds_its_nickname(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    """Section_a's create meets "already exists" (Entra ignores case in mail nicknames) and the look-up
    finds Section_A's class: a failure, not that class taken for this one and its externalId written over."""
    fake.script = already_exists_on_post("mailNickname")
    fake.lookups[("/groups", "mailNickname", "Section_a")] = "classA"
    fake.objects["/education/classes/classA"] = {"id": "classA", "externalId": "A"}
    operation = Operation(OpKind.CREATE_CLASS, "Section_a", {"mailNickname": "Section_a"}, (), ("Teacher_T",))
    result = apply_one(directory, operation)
    assert not result.ok and result.code == "Request_BadRequest"
    assert [item.method for item in fake.writes] == ["POST"]  # no PATCH of classA, no members


@pytest.mark.parametrize(
    ("holder", "taken"),
    [
        ("12", False),  # Student_12's account, made after the plan was: never taken for Student_99
        ("99", True),  # Student_99's own create, whose answer was lost
    ],
)
def test_a_user_create_meeting_its_upn_taken_takes_the_account_only_when_it_is_its_own(
    fake: FakeGraph, directory: GraphDirectory, holder: str, taken: bool
) -> None:
    fake.script = already_exists_on_post("userPrincipalName")
    fake.lookups[("/users", "userPrincipalName", "ana@x.edu")] = "held"
    fake.objects["/education/users/held"] = {
        "id": "held",
        "primaryRole": "student",
        "student": {"externalId": holder},
    }
    result = apply_one(
        directory, Operation(OpKind.CREATE_USER, "Student_99", {"userPrincipalName": "ana@x.edu"})
    )
    if taken:
        assert result == OperationResult(ok=True, directory_id="held")
    else:
        assert not result.ok and result.code == "Request_BadRequest"
        assert not apply_one(directory, Operation(OpKind.DISABLE_USER, "Student_99")).ok  # no anchor learnt
    assert [item.method for item in fake.writes] == ["POST"]  # nothing written to the account found


def test_apply_calls_from_several_threads_share_the_directory_and_each_get_their_results(
    fake: FakeGraph, directory: GraphDirectory
) -> None:
    chunks = [[Operation(OpKind.DISABLE_USER, f"Student_{index}") for index in range(start, start + 10)]
              for start in (0, 10, 20)]  # fmt: skip
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(directory.apply, chunks))
    assert [[result.ok for result in chunk] for chunk in results] == [[True] * 10] * 3
    assert sorted(item.url for item in fake.writes) == sorted(f"/users/s{index}" for index in range(30))
