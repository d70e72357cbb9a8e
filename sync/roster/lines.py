"""Line numbers of CSV records, for files where a record is not simply one line.

The CSV parser (``pyarrow.csv``) drops blank lines and lets quoted values span lines, so the *n*-th row of
its table is not always on line *n* + 1. :func:`scan_records` finds the first line of every non-blank
record without a Python loop: a line break ends a record when an even number of quotes comes before it
(RFC 4180 escapes a quote as ``""``, which keeps the count even). The file is scanned in chunks so that a
large file needs little extra memory.
"""

from __future__ import annotations

import csv
import io
import mmap
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: A file's content: the bytes themselves, or the file mapped into memory.
Bytes: TypeAlias = "bytes | mmap.mmap"
_CHUNK = 1 << 22
#: Small enough for the comparison's temporary array to stay in the CPU cache.
_COUNT_CHUNK = 1 << 20
_QUOTE = 34
_LF = 10
_CR = 13


@dataclass(frozen=True)
class RecordScan:
    #: First line (1-based, in the whole file) of every non-blank record, in file order.
    lines: npt.NDArray[np.int64]
    #: True when some line break lies inside a quoted value.
    quoted_line_breaks: bool
    #: True when the file ends inside a quoted value (a quote that is never closed).
    unclosed_quote: bool = False


def count_byte(data: Bytes, byte: int, start: int = 0) -> int:
    """How many times ``byte`` occurs in ``data[start:]`` (vectorised, in chunks: faster than
    ``bytes.count`` on newline-dense text and with little extra memory)."""
    view = np.frombuffer(data, dtype=np.uint8)
    step = _COUNT_CHUNK
    return sum(int(np.count_nonzero(view[o : o + step] == byte)) for o in range(start, len(data), step))


def scan_records(data: Bytes, start: int, first_line: int) -> RecordScan:
    """Records of ``data[start:]``, whose first byte is on line ``first_line``."""
    view = np.frombuffer(data, dtype=np.uint8)
    has_lf = data.find(b"\n", start) != -1
    has_cr = data.find(b"\r", start) != -1
    break_byte = _LF if has_lf or not has_cr else _CR
    check_cr = has_lf and has_cr
    positions: list[npt.NDArray[np.int64]] = []
    parities: list[npt.NDArray[np.int64]] = []
    carry = 0
    inside = False
    for offset in range(start, len(data), _CHUNK):
        chunk = view[offset : offset + _CHUNK]
        breaks = np.flatnonzero(chunk == break_byte)
        quotes = np.flatnonzero(chunk == _QUOTE)
        parity = (np.searchsorted(quotes, breaks) + carry) & 1
        if check_cr and len(quotes):
            returns = np.flatnonzero(chunk == _CR)
            inside = inside or bool(((np.searchsorted(quotes, returns) + carry) & 1).any())
        carry = (carry + len(quotes)) & 1
        positions.append(breaks.astype(np.int64) + offset)
        parities.append(parity.astype(np.int64))
    breaks_all = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    parity_all = np.concatenate(parities) if parities else np.zeros(0, np.int64)
    inside = inside or bool(parity_all.any())
    ends_at = np.flatnonzero(parity_all == 0)
    record_end = np.append(breaks_all[ends_at], len(data))
    record_start = np.insert(breaks_all[ends_at] + 1, 0, start)
    start_line = np.insert(ends_at + 1 + first_line, 0, first_line).astype(np.int64)
    length = record_end - record_start
    blank = length == 0
    if break_byte == _LF:
        crlf = length == 1
        if crlf.any():
            blank |= crlf & (view[np.minimum(record_start, len(data) - 1)] == _CR)
    return RecordScan(start_line[~blank], inside, unclosed_quote=carry == 1)


def scan_records_slowly(data: Bytes, start: int, first_line: int) -> RecordScan:
    """The same as :func:`scan_records` with Python's ``csv`` module: exact for odd files (a quote inside an
    unquoted value, bare carriage returns), and slow. ``data[start:]`` must be valid UTF-8."""
    text = data[start:].decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[int] = []
    inside = False
    previous = 0
    try:
        for row in reader:
            first = previous + 1
            previous = reader.line_num
            if previous > first:
                inside = True
            if row:
                lines.append(first_line - 1 + first)
    except csv.Error:  # a field over the csv module's size limit: the caller falls back to row order
        pass
    return RecordScan(np.asarray(lines, dtype=np.int64), inside)
