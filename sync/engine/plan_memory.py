"""How much memory planning needs, estimated from the sizes of its inputs, so that a run that cannot fit in
its machine fails before it starts instead of being killed half way. Pure: counts in, bytes out.

The plan step holds the validated roster, the directory snapshot and the plan at once. Its peak grows about
linearly with the roster's rows and with the snapshot's objects (a nightly plan, against a directory the
first sync filled, needs more than the first one, against an empty directory). The model is
``base + per roster row × rows + per directory object × objects``: one coefficient for every kind of row
and object, so a district whose shape differs much from the benchmark's (many more memberships or
unmanaged users per student, many contacts or co-teachers) is estimated less closely.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sync.directory.model import DirectorySnapshot
from sync.roster.model import Roster

# Calibrated on the peaks of the whole process during the plan step that bench/bench_plan.py measured on
# generated districts (docs/deployment.md, "Sizing"; GB there = 2**30 bytes), so that the estimate is at or
# up to ~10 % above each figure (a guard errs high). A re-run of the benchmark (L first plan 1.51 GB, XL
# nightly 7.01 GB: runs vary by a few per cent) is covered too:
#
#   district   roster rows   directory objects   first plan (measured / estimate)   nightly plan
#   M              469,000             681,304               0.55 / 0.56 GB         0.61 / 0.67 GB
#   L            2,340,000           3,384,684               1.44 / 1.55 GB         2.06 / 2.07 GB
#   XL           9,360,000          13,537,672               4.98 / 5.28 GB         6.94 / 7.36 GB
#
# Roster rows: students + teachers + sections + enrollments. Directory objects after the first sync:
# users + schools + classes + groups + membership rows (M: 53,000 + 60 + 16,000 + 122 + 612,122).

#: The fitted intercept: what does not grow with the district (the interpreter, pyarrow, the sync's modules).
PLAN_BASE_BYTES = 320 * 1024**2
#: Per student, teacher, section or enrollment of the roster (its Arrow rows, the desired state, the plan).
PLAN_BYTES_PER_ROSTER_ROW = 570
#: Per user, school, class, group or membership of the directory snapshot.
PLAN_BYTES_PER_DIRECTORY_OBJECT = 165

GB = 1024**3


@dataclass(frozen=True, slots=True)
class PlanInputSize:
    """Row counts of the roster and object counts of the directory snapshot a plan is made of."""

    students: int
    teachers: int
    sections: int
    enrollments: int
    #: Every user of the tenant (the sync's and the others, for matching).
    directory_users: int = 0
    #: Schools, classes and groups.
    directory_groups: int = 0
    directory_memberships: int = 0

    @property
    def roster_rows(self) -> int:
        return self.students + self.teachers + self.sections + self.enrollments

    @property
    def directory_objects(self) -> int:
        return self.directory_users + self.directory_groups + self.directory_memberships


def roster_input_size(roster: Roster) -> PlanInputSize:
    """The counts of a roster, with no directory objects: the least a plan of it needs (no record is read)."""
    return PlanInputSize(
        students=roster.students.num_rows,
        teachers=roster.teachers.num_rows,
        sections=roster.sections.num_rows,
        enrollments=roster.enrollments.num_rows,
    )


def plan_input_size(roster: Roster, snapshot: DirectorySnapshot) -> PlanInputSize:
    """The counts of a roster and a snapshot (no record is read)."""
    return replace(
        roster_input_size(roster),
        directory_users=len(snapshot.users),
        directory_groups=len(snapshot.schools) + len(snapshot.classes) + len(snapshot.groups),
        directory_memberships=snapshot.memberships.num_rows,
    )


def estimated_plan_bytes(size: PlanInputSize) -> int:
    """Estimated peak resident memory of a process making a plan of this size (an upper estimate)."""
    return (
        PLAN_BASE_BYTES
        + PLAN_BYTES_PER_ROSTER_ROW * size.roster_rows
        + PLAN_BYTES_PER_DIRECTORY_OBJECT * size.directory_objects
    )


#: Applying: every apply worker reads the whole plan once (its JSON, the parsed document, then the plan's
#: operations, held for the run's chunks). Measured peak above the process's start while reading a first
#: plan: M (57 MB of JSON) +328 MB, XL (1,135 MB) +7,129 MB; that is 5.8 and 6.3 times the JSON (read with
#: the collector paused, as :meth:`Plan.loads` now does: M +342 MB, XL +6,475 MB).
APPLY_BASE_BYTES = PLAN_BASE_BYTES
APPLY_BYTES_PER_PLAN_BYTE = 6.5


def estimated_apply_bytes(plan_json_bytes: int) -> int:
    """Estimated peak resident memory of a process applying a plan whose canonical JSON has this many bytes
    (an upper estimate)."""
    return APPLY_BASE_BYTES + int(APPLY_BYTES_PER_PLAN_BYTE * plan_json_bytes)
