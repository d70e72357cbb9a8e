"""Which objects count as just created, for replication-delay faults."""

from __future__ import annotations

from sync.graphserver.calls import Call
from sync.graphserver.pipeline import FreshObjects, referenced_ids

A = "0f8fad5b-d9cb-469f-a165-70867728950e"
B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_object_is_fresh_only_within_the_window() -> None:
    clock = Clock()
    fresh = FreshObjects(2.0, clock=clock)
    fresh.created(A)
    assert fresh.any_fresh([A.upper()])
    clock.now = 2.5
    assert not fresh.any_fresh([A])


def test_old_entries_are_dropped_as_new_ones_come() -> None:
    clock = Clock()
    fresh = FreshObjects(1.0, clock=clock)
    fresh.created(A)
    clock.now = 5.0
    fresh.created(B)
    assert len(fresh) == 1
    assert fresh.any_fresh([B])


def test_ids_are_found_in_the_path_and_in_references_of_the_body() -> None:
    call = Call.from_url(
        "PATCH",
        f"/groups/{A}",
        body={"members@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{B}"], "displayName": A},
    )
    assert referenced_ids(call) == [A, B]
