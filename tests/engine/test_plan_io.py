"""Streaming a plan to disk gives exactly ``Plan.dumps()`` and ``Plan.plan_id``."""

from __future__ import annotations

import gc
import hashlib
import io
import json
from datetime import date

import pytest

from sync.engine.plan import Plan
from sync.engine.plan_io import encoded_plan, plan_chunks, plan_id_of, write_plan
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


def _plan() -> Plan:
    builder = RosterBuilder().school("1", "North High").teacher("T1", "1")
    for i in range(30):
        builder.student(f"S{i}", "1")
    builder.section("A", "1", ["T1"], [f"S{i}" for i in range(30)])
    return make_plan(
        builder.build(), make_profile(user_mode="existing"), MemoryDirectory().snapshot(), date(2026, 11, 22)
    )


def test_a_plan_read_back_is_the_plan_and_streams_in_chunks_to_the_same_bytes_and_id() -> None:
    plan = _plan()
    digest = hashlib.sha256()
    chunks = list(encoded_plan(plan, digest))

    assert b"".join(chunks) == plan.dumps().encode("utf-8")
    assert plan_id_of(digest) == plan.plan_id
    assert "".join(plan_chunks(plan)) == plan.dumps()
    assert Plan.loads(b"".join(chunks)) == plan
    assert Plan.loads(plan.dumps()) == plan


def test_reading_a_plan_leaves_the_collector_as_it_found_it() -> None:
    text = _plan().dumps()
    try:
        gc.enable()
        Plan.loads(text)
        assert gc.isenabled()
        gc.disable()
        Plan.loads(text)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_operation_of_an_unknown_kind_is_refused() -> None:
    document = json.loads(_plan().dumps())
    document["operations"][0]["kind"] = "launch_rocket"

    with pytest.raises(ValueError, match="launch_rocket"):
        Plan.loads(json.dumps(document))
