"""Reading roster tables column-wise: optional columns may be absent, every value a string or ``None``."""

from __future__ import annotations

import pyarrow as pa


def values(table: pa.Table, name: str) -> list[str | None]:
    """Column ``name`` as Python strings (roster tables hold ``null`` for blanks, ``Roster``'s contract);
    all ``None`` when the column is absent."""
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    result: list[str | None] = column.to_pylist()
    return result


def lines(table: pa.Table) -> list[int | None]:
    """The ``_line`` column (first line of each record), ``None`` when absent (API-sourced records)."""
    if "_line" not in table.column_names:
        return [None] * table.num_rows
    return [None if value is None else int(value) for value in table.column("_line").to_pylist()]
