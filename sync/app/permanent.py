"""Which activity failures are permanent, and how an activity reports one.

The Python Durable SDK retries a failed activity whatever the exception, so an activity catches the errors
that another attempt cannot cure and *returns* ``{"error": "<one line>", "permanent": true}``; the
orchestrator ends the run ``failed`` with that reason at once. Everything else still raises and is retried
(``RETRY``): storage or Graph unavailable (:class:`~sync.errors.DirectoryUnavailable`, a storage time-out), a
worker recycled, a chunk that stopped half way.

Permanent:
- :class:`~sync.errors.UsageError` — a bad input or a missing file the run depends on; also
  :class:`~sync.errors.NotEnoughMemory`, a plan too big for the instance to make or apply
  (:mod:`sync.app.memory_check`);
- :class:`~sync.errors.SettingsError` — a missing or invalid app setting;
- :class:`~sync.profile.ProfileError` — the profile TOML is invalid;
- :class:`~sync.engine.planner.ProfileExpired` — the profile's ``stop_date`` has passed;
- a blob of the run's set deleted or changed since the run started (a new upload starts its own run);
- :class:`~sync.errors.DirectoryAccessRefused` — Graph refused the app's credentials or permissions;
- a Clever API answer in the 4xx range other than 429 (a refused token, a bad route): the same request is
  refused again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sync.app.orchestration import FAILURE_REASON_LIMIT
from sync.engine.planner import ProfileExpired
from sync.errors import DirectoryAccessRefused, SettingsError, SourceError, UsageError
from sync.profile import ProfileError
from sync.storage.blob_store import BlobChanged, BlobMissing

PERMANENT = (
    UsageError,
    SettingsError,
    ProfileError,
    ProfileExpired,
    BlobMissing,
    BlobChanged,
    DirectoryAccessRefused,
)
#: Longest reason kept (the run record's message and the report's ``error``): the orchestrator's limit, so
#: that a reason is not cut again on its way to the run record.
REASON_LIMIT = FAILURE_REASON_LIMIT
LOG = logging.getLogger("sync.app")


def is_permanent(error: BaseException) -> bool:
    if isinstance(error, PERMANENT):
        return True
    status = getattr(error, "status", None)
    return (
        isinstance(error, SourceError) and isinstance(status, int) and 400 <= status < 500 and status != 429
    )


def permanent_failure(activity: str, error: BaseException) -> dict[str, Any]:
    """The result an activity returns instead of raising a permanent error."""
    text = " ".join(str(error).split()) or type(error).__name__
    return {"error": f"{activity}: {text}"[:REASON_LIMIT], "permanent": True}


def run_activity(
    activity: str, body: Callable[[Mapping[str, Any]], dict[str, Any]], payload: Mapping[str, Any]
) -> dict[str, Any]:
    """Run an activity's body: its result, or :func:`permanent_failure` for a permanent error; any other
    error propagates (the host retries the activity)."""
    try:
        return body(payload)
    except Exception as err:
        if is_permanent(err):
            # The type only: the message may name a file's row (the run record and report carry it).
            LOG.warning("activity %s failed for good (%s): the run ends failed", activity, type(err).__name__)
            return permanent_failure(activity, err)
        raise


def is_permanent_result(result: Any) -> bool:
    return isinstance(result, Mapping) and result.get("permanent") is True
