"""Errors the sync raises at its edges. Every one carries a message that names the file, line, column or
key at fault and says what to do; the CLI prints it on one line and exits 2, never with a traceback.

- :class:`SyncError` — base of everything below.
  - :class:`UsageError` — a bad command line or a missing/unreadable input (folder, file, setting).
    - :class:`PlanHeld` — a plan the mass-change guard held was given to apply without an operator's
      approval.
    - :class:`NotEnoughMemory` — planning this roster against this directory, or applying its plan, would
      need more memory than the machine has; another attempt on the same machine would be killed the same
      way.
  - :class:`SettingsError` — one or more app settings are missing or invalid (all listed at once).
  - :class:`DirectoryUnavailable` — the directory (local tenant file, Graph) cannot be reached at all.
    - :class:`DirectoryAccessRefused` — it can be reached but refuses the credentials (HTTP 401 / 403):
      another attempt is refused again until an admin grants the permissions.
  - :class:`SourceError` — a roster source (blob container, Clever API) failed in a way that is not a
    finding about the data (authentication refused, service down after retries).

``sync.profile.ProfileError`` (a ``ValueError``) is reported the same way by the CLI.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class; ``str(err)`` is the one-line message shown to the admin."""


class UsageError(SyncError):
    pass


class PlanHeld(UsageError):
    """Applying a held plan needs ``approved=True``: the caller says an operator approved it. The CLI and the
    app check the approval first; this is the engine's second line of defence."""


class NotEnoughMemory(UsageError):
    """Raised before planning starts, or before a plan too big to apply is applied; the message gives the
    sizes (no personal data), the estimated need, the machine's memory, and where to run instead."""


class SettingsError(SyncError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("invalid settings: " + "; ".join(f"{key}: {msg}" for key, msg in problems))


class DirectoryUnavailable(SyncError):
    pass


class DirectoryAccessRefused(DirectoryUnavailable):
    pass


class SourceError(SyncError):
    pass
