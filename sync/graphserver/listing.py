"""Plain collection reads (``GET /users``, ``/groups?$filter=…``): computed once, paged by :mod:`rounds`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sync.graphserver.calls import Call, Reply
from sync.graphserver.odata import Query, decode_token, project, unsupported
from sync.graphserver.rounds import Round, Rounds

Objects = list[dict[str, Any]]


def _identity(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict(obj)


class Listing:
    def __init__(self, rounds: Rounds) -> None:
        self.rounds = rounds

    def page(
        self,
        call: Call,
        context: str,
        list_all: Callable[[], Objects],
        find: Callable[[str, str], Objects] | None = None,
        *,
        view: Callable[[Mapping[str, Any]], dict[str, Any]] = _identity,
    ) -> Reply:
        if "$skiptoken" in call.query:
            return self.rounds.next_page(decode_token(call.query["$skiptoken"]))
        query = Query.from_request(call.query, call.headers)
        if query.filter is not None:
            if find is None:
                raise unsupported(f"$filter is not supported on {context}.")
            objects = find(*query.filter)
        else:
            objects = list_all()
        items = [project(view(obj), query.select) for obj in objects]
        return self.rounds.first_page(Round(call.path, items, _slice, query.page_size, context))

    def refs(self, call: Call, context: str, refs: Sequence[dict[str, Any]]) -> Reply:
        """A paged list of ``{"@odata.type", "id"}`` references (members, owners, school links)."""
        if "$skiptoken" in call.query:
            return self.rounds.next_page(decode_token(call.query["$skiptoken"]))
        query = Query.from_request(call.query, call.headers)
        return self.rounds.first_page(Round(call.path, list(refs), _slice, query.page_size, context))

    @staticmethod
    def selected(call: Call, obj: Mapping[str, Any]) -> dict[str, Any]:
        return project(obj, Query.from_request(call.query, call.headers).select)


def _slice(items: Sequence[Any]) -> list[dict[str, Any]]:
    return list(items)
