"""Fast CSV writing and reading for the synthetic districts.

``pyarrow.csv.write_csv`` quotes every string value, even with ``quoting_style="needed"`` (pyarrow 26), and
real SIS exports quote only values that need it. :class:`CsvWriter` therefore builds the lines itself with
Arrow compute kernels (no Python loop per row): a value is quoted only when it holds a comma, a quote or a
line break (RFC 4180), lines end with ``\\n``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_NEEDS_QUOTES = r'[",\r\n]'
_NEWLINE = pa.scalar("\n")
_QUOTE = pa.scalar('"')


def quote_needed(column: pa.Array) -> pa.Array:
    """``column`` with every value that holds ``,`` ``"`` or a line break quoted (inner quotes doubled)."""
    needs = pc.match_substring_regex(column, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return column
    quoted = pc.binary_join_element_wise(_QUOTE, pc.replace_substring(column, '"', '""'), _QUOTE, "")
    return pc.if_else(needs, quoted, column)


def _text_of(columns: Sequence[pa.Array]) -> bytes:
    joined = pc.binary_join_element_wise(*[pc.fill_null(quote_needed(c), "") for c in columns], ",")
    lines = pc.binary_join_element_wise(joined, _NEWLINE, "")
    if isinstance(lines, pa.ChunkedArray):
        return b"".join(_text_of_array(chunk) for chunk in lines.chunks)
    return _text_of_array(lines)


def _text_of_array(lines: pa.Array) -> bytes:
    if len(lines) == 0:
        return b""
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=width, count=len(lines) + 1, offset=lines.offset * width().itemsize
    )
    data = lines.buffers()[2]
    text: bytes = data[int(offsets[0]) : int(offsets[-1])].to_pybytes()
    return text


class CsvWriter:
    """Writes a CSV file chunk by chunk: ``with CsvWriter(path, names) as w: w.write(columns)``."""

    def __init__(self, path: Path, names: Sequence[str]) -> None:
        self.path = path
        self.names = list(names)
        self._file: BinaryIO | None = None

    def __enter__(self) -> CsvWriter:
        self._file = self.path.open("wb")
        header = [pa.array([name]) for name in self.names]
        self._file.write(_text_of(header))
        return self

    def write(self, columns: Sequence[pa.Array]) -> None:
        """Append rows: one string array per column, in header order, all of the same length."""
        if len(columns) != len(self.names):
            raise ValueError(f"{self.path.name}: {len(columns)} columns given for {len(self.names)} names")
        assert self._file is not None, "use CsvWriter as a context manager"
        self._file.write(_text_of(columns))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._file is not None
        self._file.close()


def write_table(path: Path, table: pa.Table) -> None:
    """Write ``table`` (string columns) with quoting only where needed."""
    with CsvWriter(path, table.column_names) as writer:
        writer.write([table.column(i) for i in range(table.num_columns)])


def read_strings(path: Path) -> pa.Table:
    """Read a CSV file with every column as a string (blank = empty string, never null)."""
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8-sig").rstrip("\r\n")
    names = next(csv.reader([header]))
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return pacsv.read_csv(path, convert_options=convert)
