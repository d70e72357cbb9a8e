"""The synthetic district generator: deterministic, the right size, realistic, and defects where it says."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bench.defects import DEFECT_CODES, FILE_LEVEL, Injected
from bench.district import DistrictSize, apply_churn, generate_district, main, size_of
from sync.profile import load_profile
from sync.roster.validate import validate_folder

TINY = DistrictSize(schools=4, students=240, teachers=24, sections=48, enrollments=480)
EXAMPLE_PROFILE = Path(__file__).resolve().parents[2] / "examples" / "profile.toml"
FILES = ("schools", "students", "teachers", "sections", "enrollments")


def raw_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) for each record of a CSV file, header included as line 1."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        line = 1
        for row in reader:
            yield line, row
            line = reader.line_num + 1


def raw_record_at(path: Path, line: int) -> list[str]:
    return next(row for at, row in raw_records(path) if at == line)


def records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line, row as a dict) for each record of a CSV file; header = line 1."""
    rows = raw_records(path)
    _, header = next(rows)
    for line, row in rows:
        yield line, dict(zip(header, row, strict=False))


def table(folder: Path, kind: str) -> list[dict[str, str]]:
    """Rows of ``kind``'s file, found whatever the case of its name."""
    path = next(p for p in folder.iterdir() if p.name.lower() == f"{kind}.csv")
    return [row for _, row in records(path)]


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("district")
    generate_district(folder, TINY, seed=3)
    return folder


# ------------------------------------------------------------------------------------------- determinism


def test_the_same_seed_writes_identical_bytes(tmp_path: Path, district: Path) -> None:
    generate_district(tmp_path, TINY, seed=3)
    assert file_bytes(tmp_path) == file_bytes(district)


def test_another_seed_writes_another_district(tmp_path: Path, district: Path) -> None:
    generate_district(tmp_path, TINY, seed=4)
    assert file_bytes(tmp_path)["students.csv"] != file_bytes(district)["students.csv"]


def test_chunking_does_not_change_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    size = DistrictSize(schools=3, students=90, teachers=9, sections=12, enrollments=60)
    generate_district(tmp_path / "whole", size, seed=1)
    monkeypatch.setattr("bench.district.STUDENTS_PER_CHUNK", 1_000_000)
    monkeypatch.setattr("bench.district.SECTIONS_PER_CHUNK", 1_000_000)
    generate_district(tmp_path / "again", size, seed=1)
    assert file_bytes(tmp_path / "whole") == file_bytes(tmp_path / "again")


# ------------------------------------------------------------------------------------------------- sizes


def test_each_file_holds_the_number_of_records_asked_for(district: Path) -> None:
    assert len({r["School_id"] for r in table(district, "schools")}) == TINY.schools
    assert len({r["Student_id"] for r in table(district, "students")}) == TINY.students
    assert len({r["Teacher_id"] for r in table(district, "teachers")}) == TINY.teachers
    assert len({r["Section_id"] for r in table(district, "sections")}) == TINY.sections
    assert len(table(district, "enrollments")) == TINY.enrollments


def test_presets_are_found_by_name_in_any_case() -> None:
    assert size_of("m") == size_of("M")
    assert size_of("xl").students > size_of("M").students > size_of("S").students


def test_an_unknown_preset_is_refused_with_the_names_that_exist() -> None:
    with pytest.raises(ValueError, match="S, M, XL"):
        size_of("huge")


def test_a_size_with_more_seats_than_students_is_refused() -> None:
    with pytest.raises(ValueError, match="enrollments per section"):
        DistrictSize(schools=2, students=10, teachers=2, sections=1, enrollments=50)


# ---------------------------------------------------------------------------------------------- realism


def test_every_enrollment_is_a_student_of_the_sections_school(district: Path) -> None:
    student_school = {r["Student_id"]: r["School_id"] for r in table(district, "students")}
    section_school = {r["Section_id"]: r["School_id"] for r in table(district, "sections")}
    for row in table(district, "enrollments"):
        assert student_school[row["Student_id"]] == section_school[row["Section_id"]] == row["School_id"]


def test_no_enrollment_repeats_and_no_section_is_empty(district: Path) -> None:
    pairs = [(r["Section_id"], r["Student_id"]) for r in table(district, "enrollments")]
    assert len(pairs) == len(set(pairs))
    assert {s for s, _ in pairs} == {r["Section_id"] for r in table(district, "sections")}


def test_some_students_have_several_guardian_rows_that_agree_outside_contacts(district: Path) -> None:
    rows_of: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
    for row in table(district, "students"):
        rows_of[row["Student_id"]].append(row)
    several = [rows for rows in rows_of.values() if len(rows) > 1]
    assert several
    for rows in several:
        assert len({tuple(v for k, v in r.items() if not k.startswith("Contact_")) for r in rows}) == 1
        assert len({r["Contact_sis_id"] for r in rows}) == len(rows)


def test_some_teachers_work_at_two_schools_with_identical_rows_otherwise(district: Path) -> None:
    rows_of: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
    for row in table(district, "teachers"):
        rows_of[row["Teacher_id"]].append(row)
    several = [rows for rows in rows_of.values() if len(rows) > 1]
    assert several
    for rows in several:
        assert len({r["School_id"] for r in rows}) == len(rows)
        assert len({tuple(v for k, v in r.items() if k != "School_id") for r in rows}) == 1


def test_some_sections_have_co_teachers_who_are_known_teachers(district: Path) -> None:
    teachers = {r["Teacher_id"] for r in table(district, "teachers")}
    co = [r["Teacher_2_id"] for r in table(district, "sections") if r["Teacher_2_id"]]
    assert co
    assert set(co) <= teachers


def test_usernames_and_emails_are_unique_per_person(district: Path) -> None:
    students = {r["Student_id"]: (r["Username"], r["Student_email"]) for r in table(district, "students")}
    teachers = {r["Teacher_id"]: (r["Username"], r["Teacher_email"]) for r in table(district, "teachers")}
    usernames = [u for u, _ in students.values()] + [u for u, _ in teachers.values()]
    assert len(usernames) == len(set(usernames))
    assert all(re.fullmatch(r"[a-z0-9.\-]+", u) for u in usernames)
    assert all(email == f"{u}@students.contoso.edu" for u, email in students.values())


def test_student_grades_fit_their_school(district: Path) -> None:
    order = ["Kindergarten", *map(str, range(1, 13))]
    schools = {r["School_id"]: r for r in table(district, "schools")}
    for row in table(district, "students"):
        school = schools[row["School_id"]]
        assert (
            order.index(school["Low_grade"]) <= order.index(row["Grade"]) <= order.index(school["High_grade"])
        )


def test_a_size_without_staff_writes_no_staff_file(district: Path) -> None:
    assert sorted(p.name for p in district.iterdir()) == sorted(f"{kind}.csv" for kind in FILES)


def test_staff_are_written_one_row_per_school_and_some_work_at_two(tmp_path: Path) -> None:
    generate_district(tmp_path, dataclasses.replace(TINY, staff=20, multi_school_staff_share=0.3), seed=3)
    staff = table(tmp_path, "staff")
    assert list(staff[0]) == [
        "School_id", "Staff_id", "Staff_email", "First_name", "Last_name", "Department", "Title", "Username",
        "Role",
    ]  # fmt: skip
    rows_of: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
    for row in staff:
        rows_of[row["Staff_id"]].append(row)
    assert len(rows_of) == 20
    several = [rows for rows in rows_of.values() if len(rows) > 1]
    assert several and all(len(rows) == 2 for rows in several)
    for rows in several:
        assert len({r["School_id"] for r in rows}) == 2
        assert len({tuple(v for k, v in r.items() if k != "School_id") for r in rows}) == 1
    assert {r["School_id"] for r in staff} == {r["School_id"] for r in table(tmp_path, "schools")}
    assert all(all(row.values()) for row in staff)
    teachers = table(tmp_path, "teachers")
    assert not {r["Staff_id"] for r in staff} & {r["Teacher_id"] for r in teachers}
    assert not {r["Username"] for r in staff} & {r["Username"] for r in teachers}
    assert all(r["Staff_email"] == f"{r['Username']}@contoso.edu" for r in staff)


def test_a_district_with_staff_validates_with_no_findings_when_staff_are_synced(tmp_path: Path) -> None:
    generate_district(tmp_path, dataclasses.replace(TINY, staff=20, multi_school_staff_share=0.3), seed=3)
    profile = dataclasses.replace(load_profile(EXAMPLE_PROFILE), sync_staff=True)
    result = validate_folder(tmp_path, profile)
    assert result.findings == []
    assert result.roster is not None
    assert result.roster.staff.num_rows == 20
    assert result.roster.staff_schools.num_rows > 20


def test_adding_staff_leaves_the_other_files_byte_for_byte_the_same(tmp_path: Path, district: Path) -> None:
    generate_district(tmp_path, dataclasses.replace(TINY, staff=20), seed=3)
    with_staff = file_bytes(tmp_path)
    assert with_staff.pop("staff.csv")
    assert with_staff == file_bytes(district)


def test_a_negative_staff_count_is_refused() -> None:
    with pytest.raises(ValueError, match="staff must be 0 or more"):
        dataclasses.replace(TINY, staff=-1)


def test_values_are_quoted_only_when_they_need_it(district: Path) -> None:
    text = (district / "sections.csv").read_text(encoding="utf-8")
    assert '"' not in text.splitlines()[0]
    assert ',"Cells, genetics, and ecology",' in text or ',"Phonics, reading, and writing",' in text
    assert ',"Math",' not in text


# ---------------------------------------------------------------------------------------------- defects


def normal(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def record_at(folder: Path, entry: Injected) -> dict[str, str]:
    for line, row in records(folder / entry.file):
        if line == entry.line:
            return row
    raise AssertionError(f"{entry.file} has no record on line {entry.line}")


def parses_as_date(value: str) -> bool:
    for form in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"):
        try:
            datetime.strptime(value, form)
        except ValueError:
            continue
        return True
    return False


def shows_defect(folder: Path, entry: Injected) -> bool:
    """Whether the files show the defect ``entry`` claims, judged independently of the injector."""
    path, code, column = folder / entry.file, entry.code, entry.column
    if code == "missing_file":
        return not path.exists()
    if code in ("unsupported_file", "ignored_file"):
        return path.exists()
    if code == "file_name_case":
        return path.exists() and entry.file.lower() not in {p.name for p in folder.iterdir()}
    if code == "missing_header":
        return path.read_bytes() == b""
    if code == "empty_file":
        return len(path.read_bytes().splitlines()) == 1
    if code == "invalid_encoding":
        line = path.read_bytes().split(b"\n")[(entry.line or 0) - 1]
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False
    header = next(csv.reader(path.open(encoding="utf-8")))
    names = Counter(normal(h) for h in header)
    if code == "missing_column":
        return normal(column or "") not in names
    if code == "duplicate_column":
        return names[normal(column or "")] == 2
    if code in ("header_normalized", "unknown_column"):
        return column in header
    row = record_at(folder, entry)
    others = [r for line, r in records(path) if line != entry.line]
    if code == "malformed_row":
        return len(raw_record_at(path, entry.line or 0)) != len(header)
    if code == "missing_value":
        return row[column or ""] == ""
    if code == "conflicting_duplicate":
        key = next(k for k in row if k.endswith("_id") and k != "School_id")
        twins = [r for r in others if r[key] == row[key]]
        return bool(twins) and all(r != row for r in twins)
    if code == "duplicate_row":
        return row in others
    if code == "duplicate_enrollment":
        return any(
            (r["Section_id"], r["Student_id"]) == (row["Section_id"], row["Student_id"]) for r in others
        )
    if code == "unknown_reference":
        refers = {"School_id": "schools", "Student_id": "students", "Teacher_2_id": "teachers"}[column or ""]
        key = "Teacher_id" if refers == "teachers" else column or ""
        return row[column or ""] not in {r[key] for r in table(folder, refers)}
    if code == "school_mismatch":
        schools = {r["Section_id"]: r["School_id"] for r in table(folder, "sections")}
        return schools[row["Section_id"]] != row["School_id"]
    if code == "empty_section":
        return row["Section_id"] not in {r["Section_id"] for r in table(folder, "enrollments")}
    if code == "invalid_email":
        return "@" not in row[column or ""]
    if code == "invalid_date":
        return not parses_as_date(row[column or ""])
    if code == "invalid_grade":
        return row[column or ""] not in {"Kindergarten", *map(str, range(1, 14))}
    if code == "invalid_value":
        return row[column or ""] not in ("Y", "N")
    if code == "invalid_term":
        start, end = (
            datetime.strptime(row[c], "%Y-%m-%d" if "-" in row[c] else "%m/%d/%Y")
            for c in ("Term_start", "Term_end")
        )
        return end < start
    if code == "invalid_characters":
        return re.search(r"[^A-Za-z0-9\-_.]", row["Section_id"]) is not None
    if code == "line_break_in_value":
        return "\n" in row[column or ""]
    if code == "generated_name":
        return row["Name"] == ""
    raise AssertionError(f"no check for {code}")


RECORD_CODES = [c for c in DEFECT_CODES if c not in FILE_LEVEL]


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Injected]]:
    folder = tmp_path_factory.mktemp("defective")
    counts = {code: 2 for code in RECORD_CODES} | {"unsupported_file": 1}
    return folder, generate_district(folder, TINY, seed=5, defects=counts)


def test_the_manifest_lists_every_defect_asked_for(defective: tuple[Path, list[Injected]]) -> None:
    _, manifest = defective
    expected = {code: 2 for code in RECORD_CODES} | {"unsupported_file": 1}
    assert Counter(e.code for e in manifest) == expected


@pytest.mark.parametrize("code", RECORD_CODES)
def test_each_injected_defect_is_in_the_files(defective: tuple[Path, list[Injected]], code: str) -> None:
    folder, manifest = defective
    for entry in (e for e in manifest if e.code == code):
        assert shows_defect(folder, entry), entry


@pytest.mark.parametrize("code", sorted(FILE_LEVEL))
def test_each_file_level_defect_is_in_its_file(tmp_path: Path, code: str) -> None:
    manifest = generate_district(tmp_path, TINY, seed=6, defects={code: 2})
    assert [e.code for e in manifest] == [code, code]
    assert len({e.file for e in manifest}) == 2
    assert all(shows_defect(tmp_path, e) for e in manifest)


def test_five_file_level_defects_take_one_file_each(tmp_path: Path) -> None:
    codes = ["missing_file", "missing_header", "empty_file", "invalid_encoding", "missing_column"]
    manifest = generate_district(tmp_path, TINY, defects=dict.fromkeys(codes, 1))
    assert sorted(e.file for e in manifest) == sorted(f"{k}.csv" for k in FILES)


def test_a_sixth_file_level_defect_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file-level defect"):
        generate_district(tmp_path, TINY, defects=dict.fromkeys(FILE_LEVEL, 1))


def test_an_unknown_defect_code_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown defect no_such_code: use one of missing_file"):
        generate_district(tmp_path, TINY, defects={"no_such_code": 1})


def test_the_same_defects_and_seed_give_identical_bytes(tmp_path: Path) -> None:
    counts = {"invalid_email": 3, "duplicate_row": 2, "line_break_in_value": 2, "file_name_case": 1}
    first = generate_district(tmp_path / "a", TINY, seed=9, defects=counts)
    second = generate_district(tmp_path / "b", TINY, seed=9, defects=counts)
    assert first == second
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


# ------------------------------------------------------------------------------------------------ churn


def test_churn_replaces_leavers_with_as_many_joiners(tmp_path: Path, district: Path) -> None:
    summary = apply_churn(district, tmp_path, share=0.05, seed=2)
    before = {r["Student_id"] for r in table(district, "students")}
    after = {r["Student_id"] for r in table(tmp_path, "students")}
    assert summary.left == summary.joined == len(before - after) == len(after - before) > 0
    enrolled = {r["Student_id"] for r in table(tmp_path, "enrollments")}
    assert not enrolled & (before - after)
    assert after - before <= enrolled


def test_churn_moves_enrollments_within_a_school_and_keeps_the_set_clean(
    tmp_path: Path, district: Path
) -> None:
    summary = apply_churn(district, tmp_path, share=0.05, seed=2)
    assert summary.moved > 0
    section_school = {r["Section_id"]: r["School_id"] for r in table(tmp_path, "sections")}
    pairs = [(r["Section_id"], r["Student_id"]) for r in table(tmp_path, "enrollments")]
    assert len(pairs) == len(set(pairs))
    assert {s for s, _ in pairs} == set(section_school)
    assert all(section_school[r["Section_id"]] == r["School_id"] for r in table(tmp_path, "enrollments"))


def test_churn_renames_a_few_sections(tmp_path: Path, district: Path) -> None:
    summary = apply_churn(district, tmp_path, share=0.05, seed=2)
    before = {r["Section_id"]: r["Name"] for r in table(district, "sections")}
    changed = [
        s
        for s, name in ((r["Section_id"], r["Name"]) for r in table(tmp_path, "sections"))
        if before[s] != name
    ]
    assert len(changed) == summary.renamed >= 1


def test_churn_is_deterministic(tmp_path: Path, district: Path) -> None:
    apply_churn(district, tmp_path / "a", share=0.05, seed=2)
    apply_churn(district, tmp_path / "b", share=0.05, seed=2)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


# -------------------------------------------------------------------------------------------------- CLI


def test_the_cli_writes_a_district_and_lists_the_defects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path), "--size", "S", "--seed", "2", "--defect", "generated_name=2"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {f"{k}.csv" for k in FILES}
    assert capsys.readouterr().out.count("generated_name") == 2


def test_the_cli_explains_a_bad_defect_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--defect", "invalid_email=many"]) == 2
    assert "write CODE=N" in capsys.readouterr().err


def test_the_cli_explains_an_output_path_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "district.csv"
    target.write_text("not a folder\n")
    assert main([str(target)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the district into {target}" in err
    assert "Traceback" not in err


def test_the_cli_names_the_seed_option_when_the_seed_is_negative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "argument --seed: '-1' is not a whole number of 0 or more" in capsys.readouterr().err
