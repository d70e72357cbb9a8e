"""Reading a folder of Clever-format CSV files into :class:`RawFile` tables (``clever-csv.md`` §1).

Each file is read into memory once and parsed by ``pyarrow.csv`` with every column typed as a string, so
``007`` stays ``007``. Blank values become nulls; trimming and every other value rule belong to validation.
The header row is parsed here (it may be quoted) and the body handed to the parser, so a file's line
numbers are exact. The body is first parsed as if every record were one line; when its rows then match
the file's lines one to one (checked by counting line feeds, no Python loop), row *i* is on line *i* + 2.
Otherwise — blank lines, values over several lines, rejected rows — :mod:`sync.roster.lines` maps each row
to its first line.
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sync.errors import UsageError
from sync.findings import Finding, Severity
from sync.roster.columns import SPECS, header_key
from sync.roster.fileset import find_files
from sync.roster.lines import Bytes, RecordScan, count_byte, scan_records, scan_records_slowly
from sync.roster.model import FILE_KINDS, RawFile
from sync.roster.printable import printable
from sync.roster.quotes import OpenQuote, find_open_quote
from sync.roster.source import Progress

_BOM = b"\xef\xbb\xbf"
_SPECIAL = re.compile(rb'["\r\n]')
#: Block sizes the parser is given, in turn: a record must fit in one block. The first suits every real
#: roster; a larger one is tried only when a record (one huge value) does not fit, up to a sane limit.
BLOCK_SIZES = (1 << 22, 1 << 26)
#: Bytes scanned at a time for bytes from 0x80 up; how many of those :func:`_is_utf8` decodes run by run
#: (beyond that, the whole body is decoded), and the pieces it is then decoded in.
_UTF8_PIECE = 1 << 20
_UTF8_HIGH_BYTES = 1 << 22
_DECODE_PIECE = 1 << 22
#: Scans of a body while it is parsed (two: files may be read on two threads at once).
_SCANS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="roster-scan")


class CsvFolderSource:
    """A set of CSV files in a local folder."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        return self._path

    def read_raw(self, *, progress: Progress | None = None) -> tuple[dict[str, RawFile], list[Finding]]:
        files, findings, rest = self.read_first(progress=progress)
        more_files, more_findings = rest()
        return {**files, **more_files}, [*findings, *more_findings]

    def read_first(
        self, *, progress: Progress | None = None, later: Collection[str] = ()
    ) -> tuple[dict[str, RawFile], list[Finding], Callable[[], tuple[dict[str, RawFile], list[Finding]]]]:
        """Like :meth:`read_raw`, but the files of kinds ``later`` are left for the function returned, which
        reads them (call it once, on any thread: validation starts while they are read)."""
        fileset = find_files(self.path)
        findings = list(fileset.findings)
        paths = [(kind, fileset.paths[kind]) for kind in FILE_KINDS if kind in fileset.paths]
        sizes = {kind: _size_of(path) for kind, path in paths}
        total = sum(sizes.values())
        done = 0

        def read(kinds: Collection[str]) -> tuple[dict[str, RawFile], list[Finding]]:
            nonlocal done
            files: dict[str, RawFile] = {}
            found: list[Finding] = []
            for kind, path in paths:
                if kind not in kinds:
                    continue
                raw, file_findings = read_csv_file(path, kind)
                found.extend(file_findings)
                if raw is not None:
                    files[kind] = raw
                done += sizes[kind]
                if progress is not None:
                    progress(done, total)
            return files, found

        files, found = read([kind for kind, _ in paths if kind not in later])
        return files, [*findings, *found], lambda: read([kind for kind, _ in paths if kind in later])


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_csv_file(path: Path, kind: str) -> tuple[RawFile | None, list[Finding]]:
    """Read one file of kind ``kind``. Raises :class:`UsageError` when it is a folder or cannot be read."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a file; put the CSV file itself in the set")
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):  # a FIFO or device would block or never end: refuse before opening it
            raise UsageError(
                f"{printable(str(path))} is not a regular file; put the CSV file itself in the set"
            )
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            # Mapped, not copied: the parser's threads fault the pages in as they go; nothing is read twice.
            data: Bytes = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            # The parser gets the same pages through Arrow's own mapping: a buffer that is not a Python
            # object never needs the interpreter when the parser's threads let go of it.
            native = pa.memory_map(str(path)).read_buffer() if size else None
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from err
    return parse_csv_bytes(data, kind, path.name, buffer=native)


def parse_csv_bytes(
    data: Bytes, kind: str, name: str, *, buffer: pa.Buffer | None = None
) -> tuple[RawFile | None, list[Finding]]:
    """Parse the bytes of one file. Returns ``None`` for the table when a file-level error stops it.
    ``buffer``: the same bytes as an Arrow buffer, given to the parser instead of a view of ``data``."""
    start = len(_BOM) if data[: len(_BOM)] == _BOM else 0
    header_end, body_start = _first_record(data, start)
    header_bytes = data[start:header_end]
    if not header_bytes.strip():
        return None, [_file_error(name, "missing_header", _missing_header_message(data, start))]
    try:
        header_text = header_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, [_encoding_error(name, data, start + err.start)]
    names = split_record(header_text)
    break_byte = b"\n" if data.find(b"\n", start) != -1 or data.find(b"\r", start) == -1 else b"\r"
    first_line = 1 + data[start:body_start].count(break_byte)
    whole = buffer if buffer is not None else _arrow_owned(data)
    body = whole.slice(body_start)
    # First, parse as if every record were one line (fast, on every core), without checking that values are
    # UTF-8, while another thread looks at the body: whether it is UTF-8, its quotes, its lines. That parse is
    # right exactly when the body is UTF-8 and the rows match the lines one to one; otherwise the file is
    # parsed again, checked, and (when rows do not match lines) record by record.
    looked_at = _SCANS.submit(_look_at_body, data, body_start)
    table: pa.Table | None
    failure: pa.ArrowInvalid | None = None
    try:
        table, bad = _parse(body, len(names), newlines=False, serial=False, check_utf8=False)
    except pa.ArrowInvalid as err:
        table, bad, failure = None, [], err
    facts = looked_at.result()
    # With quotes, rows rejected here may be values over several lines: the serial parse that would number
    # them waits until the record scan says which.
    try:
        if not facts.utf8:
            table, bad = _parse(body, len(names), newlines=False, serial=not facts.has_quote)
        elif failure is not None and not facts.has_quote and not _too_long(failure):
            table, bad = _parse(body, len(names), newlines=False, threads=False, check_utf8=False)
    except pa.ArrowInvalid:
        table, bad = None, []
    if (
        table is not None
        and not bad
        and first_line == 2
        and facts.even_quotes
        and facts.lines == table.num_rows
    ):
        return RawFile(kind=kind, name=name, table=table.rename_columns(names), lines=None), []
    return _parse_exactly(data, whole, kind, name, names, body_start, first_line, table, bad)


@dataclass(frozen=True)
class _Body:
    """What a scan of a file's body (after the header) says about it."""

    #: The body is UTF-8 (its values need no check by the parser).
    utf8: bool
    has_quote: bool
    #: An even number of quotes (no quote left open).
    even_quotes: bool
    #: Lines ended by LF or CRLF (``None`` when a lone carriage return makes the count meaningless).
    lines: int | None


def _look_at_body(data: Bytes, body_start: int) -> _Body:
    has_quote = data.find(b'"', body_start) != -1
    return _Body(
        utf8=_is_utf8(data, body_start),
        has_quote=has_quote,
        even_quotes=not has_quote or count_byte(data, 34, body_start) % 2 == 0,
        lines=_body_lines(data, body_start),
    )


def _arrow_owned(data: Bytes) -> pa.Buffer:
    """``data`` copied into memory Arrow owns. A buffer that wraps a Python object must take the GIL to let
    go of it, and Arrow's threads may let go of theirs after a read has returned, even while the
    interpreter exits (pyarrow's Python-buffer wrapper then aborts the process)."""
    sink = pa.BufferOutputStream()
    sink.write(data)
    return sink.getvalue()


def _parse_exactly(
    data: Bytes,
    whole: pa.Buffer,
    kind: str,
    name: str,
    names: list[str],
    body_start: int,
    first_line: int,
    table: pa.Table | None,
    bad: list[tuple[int | None, int, str]],
) -> tuple[RawFile | None, list[Finding]]:
    """The slow path: blank lines, values over several lines, rejected rows or a quote never closed. The
    records' first lines come from :mod:`sync.roster.lines`; ``table`` and ``bad`` are the optimistic
    parse's result (``None`` when it failed), reused when it holds."""
    body = whole.slice(body_start)
    has_quote = data.find(b'"', body_start) != -1
    scan = scan_records(data, body_start, first_line) if has_quote else None
    if scan is not None and scan.unclosed_quote:
        opened = find_open_quote(data, body_start, first_line)
        if opened is not None:
            return _cut_at_open_quote(data, whole, kind, name, names, opened)
    if table is None or (scan is not None and scan.quoted_line_breaks):
        newlines = scan is not None and scan.quoted_line_breaks
        try:
            # The threaded parse without line breaks in values has failed already: do not repeat it.
            table, bad = _parse(body, len(names), newlines=newlines, threads=newlines)
        except pa.ArrowInvalid as err:
            return None, [_unparseable(name, data, body_start, first_line, names, err)]
    findings: list[Finding] = []
    lines: pa.Array | None = None
    if bad and any(row[0] is None for row in bad):
        newlines = scan is not None and scan.quoted_line_breaks
        _, bad = _parse(body, len(names), newlines=newlines, threads=False)
    line_numbers = _record_lines(data, body_start, first_line, scan, table.num_rows + len(bad))
    findings.extend(_malformed(name, kind, names, bad, line_numbers))
    keep = np.ones(len(line_numbers), dtype=bool)
    for number, _, _ in bad:
        if number is not None and 0 < number <= len(keep):
            keep[number - 1] = False
    kept = line_numbers[keep]
    lines = pa.array(kept[: table.num_rows], type=pa.int64())
    if len(lines) < table.num_rows:
        lines = None
    last_record_ok = bool(keep.size) and bool(keep[-1])
    if scan is not None and scan.unclosed_quote and last_record_ok and lines is not None and table.num_rows:
        last = table.num_rows - 1
        findings.append(_unclosed_quote(name, kind, names, table, int(lines[last].as_py())))
        table, lines = table.slice(0, last), lines.slice(0, last)
    if scan is not None and scan.quoted_line_breaks:
        table, breaks = _replace_line_breaks(table, kind, name, names, lines)
        findings.extend(breaks)
    table = table.rename_columns(names)
    return RawFile(kind=kind, name=name, table=table, lines=lines), findings


def split_record(text: str) -> list[str]:
    """The fields of one CSV record (a header, or a row the parser rejected)."""
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error:  # a field over the csv module's size limit: no quoting to honour at that size
        return text.split(",")


def _first_record(data: Bytes, start: int) -> tuple[int, int]:
    """End of the first record (the header) and start of the next, honouring quotes."""
    in_quote = False
    pos = start
    while True:
        match = _SPECIAL.search(data, pos)
        if match is None:
            return len(data), len(data)
        at = match.start()
        if data[at] == 34:
            in_quote = not in_quote
        elif not in_quote:
            return at, at + 2 if data[at : at + 2] == b"\r\n" else at + 1
        pos = at + 1


def _is_utf8(data: Bytes, start: int) -> bool:
    """Whether ``data[start:]`` is UTF-8. Bytes under 0x80 are UTF-8 on their own, and a character of several
    bytes is a run of bytes from 0x80 up: when there are few of those, only their runs are decoded, each
    apart; otherwise the body is decoded in pieces."""
    view = np.frombuffer(data, dtype=np.uint8)
    found: list[npt.NDArray[np.int64]] = []
    count = 0
    for offset in range(start, len(view), _UTF8_PIECE):
        high = np.flatnonzero(view[offset : offset + _UTF8_PIECE] >= 0x80)
        count += len(high)
        if count > _UTF8_HIGH_BYTES:
            return _decodes(data, start)
        if len(high):
            found.append(high + offset)
    if not found:
        return True
    where = np.concatenate(found)
    # A line feed before each run keeps a character from running on into the next run.
    runs = np.insert(view[where], np.flatnonzero(np.diff(where) != 1) + 1, 0x0A)
    return _decodes(runs.tobytes(), 0)


def _decodes(data: Bytes, start: int) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for offset in range(start, len(data), _DECODE_PIECE):
            decoder.decode(data[offset : offset + _DECODE_PIECE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _parse(
    body: pa.Buffer,
    width: int,
    *,
    newlines: bool,
    threads: bool = True,
    serial: bool = True,
    check_utf8: bool = True,
) -> tuple[pa.Table, list[tuple[int | None, int, str]]]:
    """Parse ``body`` into ``width`` string columns; rejected rows come back as ``(number, fields, text)``.

    On threads the parser is given no Python callback: when a read fails, Arrow's threads may go on with
    the rest of the file after the failure is returned, and a thread that needs the interpreter while it
    shuts down is stopped in a way C++ cannot survive ("terminate called without an active exception").
    So rejected rows make the threaded read fail, and the file is read again on the calling thread, where
    the row handler runs (that read numbers the rows, which a threaded one cannot); ``serial=False`` skips
    that second read and lets the failure through."""
    column_names = [f"c{i}" for i in range(width)]
    if body.size == 0:
        return pa.table({n: pa.array([], pa.string()) for n in column_names}), []
    if threads:
        try:
            return _read(
                body, column_names, newlines=newlines, threads=True, bad=None, check_utf8=check_utf8
            ), []
        except pa.ArrowInvalid as err:
            if _too_long(err) or not serial:
                raise
    bad: list[tuple[int | None, int, str]] = []
    with _quiet_undecodable_rows():
        table = _read(body, column_names, newlines=newlines, threads=False, bad=bad, check_utf8=check_utf8)
    bad.sort(key=lambda row: row[0] if row[0] is not None else -1)
    return table, bad


def _read(
    body: pa.Buffer,
    column_names: list[str],
    *,
    newlines: bool,
    threads: bool,
    bad: list[tuple[int | None, int, str]] | None,
    check_utf8: bool = True,
) -> pa.Table:
    """One ``read_csv``, retried with a larger block when a record does not fit in one."""

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number if row.number is not None and row.number >= 0 else None
        assert bad is not None
        bad.append((number, row.actual_columns, row.text))
        return "skip"

    for attempt, block_size in enumerate(BLOCK_SIZES):
        if bad is not None:
            bad.clear()
        try:
            return pacsv.read_csv(
                pa.BufferReader(body),
                read_options=pacsv.ReadOptions(
                    column_names=column_names, use_threads=threads, block_size=block_size
                ),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=newlines, invalid_row_handler=on_invalid if bad is not None else None
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in column_names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    check_utf8=check_utf8,
                ),
            )
        except pa.ArrowInvalid as err:
            if _is_empty(err):
                return pa.table({n: pa.array([], pa.string()) for n in column_names})
            if not _too_long(err) or attempt == len(BLOCK_SIZES) - 1:
                raise
    raise AssertionError("unreachable: the last block size re-raises")


def _is_empty(err: pa.ArrowInvalid) -> bool:
    return "Empty CSV file" in str(err)


def _too_long(err: pa.ArrowInvalid) -> bool:
    """Arrow's "straddling object straddles two block boundaries": a record larger than a block."""
    return "straddl" in str(err)


_HOOK_LOCK = threading.Lock()
_HOOK_DEPTH = 0
_HOOK_PREVIOUS: Any = None


@contextmanager
def _quiet_undecodable_rows() -> Iterator[None]:
    """pyarrow decodes a rejected row before calling the row handler; when the row is not UTF-8 it prints an
    "exception ignored" traceback and then fails the read, which becomes ``invalid_encoding``. Keep that
    traceback off the admin's terminal (any other unraisable exception is still reported). Files are read
    on two threads at once: the hook is installed by the first and restored by the last, never crossed."""
    global _HOOK_DEPTH, _HOOK_PREVIOUS
    with _HOOK_LOCK:
        if _HOOK_DEPTH == 0:
            previous = sys.unraisablehook
            _HOOK_PREVIOUS = previous

            def hook(unraisable: Any) -> None:
                if not isinstance(unraisable.exc_value, UnicodeDecodeError):
                    previous(unraisable)

            sys.unraisablehook = hook
        _HOOK_DEPTH += 1
    try:
        yield
    finally:
        with _HOOK_LOCK:
            _HOOK_DEPTH -= 1
            if _HOOK_DEPTH == 0:
                sys.unraisablehook = _HOOK_PREVIOUS
                _HOOK_PREVIOUS = None


def _body_lines(data: Bytes, body_start: int) -> int | None:
    """The body's lines (ended by LF or CRLF; a last line may lack its end), or ``None`` when a lone carriage
    return (a line break to the parser, not to this count) makes the count meaningless."""
    if body_start >= len(data):
        return 0
    line_feeds = count_byte(data, 10, body_start)
    if data.find(b"\r", body_start) != -1 and count_byte(data, 13, body_start) != line_feeds:
        return None
    return line_feeds + (0 if data[-1:] == b"\n" else 1)


def _record_lines(
    data: Bytes, body_start: int, first_line: int, scan: RecordScan | None, records: int
) -> np.ndarray:
    if scan is None:
        scan = scan_records(data, body_start, first_line)
    if len(scan.lines) != records:
        scan = scan_records_slowly(data, body_start, first_line)
    if len(scan.lines) != records:
        return np.arange(first_line, first_line + records, dtype=np.int64)
    return scan.lines


def _cut_at_open_quote(
    data: Bytes, whole: pa.Buffer, kind: str, name: str, names: list[str], opened: OpenQuote
) -> tuple[RawFile | None, list[Finding]]:
    """The records before the one whose quote is never closed, and a file error for the rest. Where the
    quote should have closed cannot be known: guessing (at the end of its line, say) could shift values
    into other columns of real people's records, so nothing from that quote on is read. And because the
    lines that cannot be read may hold any number of records that a sync would then treat as gone, it is
    a file error: the run stops before anything is changed, until the quote is fixed."""
    head = bytes(data[: opened.record_start])
    raw, findings = parse_csv_bytes(head, kind, name, buffer=whole.slice(0, opened.record_start))
    column = printable(names[opened.field]) if opened.field < len(names) else None
    in_column = (
        f" (column {column})" if column is not None else f" (field {opened.field + 1}, past the header's)"
    )
    lines = "1 line" if opened.lines_left == 1 else f"{opened.lines_left:,} lines"
    from_line = f"from line {opened.record_line} to the end" if opened.lines_left > 1 else "that line"
    line_end = data.find(b"\n", opened.record_start)
    first_line = bytes(data[opened.record_start : line_end if line_end != -1 else len(data)])
    fields = split_record(first_line.decode("utf-8", errors="replace").rstrip("\r"))
    id_index = _id_index(kind, names)
    record_id = fields[id_index].strip() or None if id_index is not None and id_index < len(fields) else None
    findings.append(
        Finding(
            name,
            opened.line,
            column,
            record_id,
            Severity.FILE_ERROR,
            "malformed_row",
            f"a quote opened on line {opened.line}, character {opened.character}{in_column} is never closed, "
            f"so the rest of the file ({lines}, {from_line}) cannot be read and the file is refused; "
            "close the quote, or remove it if it is a stray one (write a quote inside a value as two "
            "quotes), and export the file again",
        )
    )
    return raw, findings


def _id_index(kind: str, names: list[str]) -> int | None:
    id_key = header_key(SPECS[kind].id_column)
    return next((i for i, n in enumerate(names) if header_key(n) == id_key), None)


def _unclosed_quote(name: str, kind: str, names: list[str], table: pa.Table, line: int) -> Finding:
    id_index = _id_index(kind, names)
    record_id = None
    if id_index is not None:
        value = table.column(id_index)[table.num_rows - 1].as_py()
        record_id = value.strip() if isinstance(value, str) and value.strip() else None
    return Finding(
        name,
        line,
        None,
        record_id,
        Severity.RECORD_ERROR,
        "malformed_row",
        "a quote opened in this row is never closed, so this row and every line after it are skipped; "
        "close the quote (write a quote inside a value as two quotes)",
    )


def _malformed(
    name: str, kind: str, names: list[str], bad: list[tuple[int | None, int, str]], lines: np.ndarray
) -> list[Finding]:
    id_index = _id_index(kind, names)
    findings = []
    for number, actual, text in bad:
        line = int(lines[number - 1]) if number is not None and 0 < number <= len(lines) else None
        record_id = None
        if id_index is not None:
            fields = split_record(text)
            if id_index < len(fields) and fields[id_index].strip():
                record_id = fields[id_index].strip()
        findings.append(
            Finding(
                name,
                line,
                None,
                record_id,
                Severity.RECORD_ERROR,
                "malformed_row",
                f"row has {actual} fields but the header has {len(names)}; the row is skipped. "
                "Quote values that contain commas and check for missing or extra separators",
            )
        )
    return findings


def _replace_line_breaks(
    table: pa.Table, kind: str, name: str, names: list[str], lines: pa.Array | None
) -> tuple[pa.Table, list[Finding]]:
    canonical = {header_key(c.name): c.name for c in SPECS[kind].columns}
    id_index = _id_index(kind, names)
    findings: list[Finding] = []
    columns = []
    for index, column in enumerate(table.columns):
        mask = pc.match_substring_regex(column, r"[\r\n]")
        if not pc.any(mask).as_py():
            columns.append(column)
            continue
        column_name = canonical.get(header_key(names[index]), printable(names[index]))
        for row in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            record_id = None
            if id_index is not None:
                value = table.column(id_index)[row].as_py()
                record_id = value.strip() if isinstance(value, str) and value.strip() else None
            findings.append(
                Finding(
                    name,
                    int(lines[row].as_py()) if lines is not None else row + 2,
                    column_name,
                    record_id,
                    Severity.WARNING,
                    "line_break_in_value",
                    f"value of {column_name} holds a line break, replaced by a space; "
                    "remove line breaks from values in the export",
                )
            )
        columns.append(pc.replace_substring_regex(column, r"\r\n|\r|\n", " "))
    return pa.table(columns, names=table.column_names), findings


def _file_error(name: str, code: str, message: str) -> Finding:
    return Finding(name, None, None, None, Severity.FILE_ERROR, code, message)


def _missing_header_message(data: Bytes, start: int) -> str:
    if not data[start:].strip():
        return "the file is empty; the first line must be the header row (School_id, …)"
    return "the first line is blank; the first line must be the header row"


#: Byte-order marks of the encodings Excel and SIS exports write instead of UTF-8 ("Unicode Text").
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _encoding_error(name: str, data: Bytes, offset: int) -> Finding:
    line = data[:offset].count(b"\n") + 1
    start = bytes(data[:4])
    encoding = next((label for bom, label in _OTHER_BOMS if start.startswith(bom)), None)
    why = f": the file is {encoding} (it starts with a {encoding} byte-order mark)" if encoding else ""
    return Finding(
        name,
        line,
        None,
        None,
        Severity.FILE_ERROR,
        "invalid_encoding",
        f"byte {offset} (line {line}) is not UTF-8{why}; save the file as UTF-8 (CSV UTF-8 in Excel)",
    )


def _unparseable(
    name: str, data: Bytes, body_start: int, first_line: int, names: list[str], err: pa.ArrowInvalid
) -> Finding:
    try:
        data[body_start:].decode("utf-8")
    except UnicodeDecodeError as decode_err:
        return _encoding_error(name, data, body_start + decode_err.start)
    if _too_long(err):
        return _too_long_finding(name, data, body_start, first_line, names)
    raise UsageError(f"cannot parse {name} as CSV: {err}") from err


def _too_long_finding(name: str, data: Bytes, body_start: int, first_line: int, names: list[str]) -> Finding:
    """A record larger than the largest block: the parser cannot skip it, so the file cannot be read."""
    limit = BLOCK_SIZES[-1]
    long = find_long_line(data, body_start, limit)
    where = "a record"
    line = column = None
    if long is not None:
        offset, length, field, field_length = long
        line = first_line + data[body_start:offset].count(b"\n")
        column = printable(names[field]) if field < len(names) else None
        where = f"line {line} is {length:,} bytes long"
        if column is not None:
            where += f" (its {column} value alone is {field_length:,} bytes)"
    return Finding(
        name,
        line,
        column,
        None,
        Severity.FILE_ERROR,
        "malformed_row",
        f"{where}, over the {limit / (1 << 20):g} MiB a record may take, so the file cannot be read; "
        "remove the oversized value (or the missing line breaks that joined many records into one) "
        "and export the file again",
    )


def find_long_line(data: Bytes, start: int, limit: int) -> tuple[int, int, int, int] | None:
    """The first line of ``data[start:]`` longer than ``limit`` bytes: its offset, its length, the index of
    its longest field (separators counted with no regard to quotes) and that field's length."""
    view = np.frombuffer(data, dtype=np.uint8)[start:]
    ends = np.append(np.flatnonzero(view == 10), len(view))
    starts = np.insert(ends[:-1] + 1, 0, 0)
    long = np.flatnonzero(ends - starts > limit)
    if not len(long):
        return None
    first, last = int(starts[long[0]]), int(ends[long[0]])
    commas = np.flatnonzero(view[first:last] == 44)
    bounds = np.concatenate(([-1], commas, [last - first]))
    lengths = np.diff(bounds) - 1
    field = int(np.argmax(lengths))
    return start + first, last - first, field, int(lengths[field])
