"""Rules of sections.csv beyond the shared ones (``clever-csv.md`` §2–§4): terms, mail nicknames, the
section's teachers and generated class names. Each function returns the table it was given with its result
applied, and the findings it made."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.findings import Finding, Severity
from sync.roster.checks import LINE, ROW, as_int64, drop_rows, has_any, references, row_findings
from sync.roster.columns import CO_TEACHER_COLUMNS
from sync.roster.names import NICKNAME_MAX, nickname_problem, section_mail_nickname

_NULL = pa.scalar(None, pa.string())
_NICKNAME_ROOM = NICKNAME_MAX - len("Section_")


def check_terms(table: pa.Table, file: str) -> tuple[pa.Table, list[Finding]]:
    """Warning ``invalid_term`` when ``Term_end`` is before ``Term_start`` (ISO dates); both are dropped."""
    bad = pc.fill_null(pc.less(table["Term_end"], table["Term_start"]), False)
    if not has_any(bad):
        return table, []
    findings = row_findings(
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
    return table, findings


def check_nicknames(table: pa.Table, file: str, *, replace: bool) -> tuple[pa.Table, list[Finding]]:
    """``invalid_characters`` for a ``Section_<Section_id>`` that is no valid mail nickname: a record error
    (section dropped), or a warning when ``replace`` substitutes ``_`` and the result is valid."""
    ids = table["Section_id"]
    ok = pc.and_(
        pc.match_substring_regex(ids, r"^[A-Za-z0-9._-]*$"),
        pc.less_equal(pc.utf8_length(ids), _NICKNAME_ROOM),
    )
    bad_mask = pc.invert(ok)
    if not has_any(bad_mask):
        return table, []
    findings: list[Finding] = []
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
                f"A-Z a-z 0-9 - _ . in Section_id (at most {_NICKNAME_ROOM} characters)"
                + ("" if replace else ", or set replace_special_characters in the profile")
            )
            drop.append(row[ROW])
        findings.append(
            Finding(file, row[LINE], "Section_id", row["Section_id"], severity, "invalid_characters", message)
        )
    return drop_rows(table, drop), findings


def section_teachers(
    table: pa.Table, teacher_ids: pa.ChunkedArray, *, file: str, teachers_file: str, seen: pa.ChunkedArray
) -> tuple[pa.Table, list[Finding]]:
    """``Section_id, Teacher_id, Position, _line``: the primary teacher (1) and the known co-teachers
    (2–10); an unknown co-teacher is a warning and only that link is dropped. A teacher named twice for one
    section keeps the first position."""
    parts = [_links(table, "Teacher_id", 1)]
    findings: list[Finding] = []
    earlier = ["Teacher_id"]
    for position, name in enumerate(CO_TEACHER_COLUMNS, start=2):
        if table[name].null_count == table.num_rows:
            continue
        kept, found = references(
            table,
            column=name,
            targets=teacher_ids,
            seen=seen,
            file=file,
            target_file=teachers_file,
            id_column="Section_id",
            severity=Severity.WARNING,
            consequence="this co-teacher link is dropped",
        )
        findings += found
        fresh = pc.is_valid(kept[name])
        for other in earlier:
            fresh = pc.and_(fresh, pc.fill_null(pc.not_equal(kept[name], kept[other]), True))
        parts.append(_links(kept.filter(fresh), name, position))
        earlier.append(name)
    if len(parts) == 1:
        return parts[0], findings
    links = pa.concat_tables(parts)
    order = np.lexsort((as_int64(links["Position"]), as_int64(links[LINE])))
    return links.take(pa.array(order)), findings


def fill_names(table: pa.Table, teachers: pa.Table, file: str) -> tuple[pa.Table, list[Finding]]:
    """A blank ``Name`` becomes ``Course_name - <teacher's Last_name> - Period`` (blank parts left out; the
    Section_id when all are blank), with warning ``generated_name``."""
    blank = pc.is_null(table["Name"])
    if not has_any(blank):
        return table, []
    last_names = pc.take(
        teachers["Last_name"], pc.index_in(table["Teacher_id"], value_set=teachers["Teacher_id"])
    )
    generated = pc.binary_join_element_wise(
        table["Course_name"], last_names, table["Period"], " - ", null_handling="skip"
    )
    generated = pc.if_else(pc.equal(generated, ""), table["Section_id"], generated)
    findings = row_findings(
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
    return table.set_column(table.schema.get_field_index("Name"), "Name", name), findings


def _links(table: pa.Table, column: str, position: int) -> pa.Table:
    return pa.table(
        {
            "Section_id": table["Section_id"],
            "Teacher_id": table[column],
            "Position": pa.array(np.full(table.num_rows, position, dtype=np.int8)),
            LINE: table[LINE],
        }
    )
