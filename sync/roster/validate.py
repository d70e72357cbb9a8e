"""Validation of a Clever-format set: raw files → :class:`Roster` + findings (``clever-csv.md`` §1–§5).

Shared by every source: the CSV folder reader and the Clever API source both hand :func:`validate_raw` a
``{kind: RawFile}`` mapping. Files are checked in dependency order — schools, then students, teachers and
staff, then sections, then enrollments — so that a dropped record drops what depends on it (a dropped school
drops its students, teachers and sections; a dropped section drops its enrollments).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.findings import Finding, RunStatus, Severity, sort_key, status_of
from sync.profile import Profile, ProfileError
from sync.roster.checks import (
    LINE,
    ROW,
    drop_rows,
    has_any,
    positions,
    prepare,
    references,
    required_values,
    row_findings,
    unknown_references,
    value_kinds,
)
from sync.roster.columns import CO_TEACHER_COLUMNS, CONTACT_COLUMNS, SPECS, FileSpec, resolve_header
from sync.roster.model import FILE_KINDS, REQUIRED_KINDS, RawFile, Roster, ValidationResult
from sync.roster.names import nickname_problem, section_mail_nickname
from sync.roster.reader import CsvFolderSource
from sync.roster.repeats import find_repeats
from sync.roster.source import Progress

_CREATE_COLUMNS = ("First_name", "Last_name", "Username")
_STAFF_SOURCES = {"Teacher_id": "Staff_id", "Teacher_email": "Staff_email", "Username": "Username"}
_NULL = pa.scalar(None, pa.string())
_SECTION_NICKNAME_ROOM = 64 - len("Section_")


def validate_folder(
    path: str | Path, profile: Profile | None = None, progress: Progress | None = None
) -> ValidationResult:
    """Read and validate the CSV set in folder ``path``."""
    files, findings = CsvFolderSource(path).read_raw(progress=progress)
    return _validate(files, findings, profile)


def validate_raw(
    files: Mapping[str, RawFile], read_findings: Sequence[Finding], profile: Profile | None = None
) -> ValidationResult:
    """Validate raw files (``{kind: RawFile}``) with the findings made while reading them."""
    return _validate(dict(files), read_findings, profile)


def _validate(
    files: dict[str, RawFile], read_findings: Sequence[Finding], profile: Profile | None
) -> ValidationResult:
    """:func:`validate_raw` that empties ``files`` as it goes, so that a large set's raw columns are freed as
    soon as validation no longer needs them."""
    check_profile(profile)
    findings = list(read_findings)
    counts: dict[str, dict[str, int]] = {}
    tables: dict[str, pa.Table] = {}
    names: dict[str, str] = {}
    for kind in FILE_KINDS:
        raw = files.pop(kind, None)
        if raw is None:
            continue
        spec = SPECS[kind]
        malformed = sum(1 for f in read_findings if f.file == raw.name and f.code == "malformed_row")
        counts[raw.name] = {"rows": raw.table.num_rows + malformed, "valid": 0}
        header = resolve_header(spec, raw.name, raw.table.column_names, needed=needed_columns(kind, profile))
        findings.extend(header.findings)
        if not header.ok:
            continue
        table = prepare(raw, spec, header, row_numbers=kind != "enrollments")
        names[kind] = raw.name
        del raw
        if table.num_rows == 0:
            findings.append(_empty_file(names[kind], kind))
        tables[kind] = table
    if status_of(findings) is RunStatus.FAILED or any(kind not in tables for kind in REQUIRED_KINDS):
        return ValidationResult(None, sorted(findings, key=sort_key), counts)
    state = _State(tables, names, profile)
    roster = state.build()
    for kind, valid in state.valid.items():
        counts[names[kind]]["valid"] = valid
    return ValidationResult(roster, sorted([*findings, *state.findings], key=sort_key), counts)


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
    """Working state of one validation run (internal): the cleaned tables, findings, valid counts."""

    tables: dict[str, pa.Table]
    names: dict[str, str]
    profile: Profile | None
    findings: list[Finding] = field(default_factory=list)
    valid: dict[str, int] = field(default_factory=dict)
    #: Every id of each file, before any drop (to tell a dropped record from a missing one).
    seen: dict[str, pa.ChunkedArray] = field(default_factory=dict)

    def build(self) -> Roster:
        # The enrollments' look-ups (millions of hashed ids) run on a second thread against the ids as read,
        # while the other files are checked; they are mapped onto the valid records afterwards.
        enrollments = self.tables["enrollments"]
        with ThreadPoolExecutor(max_workers=1) as pool:
            early = pool.submit(
                _enrollment_lookups,
                enrollments,
                self.tables["sections"]["Section_id"],
                self.tables["students"]["Student_id"],
                self.tables["schools"]["School_id"],
            )
            try:
                schools = self._schools()
                school_ids = schools["School_id"]
                students, contacts = self._students(school_ids)
                teachers, teacher_schools = self._people("teachers", school_ids)
                if "staff" in self.tables:
                    staff, staff_schools = self._people("staff", school_ids)
                else:
                    staff, staff_schools = _empty_people("staff")
                sections, section_teachers = self._sections(school_ids, teachers)
            finally:
                lookups = early.result()
        enrollments = self._enrollments(schools, students, sections, lookups)
        return Roster(
            schools=_without_row(schools),
            students=_without_row(students),
            student_contacts=contacts,
            teachers=_without_row(teachers),
            teacher_schools=teacher_schools,
            sections=_without_row(sections),
            section_teachers=section_teachers,
            enrollments=enrollments,
            staff=_without_row(staff),
            staff_schools=staff_schools,
        )

    # -- per file -------------------------------------------------------------------------------------

    def _base(self, kind: str) -> tuple[pa.Table, np.ndarray]:
        """Required values and repeated ids of one file: the table, and a mask of the rows whose id an
        earlier row already has."""
        spec = SPECS[kind]
        table = self.tables.pop(kind)
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
        any_contact = pc.is_valid(contacts[CONTACT_COLUMNS[0]])
        for name in CONTACT_COLUMNS[1:]:
            any_contact = pc.or_(any_contact, pc.is_valid(contacts[name]))
        contacts = contacts.filter(any_contact)
        return entities, contacts

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
        table = self._terms(table, file)
        table = self._nicknames(table, file)
        table, found = references(
            table,
            column="School_id",
            targets=school_ids,
            seen=self.seen["schools"],
            file=file,
            target_file=self.names["schools"],
            id_column=spec.id_column,
        )
        self.findings += found
        teacher_ids = teachers["Teacher_id"]
        table, found = references(
            table,
            column="Teacher_id",
            targets=teacher_ids,
            seen=self.seen["teachers"],
            file=file,
            target_file=self.names["teachers"],
            id_column=spec.id_column,
        )
        self.findings += found
        links = self._section_teachers(table, teacher_ids, file)
        table = self._names(table, teachers, file)
        self.valid["sections"] = table.num_rows
        return table.drop_columns(["Teacher_id", *CO_TEACHER_COLUMNS]), links

    def _terms(self, table: pa.Table, file: str) -> pa.Table:
        start, end = table["Term_start"], table["Term_end"]
        bad = pc.fill_null(pc.less(end, start), False)
        if not has_any(bad):
            return table
        self.findings += row_findings(
            table.filter(bad),
            file=file,
            id_column="Section_id",
            column="Term_end",
            severity=Severity.WARNING,
            code="invalid_term",
            message=lambda _row: "Term_end is before Term_start; both dates are dropped — correct the term",
        )
        for name in ("Term_start", "Term_end"):
            column = pc.if_else(bad, _NULL, table[name])
            table = table.set_column(table.schema.get_field_index(name), name, column)
        return table

    def _nicknames(self, table: pa.Table, file: str) -> pa.Table:
        ids = table["Section_id"]
        ok = pc.and_(
            pc.match_substring_regex(ids, r"^[A-Za-z0-9._-]*$"),
            pc.less_equal(pc.utf8_length(ids), _SECTION_NICKNAME_ROOM),
        )
        bad_mask = pc.invert(ok)
        if not has_any(bad_mask):
            return table
        replace = self.profile is not None and self.profile.replace_special_characters
        drop: list[int] = []
        for row in table.filter(bad_mask).select(["Section_id", LINE, ROW]).to_pylist():
            nickname = f"Section_{row['Section_id']}"
            problem = nickname_problem(nickname)
            replaced = section_mail_nickname(row["Section_id"], replace_special_characters=True)
            if replace and nickname_problem(replaced) is None:
                severity = Severity.WARNING
                message = f"mail nickname {nickname!r} {problem}; it is written as {replaced!r}"
            else:
                severity = Severity.RECORD_ERROR
                message = (
                    f"mail nickname {nickname!r} {problem}; the section is dropped — use only "
                    "A-Z a-z 0-9 - _ . in Section_id (at most 56 characters)"
                    + ("" if replace else ", or set replace_special_characters in the profile")
                )
                drop.append(row[ROW])
            self.findings.append(
                Finding(
                    file, row[LINE], "Section_id", row["Section_id"], severity, "invalid_characters", message
                )
            )
        return drop_rows(table, drop)

    def _section_teachers(self, table: pa.Table, teacher_ids: pa.ChunkedArray, file: str) -> pa.Table:
        """``Section_id, Teacher_id, Position``: the primary teacher (1) and the known co-teachers (2–10). A
        teacher named twice for one section keeps the first position."""
        parts = [_links(table, "Teacher_id", 1)]
        earlier = ["Teacher_id"]
        for position, name in enumerate(CO_TEACHER_COLUMNS, start=2):
            if table[name].null_count == table.num_rows:
                continue
            kept, found = references(
                table,
                column=name,
                targets=teacher_ids,
                seen=self.seen["teachers"],
                file=file,
                target_file=self.names["teachers"],
                id_column="Section_id",
                severity=Severity.WARNING,
                consequence="this co-teacher link is dropped",
            )
            self.findings += found
            fresh = pc.is_valid(kept[name])
            for other in earlier:
                fresh = pc.and_(fresh, pc.fill_null(pc.not_equal(kept[name], kept[other]), True))
            parts.append(_links(kept.filter(fresh), name, position))
            earlier.append(name)
        if len(parts) == 1:
            return parts[0]
        links = pa.concat_tables(parts)
        lines = _as_numpy(links[LINE])
        positions_ = np.asarray(links["Position"].to_numpy(), dtype=np.int64)
        return links.take(pa.array(np.lexsort((positions_, lines))))

    def _names(self, table: pa.Table, teachers: pa.Table, file: str) -> pa.Table:
        blank = pc.is_null(table["Name"])
        if not has_any(blank):
            return table
        last_names = pc.take(
            teachers["Last_name"], pc.index_in(table["Teacher_id"], value_set=teachers["Teacher_id"])
        )
        generated = pc.binary_join_element_wise(
            table["Course_name"], last_names, table["Period"], " - ", null_handling="skip"
        )
        generated = pc.if_else(pc.equal(generated, ""), table["Section_id"], generated)
        self.findings += row_findings(
            table.filter(blank),
            file=file,
            id_column="Section_id",
            column="Name",
            severity=Severity.WARNING,
            code="generated_name",
            message=lambda _row: (
                "Name is blank; the class name is built from Course_name, the teacher's "
                "last name and Period — fill in Name to choose it"
            ),
        )
        name = pc.if_else(blank, generated, table["Name"])
        return table.set_column(table.schema.get_field_index("Name"), "Name", name)

    def _enrollments(
        self, schools: pa.Table, students: pa.Table, sections: pa.Table, lookups: _Lookups
    ) -> pa.Table:
        spec = SPECS["enrollments"]
        file = self.names["enrollments"]
        table = self.tables["enrollments"]
        section = _remap(lookups.section, table["Section_id"], sections, "Section_id")
        student = _remap(lookups.student, table["Student_id"], students, "Student_id")
        school = _remap(lookups.school, table["School_id"], schools, "School_id")
        repeat = lookups.repeat
        blank = pc.is_null(table["Section_id"])
        for name in ("Student_id", "School_id"):
            blank = pc.or_(blank, pc.is_null(table[name]))
        if has_any(blank):
            table, found = required_values(table, spec, file, spec.required, id_column="Section_id")
            self.findings += found
            keep = ~_mask(blank)
            section, student, school, repeat = section[keep], student[keep], school[keep], repeat[keep]
        unknown = (section < 0) | (student < 0)
        if unknown.any():
            for column, index, kind in (
                ("Section_id", section, "sections"),
                ("Student_id", student, "students"),
            ):
                if (index < 0).any():
                    self.findings += unknown_references(
                        table.filter(pa.array(index < 0)),
                        column=column,
                        seen=self.seen[kind],
                        file=file,
                        target_file=self.names[kind],
                        id_column="Section_id",
                        consequence="the enrollment is dropped",
                    )
            keep = ~unknown
            table, section, school, repeat = (
                table.filter(pa.array(keep)),
                section[keep],
                school[keep],
                repeat[keep],
            )
        if repeat.any():
            self.findings += row_findings(
                table.filter(pa.array(repeat)),
                file=file,
                id_column="Section_id",
                column=None,
                severity=Severity.WARNING,
                code="duplicate_enrollment",
                message=lambda row: (
                    f"this enrollment repeats an earlier one of the same student in section "
                    f"{row['Section_id']}; it is counted once — remove the copy"
                ),
            )
            keep = ~repeat
            table, section, school = table.filter(pa.array(keep)), section[keep], school[keep]
        self._school_mismatch(table, section, school, schools, sections, file)
        self._empty_sections(section, sections)
        self.valid["enrollments"] = table.num_rows
        return table.select(["Section_id", "Student_id", "School_id", LINE])

    def _school_mismatch(
        self,
        table: pa.Table,
        section: np.ndarray,
        school: np.ndarray,
        schools: pa.Table,
        sections: pa.Table,
        file: str,
    ) -> None:
        section_school = positions(sections["School_id"], schools["School_id"])
        mismatch = school != section_school[section]
        if not mismatch.any():
            return
        expected = pc.take(sections["School_id"], pa.array(section[mismatch]))
        bad = table.filter(pa.array(mismatch)).append_column("_expected", expected)
        self.findings += row_findings(
            bad,
            file=file,
            id_column="Section_id",
            column="School_id",
            severity=Severity.WARNING,
            code="school_mismatch",
            message=lambda row: (
                f"School_id differs from the section's School_id {row['_expected']!r}; "
                "the section's school is used — correct the enrollment"
            ),
        )

    def _empty_sections(self, section_index: np.ndarray, sections: pa.Table) -> None:
        used = np.bincount(section_index, minlength=sections.num_rows) if len(section_index) else None
        empty = np.ones(sections.num_rows, dtype=bool) if used is None else used == 0
        if not empty.any():
            return
        self.findings += row_findings(
            sections.filter(pa.array(empty)),
            file=self.names["sections"],
            id_column="Section_id",
            column=None,
            severity=Severity.WARNING,
            code="empty_section",
            message=lambda _row: "the section has no enrollments; its class will have no students",
        )


@dataclass(frozen=True)
class _Lookups:
    """Where each enrollment's ids are in the files as read (``-1``: absent), and which enrollments repeat an
    earlier (Section_id, Student_id) pair."""

    section: np.ndarray
    student: np.ndarray
    school: np.ndarray
    repeat: np.ndarray


def _enrollment_lookups(
    enrollments: pa.Table, sections: pa.ChunkedArray, students: pa.ChunkedArray, schools: pa.ChunkedArray
) -> _Lookups:
    """The expensive part of the enrollment checks (millions of hashed ids and a sort), done against the ids
    as read so that it can run while the other files are checked."""
    section = positions(enrollments["Section_id"], sections)
    student = positions(enrollments["Student_id"], students)
    school = positions(enrollments["School_id"], schools)
    repeat = np.zeros(len(section), dtype=bool)
    both = (section >= 0) & (student >= 0)
    key = section.astype(np.int64) * max(len(students), 1) + student
    if not both.all():
        key = key[both]
    ordered = np.sort(key)
    if (ordered[1:] == ordered[:-1]).any():
        order = np.argsort(key, kind="stable")
        repeated = np.zeros(len(key), dtype=bool)
        repeated[order[1:]] = key[order[1:]] == key[order[:-1]]
        repeat[np.flatnonzero(both)[repeated] if not both.all() else repeated] = True
    return _Lookups(section, student, school, repeat)


def _remap(raw: np.ndarray, values: pa.ChunkedArray, valid: pa.Table, column: str) -> np.ndarray:
    """Positions in the raw file (``raw``, from :func:`positions`) → positions in the valid table ``valid``
    (``-1`` where the record was dropped). A value whose first raw row was dropped while a later row of the
    same id was kept is looked up again."""
    if len(raw) == 0:
        return raw
    rows = _as_numpy(valid[ROW])
    # One slot past the largest position, so that ``-1`` (not found) maps to ``-1``.
    remap = np.full(int(max(raw.max(), rows.max(initial=-1))) + 2, -1, dtype=np.int32)
    remap[rows] = np.arange(len(rows), dtype=np.int32)
    mapped: np.ndarray = remap[raw]
    missing = (mapped < 0) & (raw >= 0)
    if missing.any():
        again = positions(values.filter(pa.array(missing)), valid[column])
        mapped[missing] = again
    return mapped


def _as_numpy(array: pa.ChunkedArray) -> np.ndarray:
    """Integers as an int64 NumPy array (a null, such as the line of an API record, as -1)."""
    if not len(array):
        return np.zeros(0, dtype=np.int64)
    return np.asarray(pc.fill_null(array, -1).to_numpy(), dtype=np.int64)


def _mask(array: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(), dtype=bool)


def _filter_columns(columns: dict[str, pa.ChunkedArray], keep: pa.Array | None) -> pa.Table:
    """A table of ``columns`` filtered by ``keep``, built one column at a time while ``columns`` is emptied,
    so that a large table and its filtered copy are never both whole in memory."""
    out: dict[str, pa.ChunkedArray] = {}
    for name in list(columns):
        column = columns.pop(name)
        out[name] = column if keep is None else column.filter(keep)
        del column
    return pa.table(out)


def _without_row(table: pa.Table) -> pa.Table:
    return table.drop_columns([ROW]) if ROW in table.column_names else table


def _links(table: pa.Table, column: str, position: int) -> pa.Table:
    return pa.table(
        {
            "Section_id": table["Section_id"],
            "Teacher_id": table[column],
            "Position": pa.array(np.full(table.num_rows, position, dtype=np.int8)),
            LINE: table[LINE],
        }
    )


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
