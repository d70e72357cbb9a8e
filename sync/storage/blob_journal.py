"""The apply journal in blob storage (``sync.engine.journal.Journal``), shared by every apply activity.

Each :meth:`BlobJournal.record` call writes one blob (a single upload is atomic, so a record is all there or
absent): ``<prefix>/<plan_id>/<first index>-<last index>[-f].json``, holding ``{index: [ok, code, message,
directory_id]}``. The ``-f`` suffix marks a record with a failure, so a chunk can learn which creates failed
earlier without downloading every record (:meth:`load_window`).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from sync.directory.model import OperationResult
from sync.storage.blob_store import BlobStore

_WIDTH = 9
_READERS = 8


class BlobJournal:
    def __init__(self, blobs: BlobStore, container: str, prefix: str = "journal") -> None:
        self._blobs = blobs
        self._container = container
        self._prefix = prefix.rstrip("/")

    def _folder(self, plan_id: str) -> str:
        return f"{self._prefix}/{plan_id}/"

    def record(self, plan_id: str, results: Mapping[int, OperationResult]) -> None:
        if not results:
            return
        first, last = min(results), max(results)
        failed = "-f" if any(not result.ok for result in results.values()) else ""
        path = f"{self._folder(plan_id)}{first:0{_WIDTH}d}-{last:0{_WIDTH}d}{failed}.json"
        body = {
            str(index): [result.ok, result.code, result.message, result.directory_id]
            for index, result in sorted(results.items())
        }
        self._blobs.write_json(self._container, path, body)

    def load(self, plan_id: str) -> dict[int, OperationResult]:
        return self._read(self._blobs.list_names(self._container, self._folder(plan_id)))

    def load_window(
        self, plan_id: str, start: int, end: int
    ) -> tuple[dict[int, OperationResult], dict[int, OperationResult]]:
        """``(results of operations start..end-1, failed results before start)``, reading only the records
        that overlap the window or hold a failure before it."""
        window: list[str] = []
        failures: list[str] = []
        for name in self._blobs.list_names(self._container, self._folder(plan_id)):
            first, last, failed = _range_of(name)
            if first < end and last >= start:
                window.append(name)
            elif failed and last < start:
                failures.append(name)
        inside = {i: r for i, r in self._read(window).items() if start <= i < end}
        before = {i: r for i, r in self._read(failures).items() if i < start and not r.ok}
        return inside, before

    def _read(self, names: list[str]) -> dict[int, OperationResult]:
        """Download records concurrently (a large run has thousands); merge them in name order."""
        with ThreadPoolExecutor(max_workers=_READERS) as pool:
            bodies = list(pool.map(lambda name: self._blobs.read_json(self._container, name), names))
        results: dict[int, OperationResult] = {}
        for body in bodies:
            for index, (ok, code, message, directory_id) in body.items():
                results[int(index)] = OperationResult(bool(ok), code, message, directory_id)
        return results


def _range_of(name: str) -> tuple[int, int, bool]:
    stem = name.rsplit("/", 1)[-1].removesuffix(".json")
    failed = stem.endswith("-f")
    first, last = stem.removesuffix("-f").split("-")[:2]
    return int(first), int(last), failed
