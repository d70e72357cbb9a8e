"""Validation of a Clever-format set: raw files → :class:`Roster` + findings (``clever-csv.md`` §1–§5).

Shared by every source: the CSV folder reader and the Clever API source both hand :func:`validate_raw` a
``{kind: RawFile}`` mapping. Files are checked in dependency order — schools, then students, teachers and
staff, then sections, then enrollments — so that a dropped record drops what depends on it (a dropped school
drops its students, teachers and sections; a dropped section drops its enrollments).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.findings import Finding, RunStatus, Severity, sort_key, status_of
from sync.profile import Profile, ProfileError
from sync.roster.allocator import validation_pool
from sync.roster.checks import (
    LINE,
    ROW,
    prepare,
    references,
    required_values,
    value_kinds,
)
from sync.roster.columns import CO_TEACHER_COLUMNS, CONTACT_COLUMNS, SPECS, FileSpec, Header, resolve_header
from sync.roster.columnwise import map_columns
from sync.roster.enrollments import Placed, Positions, Targets, check_enrollments, find_positions, place
from sync.roster.model import FILE_KINDS, REQUIRED_KINDS, RawFile, Roster, ValidationResult
from sync.roster.reader import CsvFolderSource
from sync.roster.repeats import find_repeats
from sync.roster.sections import check_nicknames, check_terms, fill_names, section_teachers
from sync.roster.source import Progress
from sync.roster.values import clean

_CREATE_COLUMNS = ("First_name", "Last_name", "Username")
#: Columns filtered at once by :func:`_filter_columns` (one per core; few, to keep memory low).
_FILTER_BATCH = 2
_STAFF_SOURCES = {"Teacher_id": "Staff_id", "Teacher_email": "Staff_email", "Username": "Username"}


def validate_folder(
    path: str | Path, profile: Profile | None = None, progress: Progress | None = None
) -> ValidationResult:
    """Read and validate the CSV set in folder ``path``. enrollments.csv is read on a second thread while
    the other files are checked (reading and checking then share the cores)."""
    with validation_pool():
        files, findings, rest = CsvFolderSource(path).read_first(progress=progress, later=_LATE)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="roster-read") as reader:
            late = reader.submit(rest)
            try:
                return _validate(files, findings, profile, late=late.result)
            finally:
                late.cancel()


def validate_raw(
    files: Mapping[str, RawFile], read_findings: Sequence[Finding], profile: Profile | None = None
) -> ValidationResult:
    """Validate raw files (``{kind: RawFile}``) with the findings made while reading them."""
    with validation_pool():
        return _validate(dict(files), read_findings, profile)


#: Files :func:`validate_folder` reads while the others are checked (only enrollments need nothing else).
_LATE = ("enrollments",)
Late = Callable[[], tuple[dict[str, RawFile], list[Finding]]]


def _validate(
    files: dict[str, RawFile],
    read_findings: Sequence[Finding],
    profile: Profile | None,
    late: Late | None = None,
) -> ValidationResult:
    """:func:`validate_raw` that empties ``files`` as it goes, so that a large set's raw columns are freed as
    soon as validation no longer needs them. ``late`` returns the files of :data:`_LATE` (and their read
    findings) when they are still being read: the checks of the other files start meanwhile."""
    try:
        check_profile(profile)
    except ProfileError:
        if late is not None:
            late()  # a file that cannot be read is reported first, as when every file was read before
        raise
    admitted = _Admitted(profile)
    admitted.add(files, read_findings)
    findings = admitted.findings

    def complete() -> bool:
        """Admit the late files; whether the checks can go on."""
        if late is not None:
            admitted.add(*late())
        return status_of(findings) is not RunStatus.FAILED and all(
            kind in admitted.names for kind in REQUIRED_KINDS
        )

    early_failure = status_of(findings) is RunStatus.FAILED or any(
        kind not in admitted.names for kind in REQUIRED_KINDS if late is None or kind not in _LATE
    )
    if early_failure or (late is None and not complete()):
        complete()
        return ValidationResult(None, sorted(findings, key=sort_key), admitted.counts())
    state = _State(admitted.pending, admitted.names, profile, late=complete if late is not None else None)
    roster = state.build()
    if roster is None:
        return ValidationResult(None, sorted(findings, key=sort_key), admitted.counts())
    counts = admitted.counts()
    for kind, valid in state.valid.items():
        counts[admitted.names[kind]]["valid"] = valid
    return ValidationResult(roster, sorted([*findings, *state.findings], key=sort_key), counts)


@dataclass
class _Admitted:
    """Files that passed the file-level checks (header, required columns) and the findings so far."""

    profile: Profile | None
    findings: list[Finding] = field(default_factory=list)
    pending: dict[str, tuple[RawFile, Header]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    _counts: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)

    def add(self, files: dict[str, RawFile], read_findings: Sequence[Finding]) -> None:
        """Admit ``files`` (emptied as it goes), made with ``read_findings``."""
        self.findings.extend(read_findings)
        for kind in FILE_KINDS:
            raw = files.pop(kind, None)
            if raw is None:
                continue
            spec = SPECS[kind]
            malformed = sum(1 for f in read_findings if f.file == raw.name and f.code == "malformed_row")
            self._counts[kind] = (raw.name, {"rows": raw.table.num_rows + malformed, "valid": 0})
            needed = needed_columns(kind, self.profile)
            header = resolve_header(spec, raw.name, raw.table.column_names, needed=needed)
            self.findings.extend(header.findings)
            if not header.ok:
                continue
            self.names[kind] = raw.name
            if raw.table.num_rows == 0 and not malformed:  # rows it had were rejected: not an empty file
                self.findings.append(_empty_file(raw.name, kind))
            self.pending[kind] = (raw, header)
            del raw

    def counts(self) -> dict[str, dict[str, int]]:
        """``{file name: {"rows", "valid"}}`` in the order of the file kinds."""
        return {self._counts[k][0]: dict(self._counts[k][1]) for k in FILE_KINDS if k in self._counts}


def check_profile(profile: Profile | None) -> None:
    """Profile rules checked before any row is read (``clever-csv.md`` §5)."""
    if profile is not None and profile.assigns_licenses and not profile.usage_location:
        raise ProfileError(
            profile.name,
            [("usage_location", "licences are assigned, so a two-letter usage location (e.g. US) is needed")],
        )


def _synced_users(kind: str, profile: Profile | None) -> bool:
    if profile is None:
        return False
    return kind in ("students", "teachers") or (kind == "staff" and profile.sync_staff)


def matching_source(kind: str, profile: Profile | None) -> str | None:
    """The identity-matching source column of ``kind`` under ``profile`` (staff use the teachers' rule)."""
    if profile is None or not _synced_users(kind, profile):
        return None
    source = (profile.students if kind == "students" else profile.teachers).matching.source
    if kind == "staff":
        return _STAFF_SOURCES.get(source)
    return source if source in SPECS[kind].names else None


def needed_columns(kind: str, profile: Profile | None) -> tuple[str, ...]:
    """Columns that ``profile`` requires on top of the spec (present in the header and non-blank)."""
    if profile is None or not _synced_users(kind, profile):
        return ()
    needed = list(_CREATE_COLUMNS) if profile.user_mode == "create" else []
    source = matching_source(kind, profile)
    if source is not None and source not in needed:
        needed.append(source)
    return tuple(needed)


def _empty_file(name: str, kind: str) -> Finding:
    if kind == "schools":
        return Finding(
            name,
            None,
            None,
            None,
            Severity.FILE_ERROR,
            "empty_file",
            f"{name} has a header but no rows; a set needs at least one school",
        )
    return Finding(
        name,
        None,
        None,
        None,
        Severity.WARNING,
        "empty_file",
        f"{name} has a header but no rows; every record of this kind will be treated as gone",
    )


@dataclass
class _State:
    """Working state of one validation run (internal): the files still to check, findings, valid counts."""

    #: Raw files and their resolved headers, taken (and prepared) by the step that checks them.
    pending: dict[str, tuple[RawFile, Header]]
    names: dict[str, str]
    profile: Profile | None
    findings: list[Finding] = field(default_factory=list)
    valid: dict[str, int] = field(default_factory=dict)
    #: Every id of each file, before any drop (to tell a dropped record from a missing one).
    seen: dict[str, pa.ChunkedArray] = field(default_factory=dict)
    #: Waits for the files still being read (enrollments) and says whether the checks can go on.
    late: Callable[[], bool] | None = None

    def build(self) -> Roster | None:
        """The roster, or ``None`` when a file read late stopped the run (its findings say why)."""
        # The enrollments' look-ups (millions of hashed ids) run on a second thread against the ids as read,
        # while the other files are checked; they are mapped onto the valid records afterwards.
        placed: Placed | None = None
        with ThreadPoolExecutor(max_workers=2) as pool:
            early = pool.submit(
                self._enrollment_positions,
                self._ids("sections"),
                self._ids("students"),
                self._ids("schools"),
            )
            try:
                schools = self._schools()
                school_ids = schools["School_id"]
                # Students depend on nothing but schools: checked on the second thread meanwhile.
                pupils = pool.submit(self._students, school_ids)
                try:
                    teachers, teacher_schools = self._people("teachers", school_ids)
                    if "staff" in self.pending:
                        staff, staff_schools = self._people("staff", school_ids)
                    else:
                        staff, staff_schools = _empty_people("staff")
                    sections, teaching = self._sections(school_ids, teachers)
                    # While the students are still checked: the enrollments' sections and schools.
                    read = early.result()
                    if read is not None:
                        placed = place(read[0], read[1], schools=schools, sections=sections)
                    del read
                finally:
                    students, contacts = pupils.result()
            finally:
                early.result()
        if placed is None:
            return None
        targets = Targets(
            schools=schools,
            students=students,
            sections=sections,
            names=self.names,
            seen=self.seen,
        )
        enrollments, more = check_enrollments(placed, targets, self.names["enrollments"])
        del placed
        self.findings += more
        self.valid["enrollments"] = enrollments.num_rows
        return Roster(
            schools=_without_row(schools),
            students=_without_row(students),
            student_contacts=contacts,
            teachers=_without_row(teachers),
            teacher_schools=teacher_schools,
            sections=_without_row(sections),
            section_teachers=teaching,
            enrollments=enrollments,
            staff=_without_row(staff),
            staff_schools=staff_schools,
        )

    # -- per file -------------------------------------------------------------------------------------

    def _take(self, kind: str) -> pa.Table:
        """The canonical table of ``kind`` (prepared here, on the thread that checks it)."""
        raw, header = self.pending.pop(kind)
        return prepare(raw, SPECS[kind], header, row_numbers=kind != "enrollments")

    def _ids(self, kind: str) -> pa.ChunkedArray:
        """The cleaned id column of a file not taken yet."""
        raw, header = self.pending[kind]
        return clean(raw.table.column(header.positions[SPECS[kind].id_column]))

    def _enrollment_positions(
        self, sections: pa.ChunkedArray, students: pa.ChunkedArray, schools: pa.ChunkedArray
    ) -> tuple[pa.Table, Positions] | None:
        if self.late is not None and not self.late():
            return None
        table = self._take("enrollments")
        return table, find_positions(table, sections, students, schools)

    def _base(self, kind: str) -> tuple[pa.Table, np.ndarray]:
        """Required values and repeated ids of one file: the table, and a mask of the rows whose id an
        earlier row already has."""
        spec = SPECS[kind]
        table = self._take(kind)
        self.seen[kind] = table[spec.id_column]
        table, found = required_values(table, spec, self.names[kind], spec.required)
        self.findings += found
        repeats = find_repeats(table, spec, self.names[kind])
        self.findings += repeats.findings
        return repeats.table, repeats.later

    def _profile_checks(self, kind: str, table: pa.Table) -> pa.Table:
        """Values of §3 (strict for the matching column) and the profile's non-blank columns (§5)."""
        spec = SPECS[kind]
        needed = needed_columns(kind, self.profile)
        strict = tuple(name for name in (matching_source(kind, self.profile),) if name is not None)
        table, found = value_kinds(table, spec, self.names[kind], strict_columns=strict)
        self.findings += found
        table, found = required_values(table, spec, self.names[kind], needed)
        self.findings += found
        return table

    def _schools(self) -> pa.Table:
        table, _ = self._base("schools")
        table = self._profile_checks("schools", table)
        self.valid["schools"] = table.num_rows
        return table

    def _students(self, school_ids: pa.ChunkedArray) -> tuple[pa.Table, pa.Table]:
        spec = SPECS["students"]
        rows, later = self._base("students")
        contacts = rows.select(["Student_id", *CONTACT_COLUMNS, LINE])
        columns = {name: rows.column(name) for name in rows.column_names if name not in CONTACT_COLUMNS}
        del rows
        entities = _filter_columns(columns, pa.array(~later) if later.any() else None)
        before = entities.num_rows
        entities = self._profile_checks("students", entities)
        entities, found = references(
            entities,
            column="School_id",
            targets=school_ids,
            seen=self.seen["schools"],
            file=self.names["students"],
            target_file=self.names["schools"],
            id_column=spec.id_column,
        )
        self.findings += found
        if entities.num_rows != before:
            contacts = contacts.filter(pc.is_in(contacts["Student_id"], value_set=entities["Student_id"]))
        self.valid["students"] = contacts.num_rows
        return entities, _with_contact(contacts)

    def _people(self, kind: str, school_ids: pa.ChunkedArray) -> tuple[pa.Table, pa.Table]:
        """Teachers or staff: one entity per id, one link row per (id, school)."""
        spec = SPECS[kind]
        id_column = spec.id_column
        rows, later = self._base(kind)
        entities = rows.filter(pa.array(~later)) if later.any() else rows
        entities = self._profile_checks(kind, entities.drop_columns(["School_id"]))
        links = rows.select([id_column, "School_id", LINE, ROW])
        links = links.filter(pc.is_in(links[id_column], value_set=entities[id_column]))
        links, found = references(
            links,
            column="School_id",
            targets=school_ids,
            seen=self.seen["schools"],
            file=self.names[kind],
            target_file=self.names["schools"],
            id_column=id_column,
            consequence="this school link is dropped, and the record too when it has no other school",
        )
        self.findings += found
        entities = entities.filter(pc.is_in(entities[id_column], value_set=links[id_column]))
        self.valid[kind] = links.num_rows
        return entities, links.drop_columns([ROW])

    def _sections(self, school_ids: pa.ChunkedArray, teachers: pa.Table) -> tuple[pa.Table, pa.Table]:
        spec = SPECS["sections"]
        file = self.names["sections"]
        table, _ = self._base("sections")
        table = self._profile_checks("sections", table)
        table, found = check_terms(table, file)
        self.findings += found
        replace = self.profile is not None and self.profile.replace_special_characters
        table, found = check_nicknames(table, file, replace=replace)
        self.findings += found
        for column, targets, kind in (
            ("School_id", school_ids, "schools"),
            ("Teacher_id", teachers["Teacher_id"], "teachers"),
        ):
            table, found = references(
                table,
                column=column,
                targets=targets,
                seen=self.seen[kind],
                file=file,
                target_file=self.names[kind],
                id_column=spec.id_column,
            )
            self.findings += found
        links, found = section_teachers(
            table,
            teachers["Teacher_id"],
            file=file,
            teachers_file=self.names["teachers"],
            seen=self.seen["teachers"],
        )
        self.findings += found
        table, found = fill_names(table, teachers, file)
        self.findings += found
        self.valid["sections"] = table.num_rows
        return table.drop_columns(["Teacher_id", *CO_TEACHER_COLUMNS]), links


def _filter_columns(columns: dict[str, pa.ChunkedArray], keep: pa.Array | None) -> pa.Table:
    """A table of ``columns`` filtered by ``keep``, built one column at a time while ``columns`` is emptied,
    so that a large table and its filtered copy are never both whole in memory."""
    out: dict[str, pa.ChunkedArray] = {}
    names = list(columns)
    rows = len(columns[names[0]]) if names else 0
    for start in range(0, len(names), _FILTER_BATCH):
        batch = [columns.pop(name) for name in names[start : start + _FILTER_BATCH]]
        kept = batch if keep is None else map_columns(lambda column: column.filter(keep), batch, rows=rows)
        out.update(zip(names[start : start + _FILTER_BATCH], kept, strict=True))
        del batch, kept
    return pa.table(out)


def _with_contact(contacts: pa.Table) -> pa.Table:
    """The rows of ``contacts`` that have a value in some contact column (all of them, without a copy, when
    one column is never blank)."""
    if any(contacts[name].null_count == 0 for name in CONTACT_COLUMNS):
        return contacts
    any_contact = pc.is_valid(contacts[CONTACT_COLUMNS[0]])
    for name in CONTACT_COLUMNS[1:]:
        any_contact = pc.or_(any_contact, pc.is_valid(contacts[name]))
    if any_contact.null_count == 0 and pc.all(any_contact).as_py():
        return contacts
    return contacts.filter(any_contact)


def _without_row(table: pa.Table) -> pa.Table:
    return table.drop_columns([ROW]) if ROW in table.column_names else table


def _empty_people(kind: str) -> tuple[pa.Table, pa.Table]:
    spec: FileSpec = SPECS[kind]
    entity_columns = [name for name in spec.names if name != "School_id"]
    people = pa.table(
        {name: pa.array([], pa.string()) for name in entity_columns} | {LINE: pa.array([], pa.int64())}
    )
    links = pa.table(
        {
            spec.id_column: pa.array([], pa.string()),
            "School_id": pa.array([], pa.string()),
            LINE: pa.array([], pa.int64()),
        }
    )
    return people, links
