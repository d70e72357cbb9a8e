"""Which ids the Graph adapter still treats as fresh (possibly not replicated yet)."""

from __future__ import annotations

from sync.directory.graph_anchors import AnchorIndex


def test_an_object_the_adapter_wrote_is_fresh_within_the_window_and_not_after() -> None:
    now = [100.0]
    index = AnchorIndex(fresh_window_s=10.0, clock=lambda: now[0])
    index.learn("Section_5", "C5-ID")
    assert index.names_fresh_object("/groups/c5-id/members/u1/$ref")
    now[0] = 109.0
    assert index.names_fresh_object("/groups/C5-ID")
    now[0] = 110.0
    assert not index.names_fresh_object("/groups/C5-ID")
    assert index.get("Section_5") == "C5-ID"  # the anchor outlives its freshness


def test_objects_known_only_from_a_snapshot_are_never_fresh() -> None:
    index = AnchorIndex(fresh_window_s=10.0, clock=lambda: 0.0)
    index.replace({"Section_9": "c9"})
    assert not index.names_fresh_object("/groups/c9/members/s2/$ref")


def test_writing_an_object_again_restarts_its_window() -> None:
    now = [0.0]
    index = AnchorIndex(fresh_window_s=10.0, clock=lambda: now[0])
    index.learn("Student_1", "u1")
    index.learn("Student_2", "u2")
    now[0] = 8.0
    index.learn("Student_1", "u1")
    now[0] = 12.0
    assert index.names_fresh_object("/users/u1") and not index.names_fresh_object("/users/u2")
