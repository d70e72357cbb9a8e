"""Validation swaps Arrow's memory pool only while it runs."""

from __future__ import annotations

import os
import subprocess
import sys
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


def _allocator_conf(code: str, env: dict[str, str]) -> str:
    """``JE_ARROW_MALLOC_CONF`` as seen by a fresh interpreter after ``code`` ran."""
    clean = {k: v for k, v in os.environ.items() if k != "JE_ARROW_MALLOC_CONF"} | env
    out = subprocess.run(
        [sys.executable, "-c", f"{code}; import os; print(os.environ.get('JE_ARROW_MALLOC_CONF', '-'))"],
        capture_output=True,
        text=True,
        check=True,
        env=clean,
        cwd=Path(__file__).resolve().parents[2],
    )
    return out.stdout.strip()


def test_importing_sync_first_gives_jemalloc_an_arena_per_cpu() -> None:
    expected = "percpu_arena:percpu" if sys.platform == "linux" else "-"
    assert _allocator_conf("import sync", {}) == expected


def test_an_operators_allocator_setting_is_kept() -> None:
    assert _allocator_conf("import sync", {"JE_ARROW_MALLOC_CONF": "narenas:1"}) == "narenas:1"


def test_nothing_is_set_once_pyarrow_is_loaded_it_would_have_no_effect() -> None:
    assert _allocator_conf("import pyarrow, sync", {}) == "-"
