"""Anchor → directory id, the way the Graph adapter resolves the anchors operations name, and which of
those ids this adapter wrote so recently that Graph may not have replicated them yet."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

#: How long after the adapter created (or first wrote) an object a ``404`` naming it may still be
#: replication delay rather than absence. Graph replicates fresh objects within seconds; the adapter's
#: replication retries (about 16 to 32 s in all by default, whatever their jitter) outlast this window.
FRESH_WINDOW_S = 15.0


class AnchorIndex:
    """anchor → directory id, from the snapshot and from what creates returned. A snapshot replaces the
    map but keeps what creates taught it (a fresh object may not be in the delta answers yet)."""

    def __init__(
        self, *, fresh_window_s: float = FRESH_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ids: dict[str, str] = {}
        self._learned: dict[str, str] = {}
        self._fresh_window_s = fresh_window_s
        self._clock = clock
        #: directory id → when a write taught it, oldest first (entries leave once out of the window).
        self._written_at: OrderedDict[str, float] = OrderedDict()

    def replace(self, ids: Mapping[str, str]) -> None:
        self._ids = {**self._learned, **ids}

    def learn(self, anchor: str, directory_id: str) -> None:
        """Record what a write returned: ``anchor`` is ``directory_id``, an object fresh from now on."""
        self._ids[anchor] = directory_id
        self._learned[anchor] = directory_id
        now = self._clock()
        self._written_at.pop(directory_id.lower(), None)
        self._written_at[directory_id.lower()] = now
        self._expire(now)

    def forget(self, anchor: str) -> None:
        self._ids.pop(anchor, None)
        self._learned.pop(anchor, None)

    def get(self, anchor: str) -> str | None:
        return self._ids.get(anchor)

    def names_fresh_object(self, url: str) -> bool:
        """Whether a path segment of the request ``url`` is the id of an object this adapter wrote within the
        fresh window: a ``404`` on such a request may be replication delay, not absence."""
        now = self._clock()
        self._expire(now)
        return any(
            segment.lower() in self._written_at for segment in url.partition("?")[0].split("/") if segment
        )

    def _expire(self, now: float) -> None:
        while self._written_at:
            oldest, written = next(iter(self._written_at.items()))
            if now - written < self._fresh_window_s:
                return
            del self._written_at[oldest]
