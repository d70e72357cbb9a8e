"""Shortcuts taken on large clean files give the same answers as the general path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.roster import enrollments, reader, values
from sync.roster.checks import ROW, positions, prepare
from sync.roster.columns import SPECS, resolve_header
from sync.roster.enrollments import find_positions
from sync.roster.model import RawFile
from sync.roster.repeats import find_repeats
from sync.roster.validate import validate_folder
from sync.roster.values import clean, normalise_email, normalise_year
from tests.roster.csvset import write_set


def _enrollments(sections: list[str], students: list[str]) -> pa.Table:
    return pa.table(
        {
            "Section_id": pa.chunked_array([pa.array(sections, pa.string())]),
            "Student_id": pa.chunked_array([pa.array(students, pa.string())]),
            "School_id": pa.chunked_array([pa.array(["S1"] * len(sections), pa.string())]),
        }
    )


def _repeats(sections: list[str], students: list[str]) -> list[int]:
    found = find_positions(
        _enrollments(sections, students),
        pa.chunked_array([pa.array(["A", "B", "C"])]),
        pa.chunked_array([pa.array(["1", "2", "3"])]),
        pa.chunked_array([pa.array(["S1"])]),
    )
    return np.flatnonzero(found.repeat).tolist()


def test_a_sorted_file_marks_only_the_later_copy_of_a_pair() -> None:
    assert _repeats(["A", "A", "A", "B", "B"], ["1", "2", "2", "1", "3"]) == [2]


def test_a_pair_repeated_after_an_unknown_row_is_still_next_to_its_original() -> None:
    assert _repeats(["A", "A", "X", "A", "B"], ["1", "2", "2", "2", "1"]) == [3]


def test_rows_with_an_unknown_id_are_never_repeats() -> None:
    assert _repeats(["X", "X", "A", "A"], ["1", "1", "9", "9"]) == []


def test_a_student_going_back_within_a_section_takes_the_unsorted_path() -> None:
    assert _repeats(["A", "A", "A", "A"], ["2", "1", "3", "2"]) == [3]


def test_a_section_going_back_takes_the_unsorted_path() -> None:
    assert _repeats(["B", "A", "B", "A"], ["1", "1", "1", "2"]) == [2]


def test_sections_together_in_any_order_find_repeats_in_unordered_and_ordered_sections() -> None:
    # C, A, B each in one run (not in file order of sections.csv); A's students go back, C repeats in order.
    sections = ["C", "C", "C", "A", "A", "A", "A", "B", "B"]
    students = ["1", "2", "2", "3", "1", "3", "2", "1", "2"]
    assert _repeats(sections, students) == [2, 5]


def test_one_unordered_section_among_many_ordered_is_sorted_alone_and_its_repeat_found() -> None:
    # Only section C's rows need sorting (the path taken when few sections are out of order).
    sections = ["A", "A", "A", "B", "B", "B", "C", "C", "C"]
    students = ["1", "2", "3", "1", "2", "3", "3", "1", "3"]
    assert _repeats(sections, students) == [8]


def test_every_section_unordered_sorts_all_rows_and_finds_each_repeat() -> None:
    # Students listed by name, not id, in every section (the path taken when most sections are out of order).
    sections = ["A", "A", "A", "B", "B", "B", "C", "C"]
    students = ["3", "1", "3", "2", "1", "1", "2", "1"]
    assert _repeats(sections, students) == [2, 5]


def test_a_section_in_two_places_finds_a_repeat_across_them() -> None:
    assert _repeats(["A", "A", "B", "A"], ["1", "2", "1", "1"]) == [3]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABCX"), st.sampled_from("1239")), max_size=40), st.booleans())
def test_repeats_are_the_later_copies_in_any_order(pairs: list[tuple[str, str]], grouped: bool) -> None:
    if grouped:  # the usual export: each section's rows together, students in any order within it
        pairs = sorted(pairs, key=lambda pair: pair[0])
    seen: set[tuple[str, str]] = set()
    expected = []
    for row, pair in enumerate(pairs):
        if pair in seen and "X" not in pair and "9" not in pair:
            expected.append(row)
        seen.add(pair)
    assert _repeats([p[0] for p in pairs], [p[1] for p in pairs]) == expected


def test_a_sorted_file_without_repeats_has_none() -> None:
    assert _repeats(["A", "A", "B", "C"], ["1", "3", "3", "1"]) == []


def _index_in(values: pa.ChunkedArray, targets: pa.Array) -> list[int]:
    return pc.fill_null(pc.index_in(values, value_set=targets), -1).to_pylist()


def test_positions_of_a_column_in_runs_only_at_its_start_match_a_plain_look_up() -> None:
    targets = pa.array([f"id{i}" for i in range(0, 100_000, 7)])
    head = [f"id{i // 50}" for i in range(70_000)]
    tail = [f"id{i}" for i in range(50_000)]
    values = pa.chunked_array([pa.array(head), pa.array(tail)])
    assert positions(values, targets).tolist() == _index_in(values, targets)


def test_positions_of_a_column_in_runs_only_after_its_start_match_a_plain_look_up() -> None:
    targets = pa.array([f"id{i}" for i in range(0, 100_000, 7)])
    head = [f"id{i}" for i in range(70_000)]
    tail = [f"id{i // 50}" for i in range(50_000)]
    values = pa.chunked_array([pa.array(head), pa.array([*tail, None])])
    assert positions(values, targets).tolist() == _index_in(values, targets)


def test_students_who_all_have_a_contact_keep_every_contact_row(tmp_path: Path) -> None:
    students = (
        "School_id,Student_id,First_name,Last_name,Username,Contact_name,Contact_phone\n"
        "S1,100,Ann,Lee,ann,Mom,\n"
        "S1,100,Ann,Lee,ann,Dad,555\n"
        "S2,101,Bob,Ray,bob,,555\n"
    )
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert result.roster is not None
    contacts = result.roster.student_contacts
    assert contacts["Student_id"].to_pylist() == ["100", "100", "101"]
    assert contacts["Contact_name"].to_pylist() == ["Mom", "Dad", None]


def test_a_student_row_without_any_contact_is_no_contact_row(tmp_path: Path) -> None:
    students = (
        "School_id,Student_id,First_name,Last_name,Username,Contact_name,Contact_phone\n"
        "S1,100,Ann,Lee,ann,Mom,\n"
        "S2,101,Bob,Ray,bob,,\n"
    )
    result = validate_folder(write_set(tmp_path, {"students.csv": students}))
    assert result.roster is not None
    assert result.roster.student_contacts["Student_id"].to_pylist() == ["100"]


def test_a_character_split_between_two_decoded_pieces_is_still_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_UTF8_PIECE", 3)
    data = "S1,Zoë\nS2,José\n".encode()
    assert reader._is_utf8(data, 0)
    raw, findings = reader.parse_csv_bytes(b"School_id,School_name\n" + data, "schools", "schools.csv")
    assert findings == []
    assert raw is not None
    assert raw.table.column(1).to_pylist() == ["Zoë", "José"]


def test_a_body_cut_inside_a_character_or_with_a_stray_byte_is_not_utf8() -> None:
    assert not reader._is_utf8("S1,José".encode()[:-1], 0)
    assert not reader._is_utf8(b"S1,\xff\n", 0)
    assert not reader._is_utf8(b"S1,\xed\xa0\x80\n", 0)  # a lone surrogate
    assert not reader._is_utf8(b"S1,\xc3,\xa9\n", 0)  # a character's bytes parted by a comma


def test_a_body_with_many_bytes_from_0x80_up_is_decoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_UTF8_HIGH_BYTES", 3)
    monkeypatch.setattr(reader, "_DECODE_PIECE", 5)
    assert reader._is_utf8("S1,Zoë,José,Łódź\n".encode(), 0)
    assert not reader._is_utf8("S1,Zoë,José,Łódź\n".encode()[:-2] + b"\n", 0)


def test_a_body_that_is_not_utf8_is_still_reported_on_its_line() -> None:
    raw, findings = reader.parse_csv_bytes(
        b"School_id,School_name\nS1,ok\nS2,b\xffd\n", "schools", "schools.csv"
    )
    assert raw is None
    assert [(f.code, f.line) for f in findings] == [("invalid_encoding", 3)]


def test_emails_that_are_all_valid_come_back_lower_cased_with_blanks_kept() -> None:
    emails = pa.chunked_array([pa.array(["Ann@School.ORG", None]), pa.array(["bob@x.io"])])
    normalised, invalid = normalise_email(emails)
    assert normalised.to_pylist() == ["ann@school.org", None, "bob@x.io"]
    assert invalid.to_pylist() == [False, False, False]


def test_an_invalid_email_among_valid_ones_is_the_only_one_dropped() -> None:
    emails = pa.chunked_array([pa.array(["Ann@School.ORG", "not an address", None])])
    normalised, invalid = normalise_email(emails)
    assert normalised.to_pylist() == ["ann@school.org", None, None]
    assert invalid.to_pylist() == [False, True, False]


_EMAIL_PIECES = st.one_of(st.text(alphabet="aZ9._-", max_size=5), st.text(alphabet="aZ9.@ é\t", max_size=5))
_EMAILS = st.one_of(
    st.none(),
    _EMAIL_PIECES,
    st.builds(lambda a, b, c: f"{a}@{b}.{c}", _EMAIL_PIECES, _EMAIL_PIECES, _EMAIL_PIECES),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_EMAILS, max_size=6), min_size=1, max_size=3))
@example([["ann@x.io", "x@.y"]])
@example([["ann@x.io"], ["@b.io", None]])
@example([["a@b.", "a.b@c", "a@b.c."]])
def test_emails_normalise_as_the_regex_says_whichever_path_is_taken(chunks: list[list[str | None]]) -> None:
    _assert_as_the_regex(normalise_email, values._EMAIL, chunks, lower=True)


def _assert_as_the_regex(
    normaliser: values.Normaliser, pattern: str, chunks: list[list[str | None]], *, lower: bool = False
) -> None:
    """``normaliser`` gives what matching ``pattern`` (after lower-casing, if ``lower``) gives."""
    column = pa.chunked_array([pa.array(chunk, pa.string()) for chunk in chunks], pa.string())
    candidate = pc.utf8_lower(column) if lower else column
    expected = pc.if_else(pc.match_substring_regex(candidate, pattern), candidate, None)
    normalised, invalid = normaliser(column)
    assert normalised.to_pylist() == expected.to_pylist()
    assert invalid.to_pylist() == [
        v is not None and x is None for v, x in zip(column.to_pylist(), expected.to_pylist(), strict=True)
    ]


def test_plain_lower_case_addresses_skip_the_regex_and_anything_doubtful_does_not() -> None:
    assert values._plain_addresses(pa.array(["ann@school.org", None, "b.c@x.y.io"]))
    for doubtful in ("a@b", "a@.io", "@b.io", "a@b.", "a@@b.io", "a b@c.io", "é@b.io", ""):
        assert not values._plain_addresses(pa.array(["ann@school.org", doubtful])), doubtful
    assert values._lower_ascii(pa.array(["ann@school.org"]))
    assert not values._lower_ascii(pa.array(["Ann@school.org"]))
    assert not values._lower_ascii(pa.array(["ané@school.org"]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.text(alphabet="0129a ", min_size=3, max_size=5)), max_size=5),
        min_size=1,
        max_size=3,
    )
)
@example([["2031", None, "2032"]])
@example([["2031", "203a"], ["20311"]])
def test_years_normalise_as_the_regex_says_whichever_path_is_taken(chunks: list[list[str | None]]) -> None:
    _assert_as_the_regex(normalise_year, values._YEAR, chunks)


def test_a_value_to_trim_in_a_later_chunk_of_a_clean_column_is_trimmed() -> None:
    column = pa.chunked_array([pa.array(["A1", "B2"]), pa.array(["C3 ", "", "D4"])])
    assert clean(column).to_pylist() == ["A1", "B2", "C3", None, "D4"]


def test_a_column_with_spaces_inside_still_trims_its_later_chunks() -> None:
    column = pa.chunked_array(
        [pa.array(["Elm Street", "Oak Road"]), pa.array(["\u00a0Pine Lane", "Ash Way"])]
    )
    assert clean(column).to_pylist() == ["Elm Street", "Oak Road", "Pine Lane", "Ash Way"]


def test_a_clean_column_is_handed_back_without_a_copy() -> None:
    column = pa.chunked_array([pa.array(["A1", None]), pa.array(["Zoë K", "x y"])])
    cleaned = clean(column)
    assert [chunk.buffers()[2].address for chunk in cleaned.chunks] == [
        chunk.buffers()[2].address for chunk in column.chunks
    ]


def test_pairs_compared_a_few_at_a_time_find_repeats_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enrollments, "_BLOCK", 2)
    assert _repeats(["A", "A", "A", "B", "B", "B"], ["1", "2", "2", "1", "3", "3"]) == [2, 5]


def test_a_file_that_goes_back_in_a_later_block_takes_the_unsorted_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(enrollments, "_BLOCK", 2)
    assert _repeats(["A", "A", "B", "B", "A", "B"], ["1", "2", "1", "3", "2", "3"]) == [4, 5]


def _students_with_third_contacts() -> str:
    rows = ["School_id,Student_id,Grade,Contact_name,Contact_phone"]
    rows += ["S1,100,9,Mom,", "S1,100,9,Dad,555", "S1,100,9,Mom,"]  # the third repeats the first
    rows += ["S1,101,9,Mom,1", "S1,101,9,Dad,2", "S1,101,9,Mom,3"]  # the third differs in its phone
    rows += [f"S2,{n},7,Aunt,{n}" for n in range(200, 230)]
    return "\n".join(rows) + "\n"


def test_a_third_contact_among_many_single_rows_is_compared_with_the_first(tmp_path: Path) -> None:
    result = validate_folder(write_set(tmp_path, {"students.csv": _students_with_third_contacts()}))
    assert [(f.line, f.record_id) for f in result.findings if f.code == "duplicate_row"] == [(4, "100")]
    assert result.roster is not None
    contacts = result.roster.student_contacts.filter(
        pc.is_in(result.roster.student_contacts["Student_id"], pa.array(["100", "101"]))
    )
    assert contacts["Contact_phone"].to_pylist() == [None, "555", "1", "2", "3"]


def _repeats_by_hand(rows: list[tuple[str, str, str]]) -> tuple[list[int], list[bool], list[tuple[str, int]]]:
    """The rules of repeated ids, row by row: kept rows, their "later" flags, findings (code, line)."""
    groups: dict[str, list[int]] = {}
    for index, (student, _, _) in enumerate(rows):
        groups.setdefault(student, []).append(index)
    dropped: set[int] = set()
    findings: list[tuple[str, int]] = []
    for members in groups.values():
        if len({rows[i][1] for i in members}) > 1:  # Grade may not differ between rows of a student
            dropped.update(members)
            findings += [("conflicting_duplicate", i + 2) for i in members]
            continue
        contacts: set[str] = set()
        for i in members:
            if rows[i][2] in contacts:  # the same contact again: a copy
                dropped.add(i)
                findings.append(("duplicate_row", i + 2))
            contacts.add(rows[i][2])
    kept = [i for i in range(len(rows)) if i not in dropped]
    later = [groups[rows[i][0]][0] != i for i in kept]
    return kept, later, sorted(findings)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("1234"), st.sampled_from("9K"), st.sampled_from("MDG")), max_size=14)
)
def test_repeated_ids_follow_the_rules_whatever_the_row_order(rows: list[tuple[str, str, str]]) -> None:
    spec = SPECS["students"]
    names = ["School_id", "Student_id", "Grade", "Contact_name"]
    raw = pa.table(
        {
            "School_id": pa.array(["S1"] * len(rows), pa.string()),
            "Student_id": pa.array([r[0] for r in rows], pa.string()),
            "Grade": pa.array([r[1] for r in rows], pa.string()),
            "Contact_name": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    header = resolve_header(spec, "students.csv", names, needed=())
    table = prepare(RawFile(kind="students", name="students.csv", table=raw, lines=None), spec, header)
    found = find_repeats(table, spec, "students.csv")
    kept, later, findings = _repeats_by_hand(rows)
    assert found.table[ROW].to_pylist() == kept
    assert found.later.tolist() == later
    assert sorted((f.code, f.line) for f in found.findings) == findings
