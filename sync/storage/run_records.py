"""Run records: one row per run with its state, counts, timings and report location.

Two stores implement :class:`RunStore`: :class:`TableRunStore` (Azure Table storage, what the Function App
writes and the Portal's storage browser shows) and :class:`FolderRunStore` (one JSON file per run, for the
CLI and tests). A record holds no personal data: counts, codes, references and times only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sync.errors import UsageError

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

#: States a record may be in: ``queued`` while the run waits for the tenant's sync slot (another run holds
#: it), ``running`` while it is under way, then one of ``clever-csv.md`` §8.
FINAL_STATES = frozenset(("completed", "completed_with_warnings", "completed_with_errors", "failed", "held"))
STATES = ("queued", "running", *sorted(FINAL_STATES))
_PARTITION = "run"


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    profile: str
    #: ``upload``, ``nightly`` or ``manual``.
    trigger: str
    #: What was synced: ``<container>/<folder>`` of a file set, or ``clever_api``.
    source: str
    status: str = "running"
    #: Last stage reached: validate, queued (waiting for the sync slot), plan, guard, apply, report.
    stage: str = "validate"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    #: Counts of ``CHANGE_KEYS`` plus ``applied``, ``failed``, ``findings_errors``, ``findings_warnings``.
    counts: Mapping[str, int] = field(default_factory=dict)
    #: Seconds per stage: ``validate``, ``plan``, ``wait`` (a held run), ``apply``, ``report``.
    timings: Mapping[str, float] = field(default_factory=dict)
    #: ``<container>/<path>`` of the run's report folder.
    report: str | None = None
    #: ETags of the set's files by file name (lets the nightly run re-sync the last accepted set).
    set_etags: Mapping[str, str] = field(default_factory=dict)
    #: For a held run: ``approved``, ``rejected`` or ``expired``; ``None`` otherwise.
    decision: str | None = None
    #: One line for the admin when the run failed or was held; no personal data.
    message: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "profile": self.profile,
            "trigger": self.trigger,
            "source": self.source,
            "status": self.status,
            "stage": self.stage,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_s": self.duration_s,
            "counts": dict(sorted(self.counts.items())),
            "timings": dict(sorted(self.timings.items())),
            "report": self.report,
            "set_etags": dict(sorted(self.set_etags.items())),
            "decision": self.decision,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        finished = data.get("finished_at")
        return cls(
            run_id=str(data["run_id"]),
            profile=str(data["profile"]),
            trigger=str(data["trigger"]),
            source=str(data["source"]),
            status=str(data["status"]),
            stage=str(data["stage"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            finished_at=datetime.fromisoformat(finished) if finished else None,
            counts={str(k): int(v) for k, v in dict(data.get("counts") or {}).items()},
            timings={str(k): float(v) for k, v in dict(data.get("timings") or {}).items()},
            report=data.get("report"),
            set_etags={str(k): str(v) for k, v in dict(data.get("set_etags") or {}).items()},
            decision=data.get("decision"),
            message=data.get("message"),
        )

    def finish(self, status: str, *, at: datetime, **changes: Any) -> RunRecord:
        if status not in FINAL_STATES:
            raise ValueError(f"{status!r} is not a final run state")
        return replace(self, status=status, finished_at=at, **changes)


class RunStore(Protocol):
    def put_run(self, record: RunRecord) -> None:
        """Create or replace the record of ``record.run_id``."""
        ...

    def get_run(self, run_id: str) -> RunRecord:
        """The record of ``run_id``; :class:`~sync.errors.UsageError` when there is none."""
        ...

    def list_runs(self, *, limit: int = 20) -> list[RunRecord]:
        """The last ``limit`` runs, newest first (empty when there are none)."""
        ...


def _newest_first(records: list[RunRecord], limit: int) -> list[RunRecord]:
    return sorted(records, key=lambda r: (r.started_at, r.run_id), reverse=True)[:limit]


class FolderRunStore:
    """One ``<run_id>.json`` per run in a local folder. :meth:`list_runs` also lists the report folders that
    ``python -m sync run`` writes there (``<UTC time>-<plan id>/summary.json``) as runs of trigger ``cli``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
            raise UsageError(f"run id {run_id!r} is not valid: use the id shown by `python -m sync runs`")
        return self.folder / f"{run_id}.json"

    def put_run(self, record: RunRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(record.run_id)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(path)  # atomic: a reader never sees half a record

    def get_run(self, run_id: str) -> RunRecord:
        path = self._path(run_id)
        if not path.exists():
            raise UsageError(f"no run {run_id!r} in {self.folder}")
        return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))

    def list_runs(self, *, limit: int = 20) -> list[RunRecord]:
        if not self.folder.is_dir():
            return []
        records = [
            RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            for path in self.folder.glob("*.json")
        ]
        records.extend(filter(None, (_cli_run(path) for path in self.folder.glob("*/summary.json"))))
        records.extend(
            filter(
                None,
                (
                    _unfinished_cli_run(path)
                    for path in self.folder.glob("*/plan.json")
                    if not path.with_name("summary.json").exists()
                ),
            )
        )
        return _newest_first(records, limit)


#: A CLI report folder with a plan but no summary: the run is still going, or it was stopped (killed, power
#: cut) before its report; the next ``python -m sync run`` resumes from its journal.
UNFINISHED = "unfinished"


def _unfinished_cli_run(plan_path: Path) -> RunRecord | None:
    stamp, _, plan_id = plan_path.parent.name.partition("-")
    try:
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return RunRecord(
        run_id=plan_path.parent.name,
        profile="",
        trigger="cli",
        source="",
        status=UNFINISHED,
        stage="apply",
        started_at=started,
        report=str(plan_path.parent),
        message=f"plan {plan_id} has no summary.json: the run is still going or was stopped; run it again",
    )


def _cli_run(summary_path: Path) -> RunRecord | None:
    """A CLI run's report folder as a record; ``None`` for a folder not named ``<UTC time>-<plan id>``."""
    stamp, _, _ = summary_path.parent.name.partition("-")
    try:
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    counts = {str(k): int(v) for k, v in dict(summary.get("changes") or {}).items()}
    findings = dict(summary.get("findings") or {})
    counts["findings_errors"] = int(findings.get("errors", 0))
    counts["findings_warnings"] = int(findings.get("warnings", 0))
    return RunRecord(
        run_id=summary_path.parent.name,
        profile=str(summary.get("profile", "")),
        trigger="cli",
        source=str(summary.get("source", "")),
        status=str(summary.get("status", "failed")),
        stage="report",
        started_at=_summary_time(summary, "started_at") or started,
        finished_at=_summary_time(summary, "finished_at"),
        counts=counts,
        report=str(summary_path.parent),
        message=summary.get("error"),
    )


def _summary_time(summary: dict[str, Any], key: str) -> datetime | None:
    """``started_at`` / ``finished_at`` of a CLI run's summary (ISO 8601), ``None`` when absent or bad."""
    try:
        return datetime.fromisoformat(str(summary[key]))
    except (KeyError, ValueError):
        return None


class TableRunStore:
    """Run records in an Azure Table: partition ``run``, row key = run id; counts as integer columns so
    the Portal's storage browser shows them as they are."""

    def __init__(self, service: TableServiceClient, table: str) -> None:
        self._table = service.create_table_if_not_exists(table)
        self.table_name = table

    def put_run(self, record: RunRecord) -> None:
        from azure.data.tables import UpdateMode

        # Replace, not merge: a field cleared in the record (a queued run's message) is cleared in the row.
        self._table.upsert_entity(_to_entity(record), mode=UpdateMode.REPLACE)

    def get_run(self, run_id: str) -> RunRecord:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(_PARTITION, run_id)
        except ResourceNotFoundError as err:
            raise UsageError(f"no run {run_id!r} in table {self.table_name}") from err
        return _from_entity(entity)

    def list_runs(self, *, limit: int = 20) -> list[RunRecord]:
        entities = self._table.query_entities("PartitionKey eq @p", parameters={"p": _PARTITION})
        return _newest_first([_from_entity(entity) for entity in entities], limit)


_COUNT_PREFIX = "n_"
_TIMING_PREFIX = "t_"


def _to_entity(record: RunRecord) -> dict[str, Any]:
    data = record.to_json()
    entity: dict[str, Any] = {
        "PartitionKey": _PARTITION,
        "RowKey": record.run_id,
        **{
            key: value
            for key, value in data.items()
            if key not in ("counts", "timings", "set_etags", "run_id")
        },
        "set_etags": json.dumps(data["set_etags"], sort_keys=True),
    }
    entity.update({f"{_COUNT_PREFIX}{key}": int(value) for key, value in record.counts.items()})
    entity.update({f"{_TIMING_PREFIX}{key}_s": float(value) for key, value in record.timings.items()})
    return {key: value for key, value in entity.items() if value is not None}


def _from_entity(entity: Mapping[str, Any]) -> RunRecord:
    data: dict[str, Any] = {
        key: value for key, value in entity.items() if not key.startswith((_COUNT_PREFIX, _TIMING_PREFIX))
    }
    data["run_id"] = entity["RowKey"]
    data["counts"] = {
        key[len(_COUNT_PREFIX) :]: int(value)
        for key, value in entity.items()
        if key.startswith(_COUNT_PREFIX)
    }
    data["timings"] = {
        key[len(_TIMING_PREFIX) : -len("_s")]: float(value)
        for key, value in entity.items()
        if key.startswith(_TIMING_PREFIX)
    }
    data["set_etags"] = json.loads(entity.get("set_etags") or "{}")
    return RunRecord.from_json(data)
