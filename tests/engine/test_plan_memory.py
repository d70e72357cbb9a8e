"""The plan step's memory estimate: at or a little above every measured peak, growing with every count."""

from __future__ import annotations

from dataclasses import fields, replace

import pyarrow as pa
import pytest

from sync.directory.model import (
    MEMBERSHIP_SCHEMA,
    DirectoryClass,
    DirectoryGroup,
    DirectorySchool,
    DirectorySnapshot,
    DirectoryUser,
)
from sync.engine.plan_memory import (
    GB,
    PLAN_BASE_BYTES,
    PlanInputSize,
    estimated_apply_bytes,
    estimated_plan_bytes,
    plan_input_size,
)
from tests.engine.fakes import RosterBuilder

#: The generated districts of docs/deployment.md "Sizing" (bench/bench_plan.py): roster sizes and the
#: directory the first sync leaves (users, schools + classes + groups, memberships).
M = PlanInputSize(50_000, 3_000, 16_000, 400_000)
L = PlanInputSize(250_000, 15_000, 75_000, 2_000_000)
XL = PlanInputSize(1_000_000, 60_000, 300_000, 8_000_000)
SYNCED = {
    "M": replace(M, directory_users=53_000, directory_groups=16_182, directory_memberships=612_122),
    "L": replace(L, directory_users=265_000, directory_groups=75_752, directory_memberships=3_043_932),
    "XL": replace(XL, directory_users=1_060_000, directory_groups=303_002, directory_memberships=12_174_670),
}
#: Peak of the whole process during the plan step, in GB (2**30 bytes), as the table gives them.
MEASURED = [
    ("M first plan", M, 0.55),
    ("L first plan", L, 1.44),
    ("XL first plan", XL, 4.98),
    ("M nightly plan", SYNCED["M"], 0.61),
    ("L nightly plan", SYNCED["L"], 2.06),
    ("XL nightly plan", SYNCED["XL"], 6.94),
]
#: How far above a measured peak the guard may estimate.
MARGIN = 0.15


@pytest.mark.parametrize(
    ("size", "peak_gb"), [(s, p) for _, s, p in MEASURED], ids=[name for name, _, _ in MEASURED]
)
def test_the_estimate_is_at_or_at_most_fifteen_per_cent_above_each_measured_peak(
    size: PlanInputSize, peak_gb: float
) -> None:
    estimate = estimated_plan_bytes(size) / GB

    assert peak_gb <= estimate <= peak_gb * (1 + MARGIN)


def test_a_nightly_plan_against_a_filled_directory_is_estimated_above_the_first_one() -> None:
    for district, first in (("M", M), ("L", L), ("XL", XL)):
        assert estimated_plan_bytes(SYNCED[district]) > estimated_plan_bytes(first)


@pytest.mark.parametrize("count", [f.name for f in fields(PlanInputSize)])
def test_the_estimate_grows_with_every_count(count: str) -> None:
    smaller = SYNCED["M"]
    larger = replace(smaller, **{count: getattr(smaller, count) + 1_000})

    assert estimated_plan_bytes(larger) > estimated_plan_bytes(smaller)


def test_an_empty_roster_and_directory_need_the_base_only() -> None:
    assert estimated_plan_bytes(PlanInputSize(0, 0, 0, 0)) == PLAN_BASE_BYTES


def test_the_sizes_are_counted_from_the_roster_and_the_snapshot_tables() -> None:
    roster = (
        RosterBuilder()
        .school("1")
        .student("s1", "1")
        .student("s2", "1")
        .teacher("t1", "1")
        .section("c1", "1", ["t1"], ["s1", "s2"])
        .section("c2", "1", ["t1"], ["s1"])
        .build()
    )
    snapshot = DirectorySnapshot(
        users=[DirectoryUser(f"u{n}", f"u{n}@example.edu") for n in range(4)],
        schools=[DirectorySchool("k1", "School_1", "School 1")],
        classes=[DirectoryClass("c1", "Section_c1", "Class c1", "Section_c1")],
        groups=[DirectoryGroup("g1", "Group_all", "All Students", "all")],
        memberships=pa.table(
            {"container_id": ["c1", "c1"], "member_id": ["u1", "u2"], "relation": ["member", "member"]},
            schema=MEMBERSHIP_SCHEMA,
        ),
    )

    size = plan_input_size(roster, snapshot)

    assert size == PlanInputSize(2, 1, 2, 3, directory_users=4, directory_groups=3, directory_memberships=2)
    assert (size.roster_rows, size.directory_objects) == (8, 9)


#: Reading a first plan back, as every apply worker does: (bytes of JSON, peak above the process's start),
#: measured on districts M and XL.
APPLY_MEASURED = [("M", 57_000_000, 328_000_000), ("XL", 1_135_000_000, 7_129_000_000)]


@pytest.mark.parametrize(("json_bytes", "above_start"), [m[1:] for m in APPLY_MEASURED], ids=["M", "XL"])
def test_the_apply_estimate_is_at_or_a_little_above_each_measured_read_of_a_plan(
    json_bytes: int, above_start: int
) -> None:
    measured = PLAN_BASE_BYTES + above_start  # the process before it reads the plan, as for planning

    assert measured <= estimated_apply_bytes(json_bytes) <= measured * (1 + MARGIN)


def test_the_apply_estimate_grows_with_the_plan() -> None:
    assert estimated_apply_bytes(0) == PLAN_BASE_BYTES
    assert estimated_apply_bytes(2_000_000) > estimated_apply_bytes(1_000_000)
