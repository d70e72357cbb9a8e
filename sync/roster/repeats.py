"""Rows that repeat an id (``clever-csv.md`` §2 *Repeated ids*), found without hashing whole rows.

Rows that share an id are brought next to each other (they usually are already: an export writes a
student's contact rows together), so that every rule is a comparison of a row with the rows just before it:

- a row that differs from the previous row of its id in a column where rows may not differ → record error
  ``conflicting_duplicate`` on every row of that id (the record is dropped);
- a row equal to an earlier row of its id → warning ``duplicate_row`` (kept once).

Comparisons are vectorised; Python runs only over the ids that have a finding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sync.findings import Finding, Severity
from sync.roster.checks import positions, row_findings
from sync.roster.columns import FileSpec
from sync.roster.columnwise import map_columns

Mask = npt.NDArray[np.bool_]
#: Rows of one id compared pairwise; an id with more rows than this is checked by hashing instead.
_LOOKBACK = 8


@dataclass(frozen=True)
class Repeats:
    #: The table without the dropped rows (conflicts, and the copies of duplicate rows).
    table: pa.Table
    findings: list[Finding]
    #: Aligned with ``table``: True for a row whose id an earlier row already has (a second contact, a second
    #: school of a teacher). The rows where it is False are one per id.
    later: Mask


def find_repeats(table: pa.Table, spec: FileSpec, file: str) -> Repeats:
    """Check the rows of ``table`` (blank ids already dropped) that repeat an id of ``spec``."""
    rows = table.num_rows
    ids = table[spec.id_column]
    if rows < 2:
        return Repeats(table, [], np.zeros(rows, dtype=bool))
    same_id = np.zeros(rows, dtype=bool)
    same_id[1:] = _equal_shifted(ids, 1)
    grouped = rows - int(np.count_nonzero(same_id))
    # Ids in order (as exports usually are) need no hashing: their repeats are next to each other.
    # Otherwise each row's id is looked up among the ids, which gives the position of its id's first row.
    first = None if _ascending(ids) else positions(ids, ids).astype(np.int64)
    distinct = grouped if first is None else int(np.count_nonzero(first == np.arange(rows)))
    if distinct == rows:
        return Repeats(table, [], np.zeros(rows, dtype=bool))
    order: npt.NDArray[np.int64] | None = None
    work = table
    if grouped == distinct:
        # The rows of each id are together already: compare only the rows of ids that repeat.
        repeated_rows = same_id.copy()
        repeated_rows[:-1] |= same_id[1:]
        if np.count_nonzero(repeated_rows) < rows // 2:
            order = np.flatnonzero(repeated_rows)
            work = table.take(pa.array(order))
    else:
        assert first is not None  # ascending ids are grouped
        # The rows of ids that repeat, grouped by id (a stable sort of their first rows keeps file order
        # within an id), taken in one go.
        subset = np.flatnonzero(np.bincount(first, minlength=rows)[first] > 1)
        order = subset[np.argsort(first[subset], kind="stable")]
        work = table.take(pa.array(order))
    found = _compare_neighbours(work, spec, file)
    drop, later = found.drop, found.later
    if order is not None:
        drop, later = np.zeros(rows, dtype=bool), np.zeros(rows, dtype=bool)
        drop[order] = found.drop
        later[order] = found.later
    if drop.any():
        keep = ~drop
        return Repeats(table.filter(pa.array(keep)), found.findings, later[keep])
    return Repeats(table, found.findings, later)


@dataclass(frozen=True)
class _Found:
    drop: Mask
    later: Mask
    findings: list[Finding]


def _compare_neighbours(work: pa.Table, spec: FileSpec, file: str) -> _Found:
    """``work`` holds the rows of each id next to each other, in file order."""
    id_column = spec.id_column
    rows = work.num_rows
    same_id = np.zeros(rows, dtype=bool)
    same_id[1:] = _equal_shifted(work[id_column], 1)
    run = np.cumsum(~same_id) - 1
    run_start = np.flatnonzero(~same_id)
    place = np.arange(rows) - run_start[run]
    strict = [name for name in spec.names if name != id_column and name not in spec.may_differ]
    findings: list[Finding] = []

    conflict_run = np.zeros(len(run_start), dtype=bool)
    columns_of: dict[int, list[str]] = {}
    same_as_previous = map_columns(lambda name: _same_shifted(work[name], 1), strict, rows=rows)
    # One test of all columns at once; which columns differ is asked only when some do.
    if same_as_previous and (same_id[1:] & ~_mask(_all(same_as_previous))).any():
        for name, same in zip(strict, same_as_previous, strict=True):
            differs = same_id.copy()
            differs[1:] &= ~_mask(same)
            if differs.any():
                for index in np.unique(run[differs]).tolist():
                    columns_of.setdefault(index, []).append(name)
                    conflict_run[index] = True
    del same_as_previous
    conflict = conflict_run[run]
    if conflict.any():
        bad = work.filter(pa.array(conflict)).append_column("_run", pa.array(run[conflict]))
        findings += row_findings(
            bad,
            file=file,
            id_column=id_column,
            column=None,
            severity=Severity.RECORD_ERROR,
            code="conflicting_duplicate",
            message=lambda row: (
                f"rows with the same {id_column} differ in {', '.join(columns_of[row['_run']])}; "
                "the record is dropped: make its rows agree or give each record its own id"
            ),
        )

    copy = np.zeros(rows, dtype=bool)
    for distance in range(1, min(int(place.max()), _LOOKBACK) + 1):
        later = np.flatnonzero(place >= distance)
        if len(later) * 4 < rows:
            # Few rows this far into their id (a third contact…): compare just those with their partner.
            chosen, partners = _rows_mask(later, rows), _rows_mask(later - distance, rows)
            same = map_columns(
                functools.partial(_same_rows, work, chosen, partners), spec.may_differ, rows=rows
            )
            if same:
                copy[later[_mask(_all(same))]] = True
            else:
                copy[later] = True
            continue
        equal = (place >= distance)[distance:]
        shifted = map_columns(functools.partial(_same_column, work, distance), spec.may_differ, rows=rows)
        if shifted:
            equal &= _mask(_all(shifted))
        copy[distance:] |= equal
    long_run = (np.bincount(run) > _LOOKBACK + 1)[run]
    if long_run.any():
        copy[long_run] = _copies_by_hash(work.filter(pa.array(long_run)), [id_column, *spec.may_differ])
    copy &= ~conflict
    if copy.any():
        findings += row_findings(
            work.filter(pa.array(copy)),
            file=file,
            id_column=id_column,
            column=None,
            severity=Severity.WARNING,
            code="duplicate_row",
            message=lambda _row: (
                f"this row repeats an earlier row with the same {id_column}; "
                "it is counted once — remove the copy"
            ),
        )
    drop = conflict | copy
    return _Found(drop=drop, later=same_id & ~drop, findings=findings)


def _copies_by_hash(rows: pa.Table, keys: list[str]) -> Mask:
    """For an id with very many rows: a row is a copy when an earlier row has the same ``keys``."""
    positions = pa.array(np.arange(rows.num_rows, dtype=np.int64))
    indexed = rows.select(keys).append_column("_position", positions)
    firsts = indexed.group_by(keys, use_threads=False).aggregate([("_position", "min")])["_position_min"]
    return ~_mask(pc.is_in(positions, value_set=firsts))


def _same_column(table: pa.Table, distance: int, name: str) -> pa.ChunkedArray:
    return _same_shifted(table[name], distance)


def _all(masks: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    """Element-wise AND of boolean arrays without nulls (bitmaps: far cheaper than NumPy masks)."""
    return functools.reduce(pc.and_, masks)


def _ascending(values: pa.ChunkedArray) -> bool:
    """Whether ``values`` (no nulls) never decrease."""
    return bool(pc.all(pc.less_equal(values[:-1], values[1:])).as_py())


def _same_rows(table: pa.Table, chosen: pa.Array, partners: pa.Array, name: str) -> pa.ChunkedArray:
    return _same(table[name].filter(chosen), table[name].filter(partners))


def _rows_mask(rows: npt.NDArray[np.int64], size: int) -> pa.Array:
    """A filter that keeps ``rows`` (ascending): filtering two columns with the masks of two ascending row
    lists pairs their values in order, without the copy of the whole column that a ``take`` on a chunked
    column makes."""
    mask = np.zeros(size, dtype=bool)
    mask[rows] = True
    return pa.array(mask)


def _equal_shifted(values: pa.ChunkedArray, distance: int) -> Mask:
    """``values[i] == values[i - distance]`` for ``i >= distance`` (two nulls are equal)."""
    return _mask(_same_shifted(values, distance))


def _same_shifted(values: pa.ChunkedArray, distance: int) -> pa.ChunkedArray:
    """:func:`_equal_shifted` as an Arrow boolean array without nulls."""
    return _same(values[distance:], values[: len(values) - distance])


def _same(later: pa.ChunkedArray, earlier: pa.ChunkedArray) -> pa.ChunkedArray:
    """``later == earlier`` element-wise, two nulls equal, as an Arrow boolean array without nulls."""
    equal = pc.fill_null(pc.equal(later, earlier), False)
    if later.null_count or earlier.null_count:
        equal = pc.or_(equal, pc.and_(pc.is_null(later), pc.is_null(earlier)))
    return equal


def _mask(values: pa.ChunkedArray | pa.Array) -> Mask:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)
