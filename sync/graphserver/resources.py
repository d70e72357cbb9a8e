"""Everything the server serves, assembled over one :class:`TenantStore`; store refusals become OData
errors as they are (the store already speaks Graph's codes and messages)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from sync.directory.tenant_errors import TenantError
from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, ok
from sync.graphserver.delta import DeltaQueries, Feed
from sync.graphserver.errors import GraphError
from sync.graphserver.groups import Groups
from sync.graphserver.identity import LOCAL_TENANT_ID
from sync.graphserver.listing import Listing
from sync.graphserver.rounds import Rounds
from sync.graphserver.router import Handler, Route
from sync.graphserver.schools import Schools
from sync.graphserver.users import Users
from sync.graphserver.views import education_user_view, sku_view, user_view


def _administrative_unit(store: TenantStore, school_id: str) -> Mapping[str, Any]:
    school = store.get_school(school_id)
    return {key: school[key] for key in ("id", "displayName", "description") if key in school}


FEEDS = (
    Feed("/users/delta", "users", frozenset({"user"}), lambda s, i: user_view(s.get_user(i))),
    Feed(
        "/education/users/delta",
        "education/users",
        frozenset({"user"}),
        lambda s, i: education_user_view(s.get_user(i)),
    ),
    Feed(
        "/education/schools/delta",
        "education/schools",
        frozenset({"school"}),
        lambda s, i: s.get_school(i),
        removed_reason="deleted",
    ),
    Feed(
        "/education/classes/delta",
        "education/classes",
        frozenset({"group"}),
        lambda s, i: s.get_class(i),
        classes_only=True,
    ),
    Feed("/groups/delta", "groups", frozenset({"group"}), lambda s, i: s.get_group(i), ("owner", "member")),
    Feed(
        "/directory/administrativeUnits/delta",
        "directory/administrativeUnits",
        frozenset({"school"}),
        _administrative_unit,
        ("user", "class"),
        removed_reason="deleted",
    ),
)


def graph_errors(handler: Handler) -> Handler:
    """Turns the store's ``TenantError`` into the ``GraphError`` the HTTP layer answers with."""

    def handle(call: Call, params: dict[str, str]) -> Reply:
        try:
            return handler(call, params)
        except TenantError as err:
            details = [{"code": "ObjectConflict", "target": err.target}] if err.target else None
            raise GraphError(err.status, err.code, err.message, details=details) from err

    return handle


class Resources:
    def __init__(self, store: TenantStore, base_url: Callable[[], str]) -> None:
        self.store = store
        rounds = Rounds(base_url)
        listing = Listing(rounds)
        self._delta = DeltaQueries(store, rounds)
        self._parts = (Users(store, listing), Groups(store, listing), Schools(store, listing))

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, base_url: Callable[[], str]) -> Resources:
        return cls(TenantStore(path), base_url)

    def close(self) -> None:
        self.store.close()

    def routes(self) -> list[Route]:
        routes = [Route("GET", feed.path, self._delta.handler(feed)) for feed in FEEDS]
        routes.append(Route("GET", "/subscribedSkus", self.subscribed_skus))
        for part in self._parts:
            routes.extend(part.routes())
        return [Route(r.method, r.pattern, graph_errors(r.handler)) for r in routes]

    def subscribed_skus(self, call: Call, params: dict[str, str]) -> Reply:
        skus = [sku_view(sku, part, LOCAL_TENANT_ID) for sku, part in self.store.subscribed_skus().items()]
        return ok({"value": skus})
