"""Look-ups of ids written as plain decimal numbers (``1000867``), done on the numbers.

Hashing millions of short strings is the costliest part of checking enrollments. When every id on both sides
is a canonical decimal number — ASCII digits only, no leading zero, 1 to 18 digits — two ids are equal
exactly when their numbers are, so the look-up can use the numbers: a direct table when they are dense,
Arrow's look-up of integers otherwise. Any other column (a blank, a letter, ``007``) is left to the caller,
which looks the strings up as before; either way the positions are the same.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sync.roster.values import NINE, ZERO, value_bytes

_MAX_DIGITS = 18
#: A direct table is used when the targets' numbers span at most this many slots per target (or 1 Mi).
_SLOTS_PER_TARGET = 8
_MIN_SLOTS = 1 << 20
_ABSENT = np.iinfo(np.int32).max

Array: TypeAlias = "pa.ChunkedArray | pa.Array"


def numeric_positions(values: Array, targets: Array) -> npt.NDArray[np.int32] | None:
    """Position of the first of ``targets`` equal to each value (``-1`` when none), or ``None`` when the ids
    of either side are not all canonical decimal numbers."""
    wanted = _numbers(values)
    if wanted is None:
        return None
    known = _numbers(targets)
    if known is None:
        return None
    if not len(known):
        return np.full(len(wanted), -1, dtype=np.int32)
    low, high = int(known.min()), int(known.max())
    span = high - low + 1
    if span > max(_SLOTS_PER_TARGET * len(known), _MIN_SLOTS):
        found = pc.index_in(pa.array(wanted), value_set=pa.array(known))
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
    table = np.full(span, _ABSENT, dtype=np.int32)
    np.minimum.at(table, known - low, np.arange(len(known), dtype=np.int32))  # the first of repeated ids
    table[table == _ABSENT] = -1
    slot = wanted - low
    outside = (slot < 0) | (slot >= span)
    positions: npt.NDArray[np.int32] = np.take(table, slot, mode="clip")
    if outside.any():
        positions[outside] = -1
    return positions


def _numbers(array: Array) -> npt.NDArray[np.int64] | None:
    """The numbers of ``array`` when every value is a canonical decimal number, else ``None``."""
    if not pa.types.is_string(array.type) or array.null_count:
        return None
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    if not all(_canonical(chunk) for chunk in chunks):
        return None
    if not len(array):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(pc.cast(array, pa.int64()).to_numpy(), dtype=np.int64)


def _canonical(chunk: pa.Array) -> bool:
    """Whether every value of a string chunk without nulls is 1–18 ASCII digits without a leading zero."""
    if not len(chunk):
        return True
    digits, starts, ends = value_bytes(chunk)
    lengths = ends - starts
    if int(lengths.min()) < 1 or int(lengths.max()) > _MAX_DIGITS:
        return False
    if int(digits.min()) < ZERO or int(digits.max()) > NINE:
        return False
    return not bool(np.any((digits[starts] == ZERO) & (lengths > 1)))
