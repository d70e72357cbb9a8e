"""Inject known defects into a generated district, keyed by finding code, and say where they are.

``inject_defects(folder, {"invalid_email": 2, "missing_file": 1}, seed=1)`` edits the files of a clean
district (as written by :func:`bench.district.generate_district`) and returns one :class:`Injected` per
defect: the finding code a validator should report, the file (as named after the edit), the record's line
(header = 1) and id. Every code of ``clever-csv.md`` §7 that a file set can produce is supported
(:data:`DEFECT_CODES`).

Rules that keep each defect visible:

- A file-level error (:data:`FILE_LEVEL`) takes a whole file for itself: no other defect goes into that
  file, so the codes a validator reports for it are predictable. There are five files, so at most five
  file-level defects in one district (and one ``unsupported_file``). Note that a validator may stop at a
  file-level error before checking records of other files: inject those separately to test record checks.
- Each record gets at most one defect. Defects that drop a student or a section are placed before the
  enrollment defects, which then avoid the dropped records.
- Students and teachers edited in place are ones with a single row, so an edit never turns into a
  ``conflicting_duplicate``.

Defects are for small and medium districts: an edited file is held in memory as Python lists.
"""

from __future__ import annotations

import csv
import io
import operator
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Supported codes, in the order they are injected.
DEFECT_CODES = (
    "missing_file",
    "missing_header",
    "empty_file",
    "invalid_encoding",
    "missing_column",
    "duplicate_column",
    "unsupported_file",
    "ignored_file",
    "header_normalized",
    "unknown_column",
    "malformed_row",
    "missing_value",
    "conflicting_duplicate",
    "invalid_characters",
    "unknown_reference",
    "duplicate_row",
    "duplicate_enrollment",
    "school_mismatch",
    "empty_section",
    "invalid_email",
    "invalid_date",
    "invalid_grade",
    "invalid_value",
    "invalid_term",
    "line_break_in_value",
    "generated_name",
    "file_name_case",
)
#: Codes that make a whole file unusable; each takes a file of its own.
FILE_LEVEL = frozenset(DEFECT_CODES[:6])
KINDS = ("schools", "students", "teachers", "sections", "enrollments")
ID_COLUMN = {
    "schools": "School_id",
    "students": "Student_id",
    "teachers": "Teacher_id",
    "sections": "Section_id",
}

#: For file-level codes: files in order of preference, and the column involved.
_FILE_TARGETS: Mapping[str, tuple[tuple[str, str | None], ...]] = {
    "missing_file": tuple((k, None) for k in ("enrollments", "sections", "teachers", "students", "schools")),
    "missing_header": tuple(
        (k, None) for k in ("sections", "teachers", "enrollments", "students", "schools")
    ),
    "empty_file": tuple((k, None) for k in ("enrollments", "teachers", "sections", "students", "schools")),
    "invalid_encoding": tuple(
        (k, None) for k in ("students", "teachers", "sections", "schools", "enrollments")
    ),
    "missing_column": (
        ("sections", "Teacher_id"),
        ("students", "School_id"),
        ("teachers", "School_id"),
        ("enrollments", "School_id"),
        ("schools", "School_name"),
    ),
    "duplicate_column": (
        ("students", "Student number"),
        ("teachers", "Teacher number"),
        ("sections", "Course name"),
        ("schools", "School phone"),
        ("enrollments", "School id"),
    ),
}
_HEADER_RENAMES = (
    ("students", "Middle_name", "Middle name"),
    ("sections", "Course_number", "Course number"),
    ("teachers", "Middle_name", "Middle name"),
    ("schools", "School_zip", "School zip"),
    ("enrollments", "School_id", "School id"),
)


@dataclass(frozen=True, order=True)
class Injected:
    """One injected defect. ``line`` is ``None`` for a finding about a whole file or column;
    ``record_id`` is the record's SIS id (``None`` for enrollments and file-level defects)."""

    file: str
    line: int | None
    code: str
    record_id: str | None = None
    column: str | None = None

    def describe(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        extra = "".join(f" {k}={v}" for k, v in (("record", self.record_id), ("column", self.column)) if v)
        return f"{self.code:<22} {where}{extra}"


Row = list[str]


@dataclass
class _File:
    """A file being edited: header and rows as lists, copies to insert after a row, column edits."""

    kind: str
    header: Row
    rows: list[Row]
    after: dict[int, list[Row]] = field(default_factory=dict)
    drop_column: int | None = None
    add_columns: list[tuple[str, Callable[[Row], str]]] = field(default_factory=list)

    def col(self, name: str) -> int:
        """Index of column ``name``, found as a validator would (case, space or underscore)."""
        return [_normal(h) for h in self.header].index(_normal(name))

    def insert_after(self, index: int, row: Row) -> Row:
        self.after.setdefault(index, []).append(row)
        return row

    def records(self) -> Iterator[Row]:
        for index, row in enumerate(self.rows):
            yield row
            yield from self.after.get(index, ())

    def render(self) -> tuple[bytes, dict[int, int]]:
        """The file's bytes and ``{id(row): line}``."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = self._shape(self.header, names=True)
        writer.writerow(header)
        lines: dict[int, int] = {}
        line = 2
        for row in self.records():
            lines[id(row)] = line
            shaped = self._shape(row, names=False)
            writer.writerow(shaped)
            line += 1 + sum(value.count("\n") for value in shaped)
        return buffer.getvalue().encode("utf-8", "surrogateescape"), lines

    def _shape(self, row: Row, *, names: bool) -> Row:
        out = [v for i, v in enumerate(row) if i != self.drop_column]
        out += [name if names else value(row) for name, value in self.add_columns]
        return out


class _Injector:
    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.rng = np.random.default_rng([seed, 99])
        self.files: dict[str, _File] = {}
        self.claimed: dict[str, str] = {}  # kind -> file-level code
        self.used: dict[str, set[str]] = {kind: set() for kind in KINDS}
        self.dropped: dict[str, set[str]] = {"students": set(), "sections": set()}
        #: Sections and students of enrollments with a defect: never dropped by a later defect.
        self.touched: dict[str, set[str]] = {"students": set(), "sections": set()}
        self.pending: list[tuple[str, str, Row | None, str | None, str | None]] = []
        self.extra_files: list[Injected] = []
        self.renames: dict[str, str] = {}
        self._orders: dict[str, np.ndarray] = {}
        self._counts: dict[str, Counter[str]] = {}

    # ---------------------------------------------------------------- files and records

    def file(self, kind: str) -> _File:
        if kind not in self.files:
            path = self.folder / f"{kind}.csv"
            rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
            self.files[kind] = _File(kind, rows[0], rows[1:])
        return self.files[kind]

    def free(self, kinds: tuple[str, ...]) -> list[str]:
        return [k for k in kinds if k not in self.claimed]

    def pick(self, kind: str, *, single: bool = False) -> int:
        """A random row of ``kind`` whose record has no defect yet (``single``: the record has one row)."""
        data = self.file(kind)
        if kind not in self._orders:
            self._orders[kind] = self.rng.permutation(len(data.rows))
        if kind in ("students", "teachers") and kind not in self._counts:
            id_column = data.col(ID_COLUMN[kind])
            self._counts[kind] = Counter(row[id_column] for row in data.rows)
        for index in self._orders[kind]:
            row = data.rows[int(index)]
            key = self.key(kind, row, int(index))
            if key in self.used[kind] or key in self.touched.get(kind, ()):
                continue
            if single and self._counts[kind][key] != 1:
                continue
            if kind == "enrollments" and (
                row[data.col("Section_id")] in self.dropped["sections"]
                or row[data.col("Student_id")] in self.dropped["students"]
                or row[data.col("Section_id")] in self.used["sections"]
            ):
                continue
            self.used[kind].add(key)
            if kind == "enrollments":
                self.touched["sections"].add(row[data.col("Section_id")])
                self.touched["students"].add(row[data.col("Student_id")])
            return int(index)
        raise ValueError(f"{kind}.csv has too few records for the defects asked for: use a larger district")

    def key(self, kind: str, row: Row, index: int) -> str:
        if kind == "enrollments":
            return str(index)
        return row[self.file(kind).col(ID_COLUMN[kind])]

    def record_id(self, kind: str, row: Row) -> str | None:
        return None if kind == "enrollments" else row[self.file(kind).col(ID_COLUMN[kind])]

    def note(
        self, code: str, kind: str, row: Row | None, column: str | None = None, *, anonymous: bool = False
    ) -> None:
        record = None if row is None or anonymous else self.record_id(kind, row)
        self.pending.append((code, kind, row, record, column))

    def drop(self, kind: str, row: Row) -> None:
        """Remember that ``row``'s record is dropped by validation, with what depends on it."""
        if kind == "teachers":  # its sections lose their primary teacher: keep other defects off them
            teacher = row[self.file(kind).col("Teacher_id")]
            sections = self.file("sections")
            primary, section_id = sections.col("Teacher_id"), sections.col("Section_id")
            for section in sections.rows:
                if section[primary] == teacher:
                    self.dropped["sections"].add(section[section_id])
                    self.used["sections"].add(section[section_id])
        elif kind in self.dropped:
            self.dropped[kind].add(row[self.file(kind).col(ID_COLUMN[kind])])

    # ---------------------------------------------------------------- file-level defects

    def claim(self, code: str) -> tuple[str, str | None]:
        for kind, column in _FILE_TARGETS[code]:
            if kind not in self.claimed:
                self.claimed[kind] = code
                return kind, column
        raise ValueError(f"{code}: every file already has a file-level defect (at most five per district)")

    def file_level(self, code: str) -> None:
        kind, column = self.claim(code)
        if code == "invalid_encoding":
            data = self.file(kind)
            row = data.rows[self.pick(kind)]
            row[-1] = row[-1] + "\udcff"  # written as the byte 0xFF: not UTF-8
            self.note(code, kind, row, anonymous=True)
        elif code == "missing_column":
            assert column is not None
            data = self.file(kind)
            data.drop_column = data.col(column)
            self.note(code, kind, None, column)
        elif code == "duplicate_column":
            assert column is not None
            data = self.file(kind)
            source = data.col(column)
            data.add_columns.append((column, operator.itemgetter(source)))
            self.note(code, kind, None, column)
        else:
            self.note(code, kind, None)

    # ---------------------------------------------------------------- warnings about files and columns

    def unsupported_file(self, count: int) -> None:
        if count > 1:
            raise ValueError("unsupported_file: a district can hold one admins.csv")
        (self.folder / "admins.csv").write_text(
            "School_id,Admin_id,Admin_email\n0001,A1,admin1@contoso.edu\n"
        )
        self.extra_files.append(Injected("admins.csv", None, "unsupported_file"))

    def ignored_file(self, count: int) -> None:
        for k in range(1, count + 1):
            name = f"notes_{k}.txt"
            (self.folder / name).write_text("Exported by the SIS nightly job.\n")
            self.extra_files.append(Injected(name, None, "ignored_file"))

    def header_normalized(self, count: int) -> None:
        targets = [t for t in _HEADER_RENAMES if t[0] not in self.claimed]
        if count > len(targets):
            raise ValueError(f"header_normalized: at most {len(targets)} in this district")
        for kind, column, new in targets[:count]:
            data = self.file(kind)
            data.header[data.col(column)] = new
            self.note("header_normalized", kind, None, new)

    def unknown_column(self, count: int) -> None:
        kinds = self.free(("students", "sections", "teachers", "schools", "enrollments"))
        if not kinds:
            raise ValueError("unknown_column: every file has a file-level defect")
        for k in range(count):
            kind = kinds[k % len(kinds)]
            name = f"Custom_field_{k + 1}"
            self.file(kind).add_columns.append((name, lambda row: "x"))
            self.note("unknown_column", kind, None, name)

    def file_name_case(self, count: int) -> None:
        kinds = [
            k
            for k in ("students", "sections", "teachers", "schools", "enrollments")
            if self.claimed.get(k) != "missing_file"
        ]
        if count > len(kinds):
            raise ValueError(f"file_name_case: at most {len(kinds)} files can be renamed")
        for kind in kinds[:count]:
            self.renames[kind] = f"{kind.capitalize()}.csv"
            self.note("file_name_case", kind, None)

    # ---------------------------------------------------------------- record defects

    def records(self, code: str, count: int, plan: tuple[tuple[str, Callable[[str], object]], ...]) -> None:
        """Spread ``count`` instances over the targets of ``plan`` whose file is free, round-robin."""
        targets = [(kind, edit) for kind, edit in plan if kind not in self.claimed]
        if not targets:
            raise ValueError(f"{code}: every file it can go into has a file-level defect")
        for k in range(count):
            kind, edit = targets[k % len(targets)]
            edit(kind)

    def edit_value(
        self,
        code: str,
        kind: str,
        column: str,
        value: Callable[[str], str],
        *,
        single: bool = False,
        drops: bool = False,
    ) -> None:
        data = self.file(kind)
        row = data.rows[self.pick(kind, single=single)]
        index = data.col(column)
        row[index] = value(row[index])
        if drops:
            self.drop(kind, row)
        self.note(code, kind, row, column)

    def copy_row(
        self, code: str, kind: str, change: tuple[str, str] | None = None, *, single: bool = False
    ) -> Row:
        data = self.file(kind)
        index = self.pick(kind, single=single)
        copy = list(data.rows[index])
        if change is not None:
            column, value = change
            copy[data.col(column)] = value
            self.drop(kind, copy)
        data.insert_after(index, copy)
        self.note(code, kind, copy, None)
        return copy

    def new_section(self, code: str, suffix: str, *, with_enrollment: bool) -> None:
        """A copy of a section under the id ``<id><suffix>``, with one enrollment when asked."""
        sections = self.file("sections")
        index = self.pick("sections")
        copy = list(sections.rows[index])
        old_id = copy[sections.col("Section_id")]
        copy[sections.col("Section_id")] = old_id + suffix
        sections.insert_after(index, copy)
        self.used["sections"].add(copy[sections.col("Section_id")])
        self.note(code, "sections", copy)
        if with_enrollment and "enrollments" not in self.claimed:
            enrollments = self.file("enrollments")
            section_col = enrollments.col("Section_id")
            for e_index, row in enumerate(enrollments.rows):
                if row[section_col] == old_id:
                    moved = list(row)
                    moved[section_col] = copy[sections.col("Section_id")]
                    enrollments.insert_after(e_index, moved)
                    break

    def malformed(self, kind: str, *, single: bool = False) -> None:
        data = self.file(kind)
        row = data.rows[self.pick(kind, single=single)]
        row.append("extra")
        self.drop(kind, row)
        self.note("malformed_row", kind, row)

    def inject(self, code: str, count: int) -> None:
        """Inject ``count`` defects of ``code``: one branch per code, read as a table."""
        v = self.edit_value
        if code in FILE_LEVEL:
            for _ in range(count):
                self.file_level(code)
        elif code in (
            "unsupported_file",
            "ignored_file",
            "header_normalized",
            "unknown_column",
            "file_name_case",
        ):
            getattr(self, code)(count)
        elif code == "malformed_row":
            self.records(
                code,
                count,
                (
                    ("enrollments", self.malformed),
                    ("sections", self.malformed),
                    ("students", lambda k: self.malformed(k, single=True)),
                ),
            )
        elif code == "missing_value":
            self.records(
                code,
                count,
                (
                    ("students", lambda k: v(code, k, "School_id", lambda x: "", single=True, drops=True)),
                    ("sections", lambda k: v(code, k, "Teacher_id", lambda x: "", drops=True)),
                    ("teachers", lambda k: v(code, k, "School_id", lambda x: "", single=True, drops=True)),
                    ("enrollments", lambda k: v(code, k, "School_id", lambda x: "")),
                ),
            )
        elif code == "conflicting_duplicate":
            self.records(
                code,
                count,
                (
                    (
                        "students",
                        lambda k: self.copy_row(code, k, ("Student_street", "1 Conflict Court"), single=True),
                    ),
                    ("sections", lambda k: self.copy_row(code, k, ("Period", "99"))),
                    ("teachers", lambda k: self.copy_row(code, k, ("Title", "Principal"), single=True)),
                ),
            )
        elif code == "invalid_characters":
            for n in range(count):
                self.new_section(code, f"#{n + 1}", with_enrollment=True)
        elif code == "unknown_reference":
            self.records(
                code,
                count,
                (
                    ("enrollments", lambda k: v(code, k, "Student_id", lambda x: "NOSUCH" + x)),
                    (
                        "students",
                        lambda k: v(code, k, "School_id", lambda x: "NOSUCH", single=True, drops=True),
                    ),
                    ("sections", lambda k: v(code, k, "Teacher_2_id", lambda x: "TNOSUCH")),
                ),
            )
        elif code == "duplicate_row":
            self.records(
                code,
                count,
                (
                    ("sections", lambda k: self.copy_row(code, k)),
                    ("students", lambda k: self.copy_row(code, k, single=True)),
                    ("teachers", lambda k: self.copy_row(code, k, single=True)),
                ),
            )
        elif code == "duplicate_enrollment":
            self.records(code, count, (("enrollments", lambda k: self.copy_row(code, k)),))
        elif code == "school_mismatch":
            self.records(
                code, count, (("enrollments", lambda k: v(code, k, "School_id", self._other_school)),)
            )
        elif code == "empty_section":
            for n in range(count):
                self.new_section(code, f"-E{n + 1}", with_enrollment=False)
        elif code == "invalid_email":
            self.records(
                code,
                count,
                (
                    ("students", lambda k: v(code, k, "Student_email", _no_at, single=True)),
                    ("teachers", lambda k: v(code, k, "Teacher_email", _no_at, single=True)),
                    ("schools", lambda k: v(code, k, "Principal_email", _no_at)),
                ),
            )
        elif code == "invalid_date":
            self.records(
                code,
                count,
                (
                    ("students", lambda k: v(code, k, "DOB", lambda x: "2011-02-30", single=True)),
                    ("sections", lambda k: v(code, k, "Term_start", lambda x: "13/45/2026")),
                ),
            )
        elif code == "invalid_grade":
            self.records(
                code,
                count,
                (
                    ("students", lambda k: v(code, k, "Grade", lambda x: "Grade " + x, single=True)),
                    ("sections", lambda k: v(code, k, "Grade", lambda x: "14")),
                ),
            )
        elif code == "invalid_value":
            self.records(
                code,
                count,
                (("students", lambda k: v(code, k, "Ell_status", lambda x: "Maybe", single=True)),),
            )
        elif code == "invalid_term":
            self.records(code, count, (("sections", self._swap_term),))
        elif code == "line_break_in_value":
            self.records(
                code,
                count,
                (
                    (
                        "sections",
                        lambda k: v(code, k, "Course_description", lambda x: x.replace(" ", "\n", 1)),
                    ),
                    (
                        "students",
                        lambda k: v(code, k, "Student_street", lambda x: x + "\nApt 2", single=True),
                    ),
                ),
            )
        elif code == "generated_name":
            self.records(code, count, (("sections", lambda k: v(code, k, "Name", lambda x: "")),))
        else:
            raise ValueError(f"unknown defect {code!r}: use one of {', '.join(DEFECT_CODES)}")

    def _other_school(self, school_id: str) -> str:
        schools = self.file("schools")
        ids = [row[schools.col("School_id")] for row in schools.rows]
        others = [s for s in ids if s != school_id]
        if not others:
            raise ValueError("school_mismatch: needs a district with two schools or more")
        return others[int(self.rng.integers(len(others)))]

    def _swap_term(self, kind: str) -> None:
        data = self.file(kind)
        start, end = data.col("Term_start"), data.col("Term_end")
        row = data.rows[self.pick(kind)]
        row[start], row[end] = row[end], row[start]
        self.note("invalid_term", kind, row)

    # ---------------------------------------------------------------- output

    def finish(self) -> list[Injected]:
        lines: dict[str, dict[int, int]] = {}
        for kind in KINDS:
            path = self.folder / f"{kind}.csv"
            code = self.claimed.get(kind)
            if code == "missing_file":
                path.unlink()
                continue
            if code == "missing_header":
                path.write_bytes(b"")
                continue
            if code == "empty_file":
                header = self.file(kind).header
                path.write_bytes((",".join(header) + "\n").encode())
                continue
            if kind in self.files:
                data, lines[kind] = self.files[kind].render()
                path.write_bytes(data)
        for kind, name in self.renames.items():
            (self.folder / f"{kind}.csv").rename(self.folder / name)
        manifest = list(self.extra_files)
        for code, kind, row, record, column in self.pending:
            line = None if row is None else lines[kind][id(row)]
            manifest.append(Injected(self.renames.get(kind, f"{kind}.csv"), line, code, record, column))
        return sorted(manifest, key=lambda e: (e.file, e.line or 0, e.code, e.column or ""))


def _normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _no_at(email: str) -> str:
    return email.replace("@", "_at_")


def inject_defects(folder: str | Path, defects: Mapping[str, int], *, seed: int = 1) -> list[Injected]:
    """Inject ``defects`` (finding code → count) into the district in ``folder``; return the manifest."""
    unknown = sorted(set(defects) - set(DEFECT_CODES))
    if unknown:
        raise ValueError(f"unknown defect {', '.join(unknown)}: use one of {', '.join(DEFECT_CODES)}")
    negative = sorted(code for code, count in defects.items() if count < 0)
    if negative:
        raise ValueError(f"defect counts must be positive: {', '.join(negative)}")
    injector = _Injector(Path(folder), seed)
    for code in DEFECT_CODES:
        if defects.get(code, 0) > 0:
            injector.inject(code, defects[code])
    return injector.finish()
