"""The nightly change: the next day's roster made from a district.

``apply_churn(src, out, share=0.01, seed=1)`` writes a copy of the district in ``src`` to ``out`` where
about ``share`` of the students left (all their rows and enrollments), the same number joined (siblings of
existing students: same school, grade, guardians and classes, new id and name), about ``share`` of the
enrollments moved to another section of the same school, and a few sections were renamed. No section is
left without enrollments and no enrollment pair repeats, so a clean district stays clean.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import pools
from bench.csvio import read_strings, write_table


@dataclass(frozen=True)
class ChurnSummary:
    left: int
    joined: int
    moved: int
    renamed: int


def _codes(values: pa.ChunkedArray | pa.Array, universe: pa.Array) -> np.ndarray:
    """Position of each value in ``universe`` (-1 when absent)."""
    index = pc.index_in(values, value_set=universe)
    return np.asarray(pc.fill_null(index, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _keep_sections_filled(
    leave: np.ndarray, enr_student: np.ndarray, enr_section: np.ndarray, n_sec: int
) -> None:
    """Take back leavers until no section loses all its enrollments (edits ``leave`` in place)."""
    for _ in range(10):
        gone = leave[enr_student]
        left_over = np.bincount(enr_section[~gone], minlength=n_sec)
        emptied = np.flatnonzero(left_over == 0)
        if len(emptied) == 0:
            return
        leave[enr_student[np.isin(enr_section, emptied)]] = False


def _new_ids(existing: pa.Array, count: int) -> list[str]:
    numeric = pc.filter(existing, pc.match_substring_regex(existing, r"^[0-9]{1,15}$"))
    if len(numeric):
        top = int(pc.max(pc.cast(numeric, pa.int64())).as_py())
        return [str(top + 1 + k) for k in range(count)]
    return [f"N{k + 1:06d}" for k in range(count)]


def _joiners(
    students: pa.Table, templates: list[str], rng: np.random.Generator
) -> tuple[pa.Table, dict[str, str]]:
    """Rows of new students modelled on ``templates`` (siblings), and ``{template id: new id}``."""
    new_ids = _new_ids(pc.unique(students["Student_id"]), len(templates))
    mapping = dict(zip(templates, new_ids, strict=True))
    rows = students.filter(pc.is_in(students["Student_id"], value_set=pa.array(templates))).to_pylist()
    firsts = [pools.FIRST_NAMES[i] for i in rng.integers(0, len(pools.FIRST_NAMES), len(templates))]
    first_of = dict(zip(templates, firsts, strict=True))
    for row in rows:
        template = row["Student_id"]
        new_id = mapping[template]
        first = first_of[template]
        row["Student_id"] = new_id
        if "First_name" in row:
            row["First_name"] = first
        if "Student_number" in row:
            row["Student_number"] = new_id.zfill(len(row["Student_number"] or ""))
        if "State_id" in row:
            row["State_id"] = f"WA{new_id}"
        username = f"{pools.login(first)}.{pools.login(row.get('Last_name') or 'student')}{new_id}"
        if "Username" in row:
            row["Username"] = username
        if row.get("Student_email") and "@" in row["Student_email"]:
            row["Student_email"] = f"{username}@{row['Student_email'].split('@', 1)[1]}"
    return pa.Table.from_pylist(rows, schema=students.schema), mapping


def apply_churn(
    src_dir: str | Path, out_dir: str | Path, *, share: float = 0.01, seed: int = 1
) -> ChurnSummary:
    """Write the next night's district to ``out_dir`` (see the module docstring)."""
    if not 0.0 <= share <= 0.5:
        raise ValueError(f"share must be between 0 and 0.5, not {share}")
    src, out = Path(src_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 7])
    students = read_strings(src / "students.csv")
    sections = read_strings(src / "sections.csv")
    enrollments = read_strings(src / "enrollments.csv")

    ids = pc.unique(students["Student_id"])
    section_ids = sections["Section_id"].combine_chunks()
    enr_student = _codes(enrollments["Student_id"], ids)
    enr_section = _codes(enrollments["Section_id"], section_ids)

    # Leavers: all their rows and enrollments go.
    wanted = round(share * len(ids)) if share > 0 else 0
    leave = np.zeros(len(ids), dtype=bool)
    leave[rng.choice(len(ids), size=min(wanted, len(ids) - 1), replace=False)] = True
    _keep_sections_filled(leave, enr_student, enr_section, len(section_ids))
    left = int(leave.sum())

    # Joiners: as many as left, each a sibling of a staying student, in the sibling's classes.
    enrolled = np.zeros(len(ids), dtype=bool)
    enrolled[enr_student[enr_student >= 0]] = True
    staying = np.flatnonzero(~leave & enrolled)
    if len(staying) < left:
        staying = np.flatnonzero(~leave)
    templates = [str(ids[int(i)]) for i in rng.choice(staying, size=min(left, len(staying)), replace=False)]
    new_students, mapping = _joiners(students, templates, rng)
    template_enr = enrollments.filter(pc.is_in(enrollments["Student_id"], value_set=pa.array(templates)))
    new_enr = template_enr.set_column(
        template_enr.column_names.index("Student_id"),
        "Student_id",
        pa.array([mapping[s] for s in template_enr["Student_id"].to_pylist()], pa.string()),
    )

    # Moves: some enrollments of staying students go to another section of the same school.
    keep_enr = ~leave[enr_student]
    section_school = _codes(sections["School_id"], pc.unique(sections["School_id"]))
    by_school = np.argsort(section_school, kind="stable")
    starts = np.searchsorted(section_school[by_school], np.arange(section_school.max() + 2))
    target = enr_section.copy()
    candidates = np.flatnonzero(keep_enr)
    movers = rng.choice(candidates, size=min(round(share * len(enr_section)), len(candidates)), replace=False)
    school = section_school[enr_section[movers]]
    span = starts[school + 1] - starts[school]
    target[movers] = by_school[starts[school] + (rng.random(len(movers)) * span).astype(np.int64)]
    target = _undo_bad_moves(target, enr_section, enr_student, keep_enr, movers, len(section_ids))
    moved = int((target != enr_section).sum())

    kept = enrollments.filter(pa.array(keep_enr))
    kept = kept.set_column(
        kept.column_names.index("Section_id"), "Section_id", section_ids.take(pa.array(target[keep_enr]))
    )

    # Renames: a few sections get a new display name.
    renamed = max(1, round(len(section_ids) * share / 10)) if share > 0 else 0
    names = sections["Name"].to_pylist()
    for i in rng.choice(len(names), size=min(renamed, len(names)), replace=False):
        names[int(i)] = f"{names[int(i)]} - Section B"
    sections = sections.set_column(sections.column_names.index("Name"), "Name", pa.array(names, pa.string()))

    gone_ids = ids.filter(pa.array(leave))
    stay_students = students.filter(pc.invert(pc.is_in(students["Student_id"], value_set=gone_ids)))
    write_table(out / "students.csv", pa.concat_tables([stay_students, new_students]))
    write_table(out / "enrollments.csv", pa.concat_tables([kept, new_enr]))
    write_table(out / "sections.csv", sections)
    for name in ("schools.csv", "teachers.csv"):
        if (src / name).resolve() != (out / name).resolve():
            shutil.copyfile(src / name, out / name)
    return ChurnSummary(left=left, joined=len(templates), moved=moved, renamed=min(renamed, len(names)))


def _undo_bad_moves(
    target: np.ndarray,
    origin: np.ndarray,
    student: np.ndarray,
    keep: np.ndarray,
    movers: np.ndarray,
    n_sections: int,
) -> np.ndarray:
    """Cancel moves that repeat an enrollment pair or leave their section empty."""
    target = target.copy()
    n_students = int(student.max()) + 1 if len(student) else 1
    before = origin[keep].astype(np.int64) * n_students + student[keep]
    after = target.astype(np.int64) * n_students + student
    moved = movers[target[movers] != origin[movers]]
    # A pair the student already has (in the original set), or two moves to the same pair.
    clash = np.isin(after[moved], before)
    _, first = np.unique(after[moved], return_index=True)
    repeated = np.ones(len(moved), dtype=bool)
    repeated[first] = False
    target[moved[clash | repeated]] = origin[moved[clash | repeated]]
    for _ in range(10):
        counts = np.bincount(target[keep], minlength=n_sections)
        emptied = np.flatnonzero((counts == 0) & (np.bincount(origin[keep], minlength=n_sections) > 0))
        if len(emptied) == 0:
            break
        undo = movers[np.isin(origin[movers], emptied)]
        target[undo] = origin[undo]
    return target
