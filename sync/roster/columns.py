"""The column contract of each Clever-format file (``clever-csv.md`` §2–§3) and header matching.

Header matching is case-insensitive and treats space and underscore as equal (``School id`` is
``School_id``); ``Dob`` is an accepted spelling of ``DOB``. Each column has a *value kind* that says which
rule of §3 applies to its values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sync.findings import Finding, Severity
from sync.roster.printable import printable


class Kind(StrEnum):
    """What a column holds (``clever-csv.md`` §3)."""

    ID = "id"
    TEXT = "text"
    EMAIL = "email"
    DATE = "date"
    GRADE = "grade"
    YES_NO = "yes_no"
    GENDER = "gender"
    FRL = "frl"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind = Kind.TEXT
    required: bool = False


@dataclass(frozen=True, slots=True)
class FileSpec:
    """The columns of one file of the set."""

    kind: str
    file_name: str
    #: The column that identifies a record (``Student_id`` …); for enrollments the section.
    id_column: str
    columns: tuple[Column, ...]
    #: Columns in which rows that repeat an id may differ (``clever-csv.md`` §2 *Repeated ids*).
    may_differ: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _cols(*specs: str | tuple[str, Kind] | tuple[str, Kind, bool]) -> tuple[Column, ...]:
    out: list[Column] = []
    for spec in specs:
        if isinstance(spec, str):
            out.append(Column(spec))
        elif len(spec) == 2:
            out.append(Column(spec[0], spec[1]))
        else:
            out.append(Column(spec[0], spec[1], spec[2]))
    return tuple(out)


REQ = True
CONTACT_COLUMNS = (
    "Contact_relationship",
    "Contact_type",
    "Contact_name",
    "Contact_phone",
    "Contact_phone_type",
    "Contact_email",
    "Contact_sis_id",
)
#: Co-teacher columns of sections.csv, in position order (position 2 … 10).
CO_TEACHER_COLUMNS = tuple(f"Teacher_{n}_id" for n in range(2, 11))

SCHOOLS = FileSpec(
    "schools",
    "schools.csv",
    "School_id",
    _cols(
        ("School_id", Kind.ID, REQ),
        ("School_name", Kind.TEXT, REQ),
        "School_number",
        "State_id",
        ("Low_grade", Kind.GRADE),
        ("High_grade", Kind.GRADE),
        "Principal",
        ("Principal_email", Kind.EMAIL),
        "School_address",
        "School_city",
        "School_state",
        "School_zip",
        "School_phone",
    ),
)

STUDENTS = FileSpec(
    "students",
    "students.csv",
    "Student_id",
    _cols(
        ("School_id", Kind.ID, REQ),
        ("Student_id", Kind.ID, REQ),
        "Student_number",
        "State_id",
        "Last_name",
        "Middle_name",
        "First_name",
        ("Grade", Kind.GRADE),
        ("Gender", Kind.GENDER),
        ("Graduation_year", Kind.YEAR),
        ("DOB", Kind.DATE),
        "Race",
        ("Hispanic_Latino", Kind.YES_NO),
        ("Ell_status", Kind.YES_NO),
        ("Frl_status", Kind.FRL),
        "IEP_status",
        "Home_language",
        "Student_street",
        "Student_city",
        "Student_state",
        "Student_zip",
        ("Student_email", Kind.EMAIL),
        *CONTACT_COLUMNS,
        "Username",
        "Password",
        "Unweighted_gpa",
        "Weighted_gpa",
    ),
    may_differ=CONTACT_COLUMNS,
)

TEACHERS = FileSpec(
    "teachers",
    "teachers.csv",
    "Teacher_id",
    _cols(
        ("School_id", Kind.ID, REQ),
        ("Teacher_id", Kind.ID, REQ),
        "Teacher_number",
        "State_teacher_id",
        ("Teacher_email", Kind.EMAIL),
        "First_name",
        "Middle_name",
        "Last_name",
        "Title",
        "Username",
        "Password",
    ),
    may_differ=("School_id",),
)

SECTIONS = FileSpec(
    "sections",
    "sections.csv",
    "Section_id",
    _cols(
        ("School_id", Kind.ID, REQ),
        ("Section_id", Kind.ID, REQ),
        ("Teacher_id", Kind.ID, REQ),
        *((name, Kind.ID) for name in CO_TEACHER_COLUMNS),
        "Name",
        "Section_number",
        ("Grade", Kind.GRADE),
        "Course_name",
        "Course_number",
        "Course_description",
        "Period",
        "Subject",
        "Term_name",
        ("Term_start", Kind.DATE),
        ("Term_end", Kind.DATE),
    ),
)

ENROLLMENTS = FileSpec(
    "enrollments",
    "enrollments.csv",
    "Section_id",
    _cols(("School_id", Kind.ID, REQ), ("Section_id", Kind.ID, REQ), ("Student_id", Kind.ID, REQ)),
)

STAFF = FileSpec(
    "staff",
    "staff.csv",
    "Staff_id",
    _cols(
        ("School_id", Kind.ID, REQ),
        ("Staff_id", Kind.ID, REQ),
        ("Staff_email", Kind.EMAIL),
        "First_name",
        "Last_name",
        "Department",
        "Title",
        "Username",
        "Password",
        "Role",
    ),
    may_differ=("School_id",),
)

SPECS: dict[str, FileSpec] = {
    spec.kind: spec for spec in (SCHOOLS, STUDENTS, TEACHERS, SECTIONS, ENROLLMENTS, STAFF)
}
#: Spellings accepted without a ``header_normalized`` warning, by normalised key.
_ALIASES = {"dob": "DOB"}


def header_key(name: str) -> str:
    """The normalised form of a header: trimmed, lower-case, spaces as underscores."""
    return "_".join(name.strip().lower().replace("_", " ").split())


@dataclass(frozen=True)
class Header:
    """How the headers of one file map onto its spec: ``{canonical name: column index}``."""

    positions: dict[str, int]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.FILE_ERROR for f in self.findings)


#: Separators that spreadsheets in some locales (and tab-delimited exports) write instead of commas.
_OTHER_SEPARATORS = ((";", "';'"), ("\t", "tabs"), ("|", "'|'"))
_SAVE_WITH_COMMAS = "save the file as comma-separated CSV (CSV UTF-8 in Excel)"


def _separated_by(as_written: str, by_key: dict[str, str]) -> str | None:
    """How a header name is separated when it is several known columns glued by another separator than a
    comma (``School_id;Teacher_id``), else ``None``."""
    for separator, shown in _OTHER_SEPARATORS:
        if separator in as_written and sum(header_key(p) in by_key for p in as_written.split(separator)) >= 2:
            return shown
    return None


def resolve_header(
    spec: FileSpec, file_name: str, names: list[str], *, needed: tuple[str, ...] = ()
) -> Header:
    """Match the headers as written to ``spec``. ``needed``: columns the profile requires on top of the
    spec's required ones (``clever-csv.md`` §5)."""
    by_key = {header_key(column.name): column.name for column in spec.columns}
    positions: dict[str, int] = {}
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    # Header names that are several known columns glued by ';', a tab or '|', and by which.
    glued = [_separated_by(as_written, by_key) for as_written in names]
    separator = next(filter(None, glued), None)
    for index, as_written in enumerate(names):
        key = header_key(as_written)
        canonical = by_key.get(key)
        written = printable(as_written)  # as shown in findings: control characters escaped
        if canonical is None:
            advice = (
                "check its spelling or remove it"
                if glued[index] is None
                else f"it looks like several columns separated by {glued[index]}: {_SAVE_WITH_COMMAS}"
            )
            findings.append(
                Finding(
                    file_name,
                    1,
                    written,
                    None,
                    Severity.WARNING,
                    "unknown_column",
                    f"column '{written}' is not a {spec.file_name} column and is ignored; {advice}",
                )
            )
            continue
        if canonical in positions:
            findings.append(
                Finding(
                    file_name,
                    1,
                    written,
                    None,
                    Severity.FILE_ERROR,
                    "duplicate_column",
                    f"columns '{seen[canonical]}' and '{written}' are both {canonical}; keep only one",
                )
            )
            continue
        positions[canonical] = index
        seen[canonical] = written
        if as_written != canonical and not (key in _ALIASES and as_written.strip().lower() == key):
            findings.append(
                Finding(
                    file_name,
                    1,
                    canonical,
                    None,
                    Severity.WARNING,
                    "header_normalized",
                    f"header '{written}' was read as {canonical}; write it as {canonical}",
                )
            )
    add_it = (
        "add it to the header row"
        if separator is None
        else f"the header looks separated by {separator}, not commas: {_SAVE_WITH_COMMAS}"
    )
    for name in (*spec.required, *needed):
        if name not in positions:
            findings.append(
                Finding(
                    file_name,
                    1,
                    name,
                    None,
                    Severity.FILE_ERROR,
                    "missing_column",
                    f"required column {name} is missing; {add_it}",
                )
            )
    return Header(positions, tuple(dict.fromkeys(findings)))
