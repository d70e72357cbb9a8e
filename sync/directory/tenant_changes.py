"""What changed in the local tenant after a change-counter value (the basis of Graph delta queries)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """An object created or changed (``removed=False``) or deleted (``removed=True``) at ``version``.
    ``kind`` is ``"user"``, ``"group"`` (classes included) or ``"school"``."""

    kind: str
    id: str
    version: int
    removed: bool


@dataclass(frozen=True, slots=True)
class LinkChange:
    """A link added (``removed=False``) or removed at ``version``. ``relation``: ``owner``/``member`` of a
    group, ``user``/``class`` of a school."""

    container_id: str
    relation: str
    member_id: str
    version: int
    removed: bool


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after a counter value; ``counter`` is the value to ask from next time."""

    objects: tuple[ObjectChange, ...]
    links: tuple[LinkChange, ...]
    counter: int
