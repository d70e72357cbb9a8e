"""Paging: a listing or delta round is computed once, kept in memory and served page by page.

``@odata.nextLink`` carries ``$skiptoken`` naming the round and the offset; a round is forgotten when its
last page has been served or when too many rounds are open (the oldest goes; its token then answers
``410``). ``@odata.deltaLink`` carries only the change counter (and the ``$select``), so it stays valid
for as long as the tenant file does, across server restarts.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sync.graphserver.calls import Reply
from sync.graphserver.errors import GraphError
from sync.graphserver.odata import encode_token

#: Renders a slice of a round's entries as the page's ``value``.
Render = Callable[[Sequence[Any]], list[dict[str, Any]]]

MAX_OPEN_ROUNDS = 16


@dataclass(frozen=True, slots=True)
class Round:
    path: str
    entries: Sequence[Any]
    render: Render
    page_size: int
    context: str
    #: For a delta round: what the final page's ``@odata.deltaLink`` token holds.
    delta_state: dict[str, Any] | None = None


class Rounds:
    def __init__(self, base_url: Callable[[], str]) -> None:
        self._base_url = base_url
        self._open: OrderedDict[str, Round] = OrderedDict()
        self._lock = threading.Lock()

    def first_page(self, round_: Round) -> Reply:
        if len(round_.entries) <= round_.page_size:
            return self._page(round_, None, 0)
        round_id = uuid.uuid4().hex
        with self._lock:
            self._open[round_id] = round_
            while len(self._open) > MAX_OPEN_ROUNDS:
                self._open.popitem(last=False)
        return self._page(round_, round_id, 0)

    def next_page(self, state: dict[str, Any]) -> Reply:
        round_id, offset = state.get("r"), state.get("o")
        with self._lock:
            round_ = self._open.get(round_id) if isinstance(round_id, str) else None
        if round_ is None or not isinstance(offset, int):
            raise GraphError(
                410,
                "SyncStateNotFound",
                "The paging state in the $skiptoken has expired; start the query or the delta round again.",
            )
        return self._page(round_, round_id, offset)

    def _page(self, round_: Round, round_id: str | None, offset: int) -> Reply:
        end = offset + round_.page_size
        body: dict[str, Any] = {
            "@odata.context": f"{self._base_url()}/$metadata#{round_.context}",
            "value": round_.render(round_.entries[offset:end]),
        }
        if end < len(round_.entries):
            assert round_id is not None
            body["@odata.nextLink"] = (
                f"{self._base_url()}{round_.path}?$skiptoken={encode_token({'r': round_id, 'o': end})}"
            )
        else:
            if round_id is not None:
                with self._lock:
                    self._open.pop(round_id, None)
            if round_.delta_state is not None:
                body["@odata.deltaLink"] = (
                    f"{self._base_url()}{round_.path}?$deltatoken={encode_token(round_.delta_state)}"
                )
        return Reply(200, body)
