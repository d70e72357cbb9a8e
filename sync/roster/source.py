"""Where a roster comes from: a small protocol every source implements (CSV folder, blob set, Clever API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sync.findings import Finding
from sync.roster.model import RawFile

#: Progress callback: (done, total) in bytes or records; total may be 0 when unknown.
Progress = Callable[[int, int], None]


class RosterSource(Protocol):
    """Produces the raw files of one set; validation (``sync.roster.validate``) is shared by all sources."""

    def read_raw(self, *, progress: Progress | None = None) -> tuple[dict[str, RawFile], list[Finding]]:
        """Return ``{kind: RawFile}`` for the files present (kinds of ``FILE_KINDS``) and the findings made
        while reading (file-level errors, ``ignored_file``, ``malformed_row`` …)."""
        ...
