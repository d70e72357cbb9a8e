"""Desired state, part 2: memberships, as Arrow tables of anchors, and their diff with the directory.

A membership row is ``(container, member, relation)``: the anchors of a class, school or group and of a
user (or class), and ``owner``/``member`` (classes, groups) or ``user``/``class`` (schools), as in
:data:`sync.directory.model.MEMBERSHIP_SCHEMA`. Millions of enrollments stay in Arrow: tables are filtered
with ``is_in`` and diffed with anti joins, never turned into one Python object per row here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.directory.model import DirectorySnapshot
from sync.engine.desired import all_group

#: Relation codes (their rank in this sorted tuple).
RELATIONS = ("class", "member", "owner", "user")
_RELATION_SET = pa.array(RELATIONS, pa.string())
#: Desired rows: anchors of container and member, and the relation's code (index into :data:`RELATIONS`).
SCHEMA = pa.schema([("container", pa.string()), ("member", pa.string()), ("relation", pa.int8())])
_NICKNAME_BAD = r"[^A-Za-z0-9\-_.]"
ALL_STUDENTS = all_group("student").anchor
ALL_TEACHERS = all_group("teacher").anchor


@dataclass(frozen=True)
class LeftOut:
    """SIS ids of roster records that will have no directory object (records in error, classes without an
    owner): their memberships are not desired. Usually empty, so usually nothing is filtered."""

    students: pa.Array
    teachers: pa.Array
    staff: pa.Array
    sections: pa.Array
    #: Anchors of per-school groups that are not made (their mail nickname is taken).
    groups: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))


@dataclass(frozen=True)
class Scope:
    """What the membership diff may touch."""

    students_in_classes: bool  # False before the student enrollment start date
    intune_groups: bool
    section_policy: str  # keep | expire | delete
    #: Anchors of classes already expired (``Exp…`` nickname): left alone.
    expired_classes: frozenset[str]
    #: Anchors of records in error: their memberships are neither added nor removed.
    frozen_members: frozenset[str]
    sync_staff: bool = False
    #: All Students / All Teachers are maintained (Intune groups, or group-based licensing without them).
    all_groups: bool = False
    #: Anchors of classes whose owners and teacher members stay (none of the section's teachers has an
    #: account, and a class cannot lose its last owner).
    classes_keeping_teachers: frozenset[str] = frozenset()


def _prefix(prefix: str, array: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    return pc.binary_join_element_wise(pa.scalar(prefix), array, "")


def _group(prefix: str, school_ids: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    nickname = pc.utf8_slice_codeunits(
        pc.replace_substring_regex(_prefix(prefix, school_ids), _NICKNAME_BAD, "_"), 0, 64
    )
    return _prefix("Group_", nickname)


def _rows(
    container: pa.Array | pa.ChunkedArray, member: pa.Array | pa.ChunkedArray, relation: str
) -> pa.Table:
    relation_column = pa.repeat(pa.scalar(RELATIONS.index(relation), pa.int8()), len(member))
    return pa.Table.from_arrays(
        [
            pa.chunked_array(container) if isinstance(container, pa.Array) else container,
            pa.chunked_array(member) if isinstance(member, pa.Array) else member,
            pa.chunked_array([relation_column]),
        ],
        schema=SCHEMA,
    )


def drop_rows(table: pa.Table, column: str, left_out: pa.Array) -> pa.Table:
    """``table`` without the rows whose ``column`` is in ``left_out`` (no pass at all when it is empty)."""
    if not len(left_out):
        return table
    return table.filter(pc.invert(pc.is_in(table.column(column), value_set=left_out)))


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name in table.column_names:
        return table.column(name).cast(pa.string())
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


def desired_memberships(
    *,
    enrollments: pa.Table,
    section_teachers: pa.Table,
    sections: pa.Table,
    students: pa.Table,
    teachers: pa.Table,
    teacher_schools: pa.Table,
    staff_schools: pa.Table,
    left_out: LeftOut,
    scope: Scope,
) -> pa.Table:
    parts: list[pa.Table] = []
    owners = drop_rows(
        drop_rows(section_teachers, "Section_id", left_out.sections), "Teacher_id", left_out.teachers
    )
    owners = owners.select(["Section_id", "Teacher_id"]).group_by(["Section_id", "Teacher_id"]).aggregate([])
    class_anchor = _prefix("Section_", owners.column("Section_id"))
    teacher_anchor = _prefix("Teacher_", owners.column("Teacher_id"))
    parts += [_rows(class_anchor, teacher_anchor, "owner"), _rows(class_anchor, teacher_anchor, "member")]
    if scope.students_in_classes:
        members = drop_rows(
            drop_rows(enrollments, "Section_id", left_out.sections), "Student_id", left_out.students
        )
        parts.append(
            _rows(
                _prefix("Section_", members.column("Section_id")),
                _prefix("Student_", members.column("Student_id")),
                "member",
            )
        )
    school_students = drop_rows(students, "Student_id", left_out.students)
    student_anchor = _prefix("Student_", _column(school_students, "Student_id"))
    student_school = _column(school_students, "School_id")
    school_teachers = drop_rows(teacher_schools, "Teacher_id", left_out.teachers)
    school_teachers = (
        school_teachers.select(["Teacher_id", "School_id"])
        .group_by(["Teacher_id", "School_id"])
        .aggregate([])
    )
    teacher_anchor = _prefix("Teacher_", school_teachers.column("Teacher_id"))
    teacher_school = school_teachers.column("School_id")
    parts.append(_rows(_prefix("School_", student_school), student_anchor, "user"))
    parts.append(_rows(_prefix("School_", teacher_school), teacher_anchor, "user"))
    if scope.sync_staff and staff_schools.num_rows:
        school_staff = drop_rows(staff_schools, "Staff_id", left_out.staff)
        school_staff = (
            school_staff.select(["Staff_id", "School_id"]).group_by(["Staff_id", "School_id"]).aggregate([])
        )
        parts.append(
            _rows(
                _prefix("School_", school_staff.column("School_id")),
                _prefix("Staff_", school_staff.column("Staff_id")),
                "user",
            )
        )
    school_sections = drop_rows(sections, "Section_id", left_out.sections)
    parts.append(
        _rows(
            _prefix("School_", school_sections.column("School_id")),
            _prefix("Section_", school_sections.column("Section_id")),
            "class",
        )
    )
    if scope.intune_groups or scope.all_groups:
        all_students = pa.repeat(pa.scalar(ALL_STUDENTS, pa.string()), len(student_anchor))
        teacher_ids = drop_rows(teachers, "Teacher_id", left_out.teachers).column("Teacher_id")
        all_teachers_ids = pc.unique(_prefix("Teacher_", teacher_ids))
        all_teachers = pa.repeat(pa.scalar(ALL_TEACHERS, pa.string()), len(all_teachers_ids))
        parts.append(_rows(all_students, student_anchor, "member"))
        parts.append(_rows(all_teachers, all_teachers_ids, "member"))
    if scope.intune_groups:
        for prefix, school_ids, anchors in (
            ("Students_", student_school, student_anchor),
            ("Teachers_", teacher_school, teacher_anchor),
        ):
            parts.append(
                drop_rows(_rows(_group(prefix, school_ids), anchors, "member"), "container", left_out.groups)
            )
    return pa.concat_tables(parts).combine_chunks()


def anchor_map(pairs: Iterable[tuple[str, str]]) -> pa.Table:
    """``(directory id, anchor)`` pairs as a table for :func:`actual_memberships`."""
    ids: list[str] = []
    anchors: list[str] = []
    for directory_id, anchor in pairs:
        ids.append(directory_id)
        anchors.append(anchor)
    return pa.table({"id": pa.array(ids, pa.string()), "anchor": pa.array(anchors, pa.string())})


@dataclass(frozen=True)
class Actual:
    """The directory's managed memberships: rows whose container and member both carry an anchor, held as
    indices into ``anchors`` (the anchor map), never as 12 million strings."""

    anchors: pa.Array
    container: np.ndarray
    member: np.ndarray
    #: Relation code of each row (index into :data:`RELATIONS`).
    relation: np.ndarray

    @property
    def num_rows(self) -> int:
        return len(self.container)


def actual_memberships(snapshot: DirectorySnapshot, anchors: pa.Table) -> Actual:
    names = anchors.column("anchor").combine_chunks()
    table = snapshot.memberships
    if table.num_rows == 0:
        empty = np.zeros(0, dtype=np.int32)
        return Actual(names, empty, empty, empty.astype(np.int8))
    ids = anchors.column("id").combine_chunks()
    container = pc.index_in(table.column("container_id"), value_set=ids)
    member = pc.index_in(table.column("member_id"), value_set=ids)
    relation = pc.index_in(table.column("relation"), value_set=_RELATION_SET)
    managed = pc.and_(pc.and_(pc.is_valid(container), pc.is_valid(member)), pc.is_valid(relation))
    return Actual(
        names,
        _ints(pc.filter(container, managed), np.int32),
        _ints(pc.filter(member, managed), np.int32),
        _ints(pc.filter(relation, managed), np.int8),
    )


def _ints(values: pa.Array | pa.ChunkedArray, dtype: type[np.integer[Any]] = np.int64) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


def removable(actual: Actual, scope: Scope, kept_classes: pa.Array, kept_schools: pa.Array) -> np.ndarray:
    """Which actual memberships (a boolean mask) the sync may remove: managed ones of managed containers,
    except

    - those of records in error and of already expired classes;
    - of a vanished class: only its students, and only under the ``expire`` policy;
    - a vanished class's link to a school that is still in the roster;
    - students in classes before the enrollment start date;
    - the owners and teacher members of a class none of whose section's teachers has an account;
    - Intune groups' members when the profile no longer maintains the groups (with group-based
      licensing All Students / All Teachers stay maintained, the per-school groups are left alone).

    Every test on an anchor is made once per anchor of the map, then looked up per row.
    """
    names = actual.anchors

    def per_anchor(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)

    is_class = per_anchor(pc.starts_with(names, "Section_"))
    vanished = is_class & ~per_anchor(pc.is_in(names, value_set=kept_classes))
    is_student = per_anchor(pc.starts_with(names, "Student_"))
    frozen = per_anchor(pc.is_in(names, value_set=pa.array(sorted(scope.frozen_members), pa.string())))
    expired = per_anchor(pc.is_in(names, value_set=pa.array(sorted(scope.expired_classes), pa.string())))
    school_kept = per_anchor(pc.is_in(names, value_set=kept_schools))
    is_group = per_anchor(pc.starts_with(names, "Group_"))
    container, member, relation = actual.container, actual.member, actual.relation

    keep = ~frozen[member] & ~expired[container]
    student_member = is_student[member] & (relation == RELATIONS.index("member"))
    class_vanished = vanished[container]
    keep &= ~class_vanished | student_member if scope.section_policy == "expire" else ~class_vanished
    keep &= ~((relation == RELATIONS.index("class")) & vanished[member] & school_kept[container])
    if not scope.students_in_classes:
        keep &= ~(is_class[container] & ~class_vanished & student_member)
    if scope.classes_keeping_teachers:
        teachers_kept = pa.array(sorted(scope.classes_keeping_teachers), pa.string())
        keeps_teachers = per_anchor(pc.is_in(names, value_set=teachers_kept))[container]
        owner = relation == RELATIONS.index("owner")
        teacher_member = (relation == RELATIONS.index("member")) & ~is_student[member]
        keep &= ~(keeps_teachers & (owner | teacher_member))
    if not scope.intune_groups:
        kept_groups = pa.array([ALL_STUDENTS, ALL_TEACHERS] if scope.all_groups else [], pa.string())
        keep &= ~(is_group & ~per_anchor(pc.is_in(names, value_set=kept_groups)))[container]
    return np.asarray(keep, dtype=bool)


@dataclass(frozen=True)
class Changes:
    """Membership rows as sorted int64 keys ``(container * 4 + relation) * size + member``, where
    container and member are ranks in the sorted ``universe`` of anchors: sorting the keys sorts the rows
    by container, relation and member, and a run of equal ``key // size`` is one container's relation."""

    keys: np.ndarray
    universe: pa.Array

    def __len__(self) -> int:
        return len(self.keys)

    def without_members(self, anchors: Iterable[str]) -> Changes:
        """These rows less those whose member is one of ``anchors``."""
        wanted = pa.array(sorted(set(anchors)), pa.string())
        if not len(self.keys) or not len(wanted):
            return self
        ranks = pc.index_in(wanted, value_set=self.universe).drop_null().to_numpy(zero_copy_only=False)
        if not len(ranks):
            return self
        keep = ~np.isin(self.keys % len(self.universe), ranks)
        return Changes(self.keys[keep], self.universe)

    def grouped(self) -> Iterable[tuple[str, str, list[str]]]:
        """``(container, relation, [member anchors…])`` per container and relation, in order."""
        if not len(self.keys):
            return
        size = len(self.universe)
        group = self.keys // size
        names = self.universe.to_pylist()  # one str per anchor, shared by all its rows
        members = list(map(names.__getitem__, (self.keys % size).tolist()))
        bounds = [0, *(np.flatnonzero(np.diff(group)) + 1).tolist(), len(self.keys)]
        for start, end in itertools.pairwise(bounds):
            container, relation = divmod(int(group[start]), 4)
            yield names[container], RELATIONS[relation], members[start:end]


def _encode(chunks: list[pa.Array]) -> tuple[pa.Array, np.ndarray]:
    """One dictionary for all ``chunks`` and every value's index into it (one hashing pass, no copy)."""
    if not chunks:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, pa.string())).unify_dictionaries()
    indices = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]
    return encoded.chunks[0].dictionary, np.concatenate(indices)


def diff(desired: pa.Table, actual: Actual, removable_mask: np.ndarray) -> tuple[Changes, Changes]:
    """``(adds, removes)``: desired rows the directory lacks, and removable rows (``removable_mask`` over
    ``actual``) nobody desires. The anchor map and the desired anchors are dictionary-encoded in one pass
    and ranked; rows are compared as sorted int64 keys, never as Python objects."""
    segments = [actual.anchors, desired.column("container"), desired.column("member")]
    chunks = [chunk for segment in segments for chunk in _chunks_of(segment) if len(chunk)]
    dictionary, indices = _encode(chunks)
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    universe = dictionary.take(pa.array(order))
    size = max(len(universe), 1)
    n_anchors, n_desired = len(actual.anchors), desired.num_rows
    anchor_codes = rank[indices[:n_anchors]]
    desired_container = rank[indices[n_anchors : n_anchors + n_desired]]
    desired_member = rank[indices[n_anchors + n_desired :]]
    del indices

    relation = _ints(desired.column("relation"))
    # Both sides come grouped by container, so they are nearly sorted already: the stable sort (timsort)
    # finds the runs and is 10-20 times faster on them than quicksort.
    wanted = np.sort((desired_container * 4 + relation) * size + desired_member, kind="stable")
    del desired_container, desired_member
    present = (anchor_codes[actual.container] * 4 + actual.relation.astype(np.int64)) * size + anchor_codes[
        actual.member
    ]
    removable_keys = np.sort(present[removable_mask], kind="stable")
    present.sort(kind="stable")
    return Changes(_absent(wanted, present), universe), Changes(_absent(removable_keys, wanted), universe)


def _absent(keys: np.ndarray, among: np.ndarray) -> np.ndarray:
    """The sorted ``keys`` that are not in the sorted ``among`` (with their repeats). Sorted keys make the
    binary searches walk ``among`` in order (far faster than hashing millions of keys)."""
    if not len(among) or not len(keys):
        return keys
    at = np.searchsorted(among, keys)
    at[at == len(among)] = 0
    missing: np.ndarray = keys[among[at] != keys]
    return missing


def _chunks_of(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]
