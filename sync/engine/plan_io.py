"""Writing a plan without holding its whole JSON in memory.

:meth:`Plan.dumps` builds the entire document as one string (for a first sync of a million students,
gigabytes); :func:`write_plan` streams the same bytes operation by operation and hashes them on the way,
so the id it returns is :attr:`Plan.plan_id`. The output is byte-identical to ``Plan.dumps()`` (a test
holds it to that).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import IO, Any

from sync.engine.plan import Plan


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_pieces(plan: Plan) -> Iterator[str]:
    """The canonical JSON of ``plan`` in pieces: the document without operations, cut where its empty
    operation list is (a key with unescaped quotes appears once), and the operations one by one."""
    head = _dumps(dataclasses.replace(plan, operations=()).to_json())
    before, after = head.split(_EMPTY_OPERATIONS, 1)
    yield before + '"operations":['
    for index, operation in enumerate(plan.operations):
        yield ("," if index else "") + _dumps(operation.to_json())
    yield "]" + after


_EMPTY_OPERATIONS = '"operations":[]'


def write_plan(plan: Plan, out: IO[str] | None = None) -> str:
    """Write ``plan``'s canonical JSON to ``out`` (if given) and return its id (= ``plan.plan_id``)."""
    digest = hashlib.sha256()
    buffer: list[str] = []
    size = 0
    for piece in plan_pieces(plan):
        buffer.append(piece)
        size += len(piece)
        if size > 1 << 20:
            _flush(buffer, digest, out)
            size = 0
    _flush(buffer, digest, out)
    return digest.hexdigest()[:32]


def _flush(buffer: list[str], digest: Any, out: IO[str] | None) -> None:
    text = "".join(buffer)
    buffer.clear()
    digest.update(text.encode())
    if out is not None:
        out.write(text)
