"""Column-by-column work spread over the cores.

Most per-column work of validation (cleaning, comparing neighbours, filtering, normalising) is Arrow
compute, which releases the GIL. When one file's checks are the last still running, running its columns on
two threads keeps both cores busy; when other files' checks are running too, it costs next to nothing.
Small tables are done in place: threads would cost more than they save.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Rows below which columns are done one after the other on the calling thread.
MIN_ROWS = 200_000
_WORKERS = 2
#: Shared by every validation in the process; its tasks never wait on each other, so it cannot deadlock.
_POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="roster-columns")


def map_columns(work: Callable[[T], R], items: Iterable[T], *, rows: int) -> list[R]:
    """``[work(item) for item in items]``, on two threads when ``rows`` is large."""
    if rows < MIN_ROWS:
        return [work(item) for item in items]
    return list(_POOL.map(work, items))
