"""Checks shared by every file of a set, vectorised over Arrow tables (``clever-csv.md`` §2–§3).

Tables here hold the canonical columns of a file, cleaned (trimmed, blanks as nulls), plus ``_line`` (the
row's first line) and ``_row`` (its position in the file). Each check returns the table without the rows it
drops and the findings it made; Python touches only the rows that have a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sync.findings import Finding, Severity
from sync.roster.columns import FileSpec, Header
from sync.roster.columnwise import map_columns
from sync.roster.model import RawFile
from sync.roster.numeric_ids import numeric_positions
from sync.roster.values import ACCEPTED, CODES, NORMALISERS, clean

LINE = "_line"
ROW = "_row"

#: Builds a finding's message from the row it is about (a dict of the row's columns).
Message = Callable[[dict[str, Any]], str]


def prepare(raw: RawFile, spec: FileSpec, header: Header, *, row_numbers: bool = True) -> pa.Table:
    """The canonical table of a raw file: every column of ``spec`` (null where the file lacks it), cleaned,
    with ``_line`` and (unless ``row_numbers`` is false) ``_row``."""
    rows = raw.table.num_rows

    def cleaned(name: str) -> pa.ChunkedArray:
        position = header.positions.get(name)
        if position is None:
            return pa.chunked_array([pa.nulls(rows, pa.string())], type=pa.string())
        return clean(raw.table.column(position))

    columns = dict(zip(spec.names, map_columns(cleaned, spec.names, rows=rows), strict=True))
    if raw.lines is None:
        lines = pa.array(np.arange(2, rows + 2, dtype=np.int64))
    else:
        lines = pc.cast(raw.lines, pa.int64())
    columns[LINE] = pa.chunked_array([lines], type=pa.int64())
    if row_numbers:
        columns[ROW] = pa.chunked_array([pa.array(np.arange(rows, dtype=np.int64))], type=pa.int64())
    return pa.table(columns)


def row_findings(
    rows: pa.Table,
    *,
    file: str,
    id_column: str | None,
    column: str | None,
    severity: Severity,
    code: str,
    message: Message,
) -> list[Finding]:
    """One finding per row of ``rows`` (a few rows: those with a problem)."""
    findings = []
    for row in rows.to_pylist():
        line = row.get(LINE)
        record_id = row.get(id_column) if id_column else None
        findings.append(Finding(file, line, column, record_id, severity, code, message(row)))
    return findings


def _fixed(text: str) -> Message:
    """A message that does not depend on the row."""
    return lambda _row: text


def has_any(mask: pa.ChunkedArray | pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def drop_rows(table: pa.Table, rows: Iterable[int] | pa.Array) -> pa.Table:
    """``table`` without the rows whose ``_row`` is in ``rows``."""
    values = rows if isinstance(rows, pa.Array | pa.ChunkedArray) else pa.array(list(rows), pa.int64())
    if len(values) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table[ROW], value_set=values)))


def required_values(
    table: pa.Table, spec: FileSpec, file: str, columns: Sequence[str], *, id_column: str | None = None
) -> tuple[pa.Table, list[Finding]]:
    """Record error ``missing_value`` for a blank value in any of ``columns``; the row is dropped."""
    findings: list[Finding] = []
    bad: pa.ChunkedArray | None = None
    record_id = id_column if id_column is not None else spec.id_column
    for name in columns:
        nulls = pc.is_null(table[name])
        if not has_any(nulls):
            continue
        findings += row_findings(
            table.filter(nulls),
            file=file,
            id_column=None if name == record_id else record_id,
            column=name,
            severity=Severity.RECORD_ERROR,
            code="missing_value",
            message=_fixed(f"{name} is blank; fill it in (the record is dropped)"),
        )
        bad = nulls if bad is None else pc.or_(bad, nulls)
    if bad is None:
        return table, findings
    return table.filter(pc.invert(bad)), findings


def value_kinds(
    table: pa.Table, spec: FileSpec, file: str, *, strict_columns: Sequence[str] = ()
) -> tuple[pa.Table, list[Finding]]:
    """Normalise every typed column (§3). A bad value is a warning and is dropped; in ``strict_columns``
    (the identity-matching source) it is a record error and the record is dropped."""
    findings: list[Finding] = []
    drop: list[pa.Array] = []
    typed = [
        column
        for column in spec.columns
        if column.kind in NORMALISERS and table[column.name].null_count != table.num_rows
    ]
    results = map_columns(
        lambda column: NORMALISERS[column.kind](table[column.name]), typed, rows=table.num_rows
    )
    for column, (normalised, invalid) in zip(typed, results, strict=True):
        if has_any(invalid):
            strict = column.name in strict_columns
            accepted = ACCEPTED[column.kind]
            bad = table.filter(invalid)
            findings += row_findings(
                bad,
                file=file,
                id_column=spec.id_column,
                column=column.name,
                severity=Severity.RECORD_ERROR if strict else Severity.WARNING,
                code=CODES[column.kind],
                message=_fixed(
                    f"{column.name} is not {accepted}; "
                    + (
                        "it is the identity-matching column, so the record is dropped"
                        if strict
                        else "the value is dropped"
                    )
                ),
            )
            if strict:
                drop.append(bad[ROW].combine_chunks())
        table = table.set_column(table.schema.get_field_index(column.name), column.name, normalised)
    for rows in drop:
        table = drop_rows(table, rows)
    return table, findings


def references(
    table: pa.Table,
    *,
    column: str,
    targets: pa.ChunkedArray,
    seen: pa.ChunkedArray,
    file: str,
    target_file: str,
    id_column: str | None,
    severity: Severity = Severity.RECORD_ERROR,
    consequence: str = "the record is dropped",
) -> tuple[pa.Table, list[Finding]]:
    """``unknown_reference`` for a non-blank ``column`` value not in ``targets`` (the valid ids of
    ``target_file``); ``seen`` holds every id of that file, to tell a missing id from a dropped one."""
    values = table[column]
    bad_mask = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=targets)))
    if not has_any(bad_mask):
        return table, []
    findings = unknown_references(
        table.filter(bad_mask),
        column=column,
        seen=seen,
        file=file,
        target_file=target_file,
        id_column=id_column,
        severity=severity,
        consequence=consequence,
    )
    return table.filter(pc.invert(bad_mask)), findings


def unknown_references(
    bad: pa.Table,
    *,
    column: str,
    seen: pa.ChunkedArray,
    file: str,
    target_file: str,
    id_column: str | None,
    severity: Severity = Severity.RECORD_ERROR,
    consequence: str = "the record is dropped",
) -> list[Finding]:
    """The ``unknown_reference`` findings of rows ``bad`` whose ``column`` is not a valid id."""
    dropped = set(bad[column].filter(pc.is_in(bad[column], value_set=seen)).to_pylist())
    zeros_lost = _zeros_lost(bad[column], seen)
    other_case = _in_other_case(bad[column], seen)

    def message(row: dict[str, Any]) -> str:
        if row[column] in dropped:
            return (
                f"{column} refers to a record of {target_file} that was dropped because of its own errors; "
                f"fix that record ({consequence})"
            )
        if row[column] in zeros_lost:
            return (
                f"{column} is not in {target_file}, but an id there is the same with leading zeros (007 for "
                f"7): a spreadsheet may have dropped them; keep ids as text ({consequence})"
            )
        if row[column] in other_case:
            return (
                f"{column} is not in {target_file}, but an id there differs from it only in upper and lower "
                f"case (ids are matched exactly); write it as {target_file} does ({consequence})"
            )
        return f"{column} is not in {target_file}; add it there or correct the id ({consequence})"

    return row_findings(
        bad,
        file=file,
        id_column=id_column,
        column=column,
        severity=severity,
        code="unknown_reference",
        message=message,
    )


def _zeros_lost(values: pa.ChunkedArray, ids: pa.ChunkedArray) -> set[str]:
    """The ``values`` (not in ``ids``) that are an id of ``ids`` without its leading zeros."""
    padded = ids.filter(pc.not_equal(_without_leading_zeros(ids), ids))
    return _equal_once_normalised(values, padded, _without_leading_zeros)


def _in_other_case(values: pa.ChunkedArray, ids: pa.ChunkedArray) -> set[str]:
    """The ``values`` (not in ``ids``) that are an id of ``ids`` written in other upper and lower case."""
    return _equal_once_normalised(values, ids, pc.utf8_lower)


def _without_leading_zeros(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.utf8_ltrim(values, characters="0")


def _equal_once_normalised(
    values: pa.ChunkedArray, ids: pa.ChunkedArray, normalise: Callable[[pa.ChunkedArray], pa.ChunkedArray]
) -> set[str]:
    """The ``values`` equal to one of ``ids`` once both are normalised."""
    if not len(ids):
        return set()
    near = values.filter(pc.is_in(normalise(values), value_set=normalise(ids)))
    return {value for value in near.to_pylist() if value is not None}


def positions(values: pa.ChunkedArray, targets: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int32]:
    """Position of each value in ``targets`` (``-1`` when absent or null), as a NumPy array.

    A column that repeats values in runs (an enrollments file sorted by section or by student; told from its
    first values) is looked up
    one run at a time: comparing neighbours is far cheaper than hashing every value."""
    rows = len(values)
    if rows == 0:
        return np.zeros(0, dtype=np.int32)
    if not _in_runs(values.slice(0, _RUN_SAMPLE)):
        return _look_up(values, targets)
    encoded = [pc.run_end_encode(chunk) for chunk in values.chunks if len(chunk)]
    found = _look_up(pa.chunked_array([e.values for e in encoded], values.type), targets)
    lengths = np.concatenate([np.diff(_int32(e.run_ends), prepend=0) for e in encoded])
    return np.repeat(found, lengths)


#: Values looked at to tell whether a column repeats values in runs (either way gives the same positions;
#: the guess only picks the faster one).
_RUN_SAMPLE = 1 << 16


def _in_runs(values: pa.ChunkedArray) -> bool:
    """Whether ``values`` has on average four or more values per run of equal neighbours."""
    runs: int = values.num_chunks
    for chunk in values.chunks:
        if len(chunk) > 1:
            runs += int(pc.sum(pc.fill_null(pc.not_equal(chunk[1:], chunk[:-1]), True)).as_py() or 0)
    return runs * 4 < len(values)


def _look_up(values: pa.ChunkedArray, targets: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int32]:
    """``index_in`` with ``-1`` for a value not found: on the numbers when all ids are plain numbers."""
    numeric = numeric_positions(values, targets)
    if numeric is not None:
        return numeric
    found = pc.index_in(values, value_set=targets)
    return _int32(pc.fill_null(found, -1) if found.null_count else found)


def as_int64(array: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    """Integers as an int64 NumPy array (a null, such as the line of an API record, as -1)."""
    if not len(array):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(pc.fill_null(array, -1).to_numpy(), dtype=np.int64)


def as_mask(array: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.bool_]:
    """Booleans as a NumPy mask (null as False)."""
    return np.asarray(pc.fill_null(array, False).to_numpy(), dtype=bool)


def _int32(array: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int32]:
    """An int32 array without nulls as one NumPy array (each chunk's buffer is viewed, then joined once)."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("positions unexpectedly hold nulls")
        if len(chunk):
            values = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
            parts.append(values[chunk.offset : chunk.offset + len(chunk)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
