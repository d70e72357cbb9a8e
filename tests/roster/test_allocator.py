"""Validation swaps Arrow's memory pool only while it runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from sync.roster.allocator import validation_pool
from sync.roster.validate import validate_folder
from tests.roster.csvset import write_set


def _jemalloc_or(default: str) -> str:
    """The pool expected inside the block: jemalloc when this pyarrow has it, else the default."""
    try:
        return pa.jemalloc_memory_pool().backend_name
    except NotImplementedError:
        return default


def test_jemalloc_is_the_default_pool_inside_the_block_and_the_old_one_after() -> None:
    before = pa.default_memory_pool().backend_name
    inside = _jemalloc_or(before)
    with validation_pool():
        assert pa.default_memory_pool().backend_name == inside
        with validation_pool():
            assert pa.default_memory_pool().backend_name == inside
        assert pa.default_memory_pool().backend_name == inside
    assert pa.default_memory_pool().backend_name == before


def test_a_validated_roster_outlives_the_pool_swap(tmp_path: Path) -> None:
    before = pa.default_memory_pool().backend_name
    result = validate_folder(write_set(tmp_path))
    assert pa.default_memory_pool().backend_name == before
    assert result.roster is not None
    assert result.roster.students.column("Student_id").to_pylist() == ["100", "101"]
