"""Where a quote that is never closed opened, for the finding that tells the admin what to fix.

A file ends inside a quoted value when its quotes are odd in number (RFC 4180 escapes a quote as ``""``,
which keeps the count even). The quote that opened that last value is then the file's last quote: every
quote after an opening one closes it or escapes a quote, in pairs. Only a quote at the start of a field
opens a value for the CSV parser; a lone quote inside an unquoted value (``5" tall``) is a character.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.roster.lines import Bytes, count_byte

_QUOTE = b'"'
#: Lines walked back from the quote to find the start of its record before settling for its own line.
_MAX_LINES_BACK = 10_000


@dataclass(frozen=True)
class OpenQuote:
    #: 1-based line and character (within that line) of the quote.
    line: int
    character: int
    #: 0-based position, within its record, of the field the quote opens.
    field: int
    #: Byte offset where the quote's record starts, and that record's first line.
    record_start: int
    record_line: int
    #: Lines from the record's first line to the end of the file (what cannot be read).
    lines_left: int


def find_open_quote(data: Bytes, start: int, first_line: int) -> OpenQuote | None:
    """The quote that opens the value at the end of ``data[start:]`` (whose first byte is on line
    ``first_line``), or ``None`` when the quotes are even in number or the last one is inside a value."""
    quote = data.rfind(_QUOTE, start)
    if quote == -1 or count_byte(data, _QUOTE[0], start) % 2 == 0:
        return None
    break_byte = b"\n" if data.find(b"\n", start) != -1 or data.find(b"\r", start) == -1 else b"\r"
    line_start = _line_start(data, start, quote, break_byte)
    record_start = _record_start(data, start, quote, line_start, break_byte)
    if not _opens_field(data, record_start, quote):
        return None
    line = first_line + data[start:quote].count(break_byte)
    record_line = line - data[record_start:quote].count(break_byte)
    breaks_after = data[quote:].count(break_byte)
    last_line = line + breaks_after - (1 if data[-1:] == break_byte else 0)
    prefix = bytes(data[line_start:quote]).rstrip(b"\r")
    return OpenQuote(
        line=line,
        character=len(prefix.decode("utf-8", errors="replace")) + 1,
        field=_field_index(bytes(data[record_start:quote])),
        record_start=record_start,
        record_line=record_line,
        lines_left=last_line - record_line + 1,
    )


def _line_start(data: Bytes, start: int, at: int, break_byte: bytes) -> int:
    found = data.rfind(break_byte, start, at)
    return start if found == -1 else found + 1


def _record_start(data: Bytes, start: int, quote: int, line_start: int, break_byte: bytes) -> int:
    """The record holding ``quote`` starts after the last line break with an even number of quotes before
    it; the quotes before ``quote`` are even in number, so that is the last break with an even number of
    quotes between it and ``quote``."""
    at = line_start
    for _ in range(_MAX_LINES_BACK):
        if data[at:quote].count(_QUOTE) % 2 == 0:
            return at
        if at <= start:
            return start
        at = _line_start(data, start, at - 1, break_byte)
    return line_start


def _opens_field(data: Bytes, record_start: int, quote: int) -> bool:
    return quote == record_start or data[quote - 1 : quote] in (b",", b"\n", b"\r")


def _field_index(record: bytes) -> int:
    """Separators outside quotes before the end of ``record``."""
    fields = 0
    inside = False
    for byte in record:
        if byte == 34:
            inside = not inside
        elif byte == 44 and not inside:
            fields += 1
    return fields
