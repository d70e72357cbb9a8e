"""Streaming a plan to disk gives exactly ``Plan.dumps()`` and ``Plan.plan_id``."""

from __future__ import annotations

import io
from datetime import date

from sync.engine.plan_io import write_plan
from sync.engine.planner import make_plan
from tests.engine.fakes import MemoryDirectory, RosterBuilder, make_profile


def test_the_streamed_plan_is_byte_identical_to_dumps_and_has_the_same_id() -> None:
    builder = RosterBuilder().school("1", 'North "operations":[] High').teacher("T1", "1")
    for i in range(30):
        builder.student(f"S{i}", "1")
    builder.section("A", "1", ["T1"], [f"S{i}" for i in range(30)])
    plan = make_plan(
        builder.build(), make_profile(user_mode="existing"), MemoryDirectory().snapshot(), date(2026, 11, 22)
    )
    assert plan.operations and plan.findings
    out = io.StringIO()
    assert write_plan(plan, out) == plan.plan_id
    assert out.getvalue() == plan.dumps()


def test_an_empty_plan_streams_the_same_as_well() -> None:
    plan = make_plan(
        RosterBuilder().build(), make_profile(), MemoryDirectory().snapshot(), date(2026, 11, 22)
    )
    out = io.StringIO()
    assert write_plan(plan, out) == plan.plan_id
    assert out.getvalue() == plan.dumps()
