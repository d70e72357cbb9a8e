"""The Arrow memory pool used while a set is read and validated.

Validation allocates and frees many large buffers from several threads. Arrow's default pool (mimalloc in
the wheels) hands freed memory back to the system and faults it in again, which on district XL cost about
as much CPU as all the checks; jemalloc keeps it for reuse and holds peak memory where it was. The pool is
swapped only for the duration of the work and restored afterwards; buffers remember the pool they came
from, so those that outlive the work are freed correctly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

_LOCK = threading.Lock()
_DEPTH = 0
_PREVIOUS: pa.MemoryPool | None = None


def _preferred() -> pa.MemoryPool | None:
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
        return None


@contextmanager
def validation_pool() -> Iterator[None]:
    """Use the preferred pool as Arrow's default inside the block (nested and concurrent uses are fine)."""
    global _DEPTH, _PREVIOUS
    pool = _preferred()
    if pool is None:
        yield
        return
    with _LOCK:
        if _DEPTH == 0:
            _PREVIOUS = pa.default_memory_pool()
            pa.set_memory_pool(pool)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _PREVIOUS is not None:
                pa.set_memory_pool(_PREVIOUS)
                _PREVIOUS = None
