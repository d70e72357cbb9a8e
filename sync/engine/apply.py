"""Apply a plan against a :class:`Directory`: phase by phase, in chunks of ``directory.max_batch``, with a
journal so that a killed run, started again, skips what is done and finishes the rest.

- A chunk the directory cannot take at all (:class:`DirectoryUnavailable`) is retried with bounded
  backoff; after the last try the apply stops cleanly (``ApplyOutcome.error``), the journal kept.
- A failed operation becomes a finding (``directory_error``, with the directory's code) at the roster
  record it comes from; operations on an object whose creation failed are skipped without a second finding,
  and references to accounts that could not be created are left out of membership operations.
- A plan the mass-change guard held is applied only with ``approved=True`` (an operator approved it);
  without, :class:`~sync.errors.PlanHeld` is raised before anything is read or sent.
- Passwords never appear in a plan: a ``CREATE_USER`` carries ``"password": "***"`` and the real value is
  looked up in ``passwords`` (built from the roster) just before the chunk is sent.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sync.directory.model import Directory, Operation, OperationResult, OpKind
from sync.engine.changes import count_changes
from sync.engine.journal import Journal
from sync.engine.plan import Plan
from sync.engine.user_ops import REDACTED
from sync.errors import DirectoryAccessRefused, DirectoryUnavailable, PlanHeld
from sync.findings import Finding, Severity

log = logging.getLogger(__name__)

#: (operations finished, operations in the plan).
ApplyProgress = Callable[[int, int], None]
_CREATES = frozenset({OpKind.CREATE_SCHOOL, OpKind.CREATE_USER, OpKind.CREATE_CLASS, OpKind.CREATE_GROUP})
SKIPPED = "Skipped"
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class ApplyOutcome:
    #: Change counts of the operations that succeeded (this run and any run it resumed).
    applied: Mapping[str, int]
    findings: tuple[Finding, ...]
    total: int
    done: int
    failed: int
    #: Why the apply stopped before the end (the directory stayed unavailable); ``None`` when it finished.
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and self.done == self.total


def apply_plan(
    plan: Plan,
    directory: Directory,
    journal: Journal,
    *,
    progress: ApplyProgress | None = None,
    passwords: Mapping[str, str] | None = None,
    plan_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    approved: bool = False,
) -> ApplyOutcome:
    """Apply ``plan``; ``approved`` says an operator approved it, which a plan the guard held requires."""
    if plan.guard.held and not approved:
        reasons = "; ".join(plan.guard.reasons) or "it would remove too much"
        raise PlanHeld(
            f"the mass-change guard held this plan ({reasons}): nothing was applied; an operator must review "
            "and approve it first (python -m sync run --approve, or the run's approve endpoint)"
        )
    plan_id = plan_id or plan.plan_id
    operations = plan.operations
    done = journal.load(plan_id)
    failed_targets = {
        operations[i].target for i, r in done.items() if not r.ok and operations[i].kind in _CREATES
    }
    error: str | None = None
    for start, end in plan.phase_slices():
        pending = [index for index in range(start, end) if index not in done]
        for offset in range(0, len(pending), directory.max_batch):
            batch = pending[offset : offset + directory.max_batch]
            results = _apply_batch(
                batch, operations, directory, failed_targets, passwords or {}, sleep, retry_delays
            )
            if isinstance(results, str):
                error = results
                break
            journal.record(plan_id, results)
            done.update(results)
            failed_targets.update(
                operations[i].target
                for i, r in results.items()
                if not r.ok and operations[i].kind in _CREATES
            )
            if progress is not None:
                progress(len(done), len(operations))
        if error is not None:
            break
    findings = tuple(
        _finding(operations[i], r) for i, r in sorted(done.items()) if not r.ok and r.code != SKIPPED
    )
    return ApplyOutcome(
        applied=count_changes(operations[i] for i, r in sorted(done.items()) if r.ok),
        findings=findings,
        total=len(operations),
        done=len(done),
        failed=sum(1 for r in done.values() if not r.ok),
        error=error,
    )


def _apply_batch(
    batch: Sequence[int],
    operations: Sequence[Operation],
    directory: Directory,
    failed_targets: set[str],
    passwords: Mapping[str, str],
    sleep: Callable[[float], None],
    retry_delays: Sequence[float],
) -> dict[int, OperationResult] | str:
    """Results by index, or the reason the directory could not be reached."""
    results: dict[int, OperationResult] = {}
    sendable: list[tuple[int, Operation]] = []
    for index in batch:
        prepared = _prepare(operations[index], failed_targets, passwords)
        if isinstance(prepared, OperationResult):
            results[index] = prepared
        else:
            sendable.append((index, prepared))
    if not sendable:
        return results
    for attempt in range(len(retry_delays) + 1):
        try:
            answers = directory.apply([op for _, op in sendable])
            break
        except DirectoryAccessRefused:
            raise  # refused again on every attempt until an admin grants the permissions
        except DirectoryUnavailable as err:
            if attempt == len(retry_delays):
                return f"the directory is unavailable ({err}); run again to resume where this run stopped"
            log.warning("directory unavailable, retrying in %.0f s: %s", retry_delays[attempt], err)
            sleep(retry_delays[attempt])
    if len(answers) != len(sendable):
        raise RuntimeError(f"the directory answered {len(answers)} results for {len(sendable)} operations")
    results.update((index, answer) for (index, _), answer in zip(sendable, answers, strict=True))
    return results


def _prepare(op: Operation, failed: set[str], passwords: Mapping[str, str]) -> Operation | OperationResult:
    """The operation as sent: passwords filled in, references to objects that failed to exist left out."""
    if op.target in failed:
        return OperationResult(False, SKIPPED, "its object could not be created")
    if failed and (op.refs or op.owners):
        refs = tuple(ref for ref in op.refs if ref not in failed)
        owners = tuple(owner for owner in op.owners if owner not in failed)
        if op.kind is OpKind.CREATE_CLASS and not owners:
            return OperationResult(False, "NoOwner", "class not created: none of its owners could be created")
        if not refs and not owners:
            return OperationResult(False, SKIPPED, "none of its members could be created")
        op = dataclasses.replace(op, refs=refs, owners=owners)
    if op.kind is OpKind.CREATE_USER:
        profile = op.fields.get("passwordProfile")
        if isinstance(profile, Mapping) and profile.get("password") == REDACTED:
            fields = dict(op.fields)
            password = passwords.get(op.target)
            if password is None:
                del fields["passwordProfile"]  # the directory generates one
            else:
                fields["passwordProfile"] = {**profile, "password": password}
            op = dataclasses.replace(op, fields=fields)
    return op


def _finding(op: Operation, result: OperationResult) -> Finding:
    record = op.record
    detail = f"{result.code}: {result.message}" if result.message else str(result.code)
    return Finding(
        file=record.file if record else "directory",
        line=record.line if record else None,
        column=None,
        record_id=record.record_id if record else op.target,
        severity=Severity.RECORD_ERROR,
        code="directory_error",
        message=f"{op.kind.value} failed: {detail}",
    )
