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


#: About how many characters :func:`plan_chunks` joins into one chunk.
_CHUNK = 1 << 20


def plan_chunks(plan: Plan) -> Iterator[str]:
    """The canonical JSON of ``plan`` in chunks of about 1 MB (pieces joined: fewer, larger writes)."""
    buffer: list[str] = []
    size = 0
    for piece in plan_pieces(plan):
        buffer.append(piece)
        size += len(piece)
        if size > _CHUNK:
            yield "".join(buffer)
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer)


def encoded_plan(plan: Plan, digest: Any) -> Iterator[bytes]:
    """The canonical JSON of ``plan`` in UTF-8 chunks, each added to ``digest`` (a ``hashlib.sha256()``) as it
    is yielded: once the chunks are consumed, :func:`plan_id_of` ``(digest)`` is the plan's id."""
    for text in plan_chunks(plan):
        data = text.encode()
        digest.update(data)
        yield data


def plan_id_of(digest: Any) -> str:
    """The plan id (= :attr:`Plan.plan_id`) from the digest of the plan's whole canonical JSON."""
    return str(digest.hexdigest()[:32])


def write_plan(plan: Plan, out: IO[str] | None = None) -> str:
    """Write ``plan``'s canonical JSON to ``out`` (if given) and return its id (= ``plan.plan_id``)."""
    digest = hashlib.sha256()
    for text in plan_chunks(plan):
        digest.update(text.encode())
        if out is not None:
            out.write(text)
    return plan_id_of(digest)
