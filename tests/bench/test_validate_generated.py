"""The example district and generated districts, run through the real validator."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.defects import DEFECT_CODES, FILE_LEVEL, Injected
from bench.district import DistrictSize, apply_churn, generate_district
from sync.findings import Finding
from sync.profile import load_profile
from sync.roster.validate import validate_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TINY = DistrictSize(schools=4, students=240, teachers=24, sections=48, enrollments=480)
#: Record-level defects and warnings: everything but what stops a run before records are checked.
RECORD_CODES = [c for c in DEFECT_CODES if c not in FILE_LEVEL and c != "unsupported_file"]


def unfound(manifest: list[Injected], findings: list[Finding]) -> list[Injected]:
    """Manifest entries the validator did not report (same code and file, and line when the entry has one)."""
    at = {(f.code, f.file, f.line) for f in findings}
    anywhere = {(f.code, f.file) for f in findings}
    return [
        e
        for e in manifest
        if (e.code, e.file, e.line) not in at and not (e.line is None and (e.code, e.file) in anywhere)
    ]


@pytest.mark.parametrize("folder", ["district", "district-next-term"])
def test_the_example_district_validates_with_no_findings(folder: str) -> None:
    result = validate_folder(EXAMPLES / folder, load_profile(EXAMPLES / "profile.toml"))
    assert result.findings == []
    assert result.roster is not None


def test_the_example_district_holds_what_its_description_promises() -> None:
    result = validate_folder(EXAMPLES / "district")
    roster = result.roster
    assert roster is not None
    assert (roster.schools.num_rows, roster.students.num_rows, roster.teachers.num_rows) == (3, 40, 8)
    assert roster.student_contacts.num_rows > roster.students.num_rows
    assert roster.teacher_schools.num_rows > roster.teachers.num_rows
    positions = Counter(roster.section_teachers.column("Position").to_pylist())
    assert positions[1] == roster.sections.num_rows == 10
    assert positions[2] >= 1 and positions[3] >= 1


def test_a_generated_district_validates_with_no_findings(tmp_path: Path) -> None:
    generate_district(tmp_path, TINY, seed=11)
    assert validate_folder(tmp_path).findings == []


def test_a_churned_district_still_validates_with_no_findings(tmp_path: Path) -> None:
    generate_district(tmp_path / "today", TINY, seed=11)
    apply_churn(tmp_path / "today", tmp_path / "tomorrow", share=0.05, seed=11)
    assert validate_folder(tmp_path / "tomorrow").findings == []


def test_the_validator_reports_every_injected_record_defect_where_it_was_put(tmp_path: Path) -> None:
    manifest = generate_district(tmp_path, TINY, seed=5, defects=dict.fromkeys(RECORD_CODES, 2))
    findings = validate_folder(tmp_path).findings
    assert unfound(manifest, findings) == []
    assert {f.code for f in findings} >= set(RECORD_CODES)


@pytest.mark.parametrize("code", sorted(FILE_LEVEL | {"unsupported_file"}))
def test_the_validator_reports_each_injected_file_level_defect(tmp_path: Path, code: str) -> None:
    manifest = generate_district(tmp_path, TINY, seed=6, defects={code: 1})
    result = validate_folder(tmp_path)
    assert unfound(manifest, result.findings) == []
    assert result.roster is None or code == "empty_file"


def test_the_next_term_ends_the_fall_sections_starts_spring_ones_and_changes_three_students() -> None:
    now = validate_folder(EXAMPLES / "district").roster
    later = validate_folder(EXAMPLES / "district-next-term").roster
    assert now is not None and later is not None
    sections_now = set(now.sections.column("Section_id").to_pylist())
    sections_later = set(later.sections.column("Section_id").to_pylist())
    assert (len(sections_now - sections_later), len(sections_later - sections_now)) == (6, 4)
    assert all(s.startswith("Y26-") for s in sections_now & sections_later)
    students_now = set(now.students.column("Student_id").to_pylist())
    students_later = set(later.students.column("Student_id").to_pylist())
    assert (len(students_now - students_later), len(students_later - students_now)) == (2, 1)
    assert later.teachers.equals(now.teachers) and later.schools.equals(now.schools)
