"""Delta queries over the store's change counter (``TenantStore.changes_since``).

A round (first: since 0; later: since the counter in ``$deltatoken``) lists each object that changed —
created, a property changed, deleted, or (for groups and administrative units) a link added or removed —
once, in change order. Pages render the objects' current state; an object changed while the round is
being paged may come again in the next round, never lost. The deltaLink holds the counter read together
with the changes, so nothing committed after it is missed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.directory.tenant_errors import TenantError
from sync.directory.tenant_store import Changes, LinkChange, TenantStore
from sync.graphserver.calls import Call, Reply
from sync.graphserver.errors import GraphError
from sync.graphserver.odata import Query, decode_token
from sync.graphserver.rounds import Round, Rounds
from sync.graphserver.views import GROUP_TYPE, USER_TYPE

#: Link relation → the navigation property its changes show in.
NAVIGATION = {"owner": "owners", "member": "members", "user": "members", "class": "members"}

View = Callable[[TenantStore, str], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Feed:
    """One delta resource: which object kinds and link relations it reports and how it shows them."""

    path: str
    context: str
    kinds: frozenset[str]
    view: View
    relations: tuple[str, ...] = ()
    classes_only: bool = False
    #: ``@removed.reason`` for a deleted object: ``changed`` where Graph soft-deletes (users, groups).
    removed_reason: str = "changed"


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    removed: bool
    links: tuple[LinkChange, ...] = ()


def entries_of(changes: Changes, feed: Feed, *, first_round: bool) -> list[Entry]:
    """One entry per changed object of the feed, in the order of its first change."""
    removed: dict[str, bool] = {}
    links: dict[str, list[LinkChange]] = {}
    for change in changes.objects:
        if change.kind not in feed.kinds:
            continue
        if change.removed:
            if first_round:
                removed.pop(change.id, None)
                continue
            removed[change.id] = True
        else:
            removed.setdefault(change.id, False)
    for link in changes.links:
        if link.relation not in feed.relations or (first_round and link.removed):
            continue
        if removed.setdefault(link.container_id, False):
            continue
        links.setdefault(link.container_id, []).append(link)
    return [Entry(object_id, gone, tuple(links.get(object_id, ()))) for object_id, gone in removed.items()]


class DeltaQueries:
    def __init__(self, store: TenantStore, rounds: Rounds) -> None:
        self.store = store
        self.rounds = rounds

    def handler(self, feed: Feed) -> Callable[[Call, dict[str, str]], Reply]:
        def handle(call: Call, params: dict[str, str]) -> Reply:
            return self.query(feed, call)

        return handle

    def query(self, feed: Feed, call: Call) -> Reply:
        if "$skiptoken" in call.query:
            return self.rounds.next_page(decode_token(call.query["$skiptoken"]))
        query = Query.from_request(call.query, call.headers)
        select = list(query.select) if query.select is not None else None
        since = 0
        token = call.query.get("$deltatoken")
        tenant = self.store.tenant_id
        if token == "latest":
            latest = _state(tenant, self.store.counter, select)
            return self.rounds.first_page(
                Round(feed.path, [], lambda _: [], query.page_size, feed.context, latest)
            )
        if token is not None:
            state = decode_token(token)
            if state.get("t") != tenant:
                # Made by another server (another tenant file, or one made anew on the same port): its
                # counter means nothing here. Graph answers an unknown token so; the client starts afresh.
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state in the token belongs to another tenant; start a round without a token.",
                )
            since = int(state.get("c", 0))
            if query.select is None and isinstance(state.get("s"), list):
                select = [str(name) for name in state["s"]]
        changes = self.store.changes_since(since)
        entries = entries_of(changes, feed, first_round=since == 0)
        if feed.classes_only:
            entries = [e for e in entries if e.removed or self.store.kind_of(e.id) == "class"]
        group_ids = self._group_ids(entries) if "member" in feed.relations else frozenset()
        chosen = tuple(select) if select is not None else None

        def render(page: Sequence[Entry]) -> list[dict[str, Any]]:
            return [self._render(feed, entry, chosen, group_ids) for entry in page]

        state = _state(tenant, changes.counter, select)
        return self.rounds.first_page(Round(feed.path, entries, render, query.page_size, feed.context, state))

    def _group_ids(self, entries: Sequence[Entry]) -> frozenset[str]:
        if not any(link.relation == "member" for entry in entries for link in entry.links):
            return frozenset()
        return frozenset(group["id"] for group in self.store.list_groups())

    def _render(
        self, feed: Feed, entry: Entry, select: tuple[str, ...] | None, group_ids: frozenset[str]
    ) -> dict[str, Any]:
        if entry.removed:
            return {"id": entry.id, "@removed": {"reason": feed.removed_reason}}
        try:
            obj = feed.view(self.store, entry.id)
        except TenantError:
            return {"id": entry.id, "@removed": {"reason": feed.removed_reason}}
        shown: dict[str, Any] = (
            dict(obj)
            if select is None
            else {"id": entry.id, **{n: obj.get(n) for n in select if n not in ("members", "owners")}}
        )
        for link in entry.links:
            navigation = NAVIGATION[link.relation]
            if select is not None and navigation not in select:
                continue
            member_type = (
                GROUP_TYPE
                if link.relation == "class" or (link.relation == "member" and link.member_id in group_ids)
                else USER_TYPE
            )
            ref: dict[str, Any] = {"@odata.type": member_type, "id": link.member_id}
            if link.removed:
                ref["@removed"] = {"reason": "deleted"}
            shown.setdefault(f"{navigation}@delta", []).append(ref)
        return shown


def _state(tenant: str, counter: int, select: list[str] | None) -> dict[str, Any]:
    """What a ``$deltatoken`` carries: the tenant file it belongs to, the change counter, the ``$select``."""
    return {"t": tenant, "c": counter, "s": select}
