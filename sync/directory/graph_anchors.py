"""Anchor → directory id, the way the Graph adapter resolves the anchors operations name."""

from __future__ import annotations

from collections.abc import Mapping


class AnchorIndex:
    """anchor → directory id, from the snapshot and from what creates returned. A snapshot replaces the
    map but keeps what creates taught it (a fresh object may not be in the delta answers yet)."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._learned: dict[str, str] = {}

    def replace(self, ids: Mapping[str, str]) -> None:
        self._ids = {**self._learned, **ids}

    def learn(self, anchor: str, directory_id: str) -> None:
        self._ids[anchor] = directory_id
        self._learned[anchor] = directory_id

    def forget(self, anchor: str) -> None:
        self._ids.pop(anchor, None)
        self._learned.pop(anchor, None)

    def get(self, anchor: str) -> str | None:
        return self._ids.get(anchor)
