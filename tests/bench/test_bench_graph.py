"""The Graph benchmark's floor: the fewest writes Graph's rules allow for each operation and each plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_graph
from sync.directory.model import Operation, OpKind


def test_the_minimum_counts_a_class_as_two_writes_plus_its_members_beyond_twenty() -> None:
    students = tuple(f"Student_{index}" for index in range(30))
    create = Operation(OpKind.CREATE_CLASS, "Section_1", refs=students[:19], owners=("Teacher_1",))
    assert bench_graph.minimum_writes(create) == 2
    bigger = Operation(OpKind.CREATE_CLASS, "Section_2", refs=students, owners=("Teacher_1",))
    assert bench_graph.minimum_writes(bigger) == 2 + 1
    assert bench_graph.minimum_writes(Operation(OpKind.ADD_CLASS_MEMBERS, "Section_1", refs=students)) == 2
    links = Operation(OpKind.ADD_SCHOOL_USERS, "School_1", refs=students)
    assert bench_graph.minimum_writes(links) == 30


@pytest.mark.parametrize("leavers", ["keep", "delete"])
def test_plan_only_prints_each_runs_floor_and_deleting_leavers_spends_no_removals_on_them(
    leavers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_graph, "DATA", tmp_path)
    bench_graph.main(["--size", "smoke", "--plan-only", "--leavers", leavers])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first, nightly = report["runs"].values()
    for run in (first, nightly):
        assert run["writes_minimum"] == sum(run["minimum_writes_by_kind"].values()) > 0
    assert first["minimum_writes_by_kind"]["create_user"] == 640  # 600 students and 40 teachers
    assert first["writes_minimum"] > nightly["writes_minimum"]
    removed_from_schools = nightly["minimum_writes_by_kind"].get("remove_school_users", 0)
    assert (removed_from_schools > 0) is (leavers == "keep")
    assert ("delete_user" in nightly["minimum_writes_by_kind"]) is (leavers == "delete")
