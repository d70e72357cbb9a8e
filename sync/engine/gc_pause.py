"""Pausing Python's cyclic garbage collector around work that builds millions of acyclic objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Planning, or reading a large plan back, allocates millions of acyclic objects (operations, their
    fields, JSON documents); the cyclic collector would rescan them all again and again (a third of the
    planning time on a large district, two thirds of reading a plan) and finds nothing to free. Reference
    counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
