"""The blob journal (Azurite) and chunked apply: each chunk applies its window once, skips what is done,
and leaves out references to accounts whose creation failed in an earlier chunk."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sync.app.chunks import ChunkJournal, cut_chunk
from sync.directory.model import DirectorySnapshot, Operation, OperationResult, OpKind
from sync.engine.apply import apply_plan
from sync.engine.plan import Plan
from sync.errors import DirectoryUnavailable
from sync.storage.blob_journal import BlobJournal
from tests.storage.app_runtime import blob_store

PLAN = Plan(
    profile_name="Contoso USD",
    today=date(2026, 9, 1),
    operations=(
        Operation(OpKind.CREATE_USER, "Student_1", {"displayName": "x"}),
        Operation(OpKind.CREATE_USER, "Student_2", {"displayName": "y"}),
        Operation(OpKind.CREATE_CLASS, "Section_A", {"displayName": "A"}, owners=("Teacher_1",)),
        Operation(OpKind.ADD_CLASS_MEMBERS, "Section_A", refs=("Student_1", "Student_2")),
    ),
    changes={},
)


@dataclass
class ScriptedDirectory:
    """Fails the creation of the anchors in ``fail``; records what it was asked to apply."""

    fail: frozenset[str] = frozenset()
    max_batch: int = 20
    calls: list[Operation] = field(default_factory=list)

    def snapshot(self) -> DirectorySnapshot:
        return DirectorySnapshot()

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.calls.extend(operations)
        return [
            OperationResult(False, "Conflict", "exists") if op.target in self.fail else OperationResult(True)
            for op in operations
        ]


class Unreachable:
    max_batch = 20

    def snapshot(self) -> DirectorySnapshot:
        raise DirectoryUnavailable("not used")

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        raise DirectoryUnavailable("not used")


def apply_window(journal: BlobJournal, directory: ScriptedDirectory, start: int, end: int) -> ChunkJournal:
    chunk = cut_chunk(PLAN, start, end, journal, "plan-1")
    recorder = ChunkJournal(chunk, journal, "plan-1")
    outcome = apply_plan(chunk.plan, directory, recorder, plan_id="plan-1")
    assert outcome.error is None
    return recorder


def test_chunks_apply_their_window_once_and_skip_references_to_failed_creates(azurite: str) -> None:
    journal = BlobJournal(blob_store(azurite), f"journal-{uuid.uuid4().hex[:8]}")
    directory = ScriptedDirectory(fail=frozenset({"Student_2"}))

    apply_window(journal, directory, 0, 2)
    second = apply_window(journal, directory, 2, 4)
    again = apply_window(journal, directory, 2, 4)

    assert [(op.kind, op.target) for op in directory.calls] == [
        (OpKind.CREATE_USER, "Student_1"),
        (OpKind.CREATE_USER, "Student_2"),
        (OpKind.CREATE_CLASS, "Section_A"),
        (OpKind.ADD_CLASS_MEMBERS, "Section_A"),
    ]
    assert directory.calls[-1].refs == ("Student_1",)
    assert sorted(second.recorded) == [2, 3] and again.recorded == {}
    loaded = journal.load("plan-1")
    assert sorted(loaded) == [0, 1, 2, 3] and [i for i, r in loaded.items() if not r.ok] == [1]


def test_the_finished_plan_reads_back_from_the_journal_without_touching_the_directory(azurite: str) -> None:
    journal = BlobJournal(blob_store(azurite), f"journal-{uuid.uuid4().hex[:8]}")
    directory = ScriptedDirectory(fail=frozenset({"Student_2"}))
    apply_window(journal, directory, 0, 2)
    apply_window(journal, directory, 2, 4)

    outcome = apply_plan(
        PLAN, Unreachable(), journal, plan_id="plan-1", retry_delays=(), sleep=lambda _: None
    )

    assert outcome.complete and outcome.failed == 1
    assert outcome.applied["users_created"] == 1 and outcome.applied["classes_created"] == 1
    assert [finding.code for finding in outcome.findings] == ["directory_error"]


def test_a_plan_with_chunks_missing_from_the_journal_reads_back_incomplete(azurite: str) -> None:
    journal = BlobJournal(blob_store(azurite), f"journal-{uuid.uuid4().hex[:8]}")
    apply_window(journal, ScriptedDirectory(), 0, 2)

    outcome = apply_plan(
        PLAN, Unreachable(), journal, plan_id="plan-1", retry_delays=(), sleep=lambda _: None
    )

    assert not outcome.complete and outcome.error is not None
