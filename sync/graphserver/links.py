"""Membership links of a container (``…/{id}/{relation}``): list, add (``POST …/$ref``) and remove
(``DELETE …/{member}/$ref``), for any path whose relation segments map onto store relations."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, no_content
from sync.graphserver.errors import bad_request
from sync.graphserver.listing import Listing
from sync.graphserver.router import Route
from sync.graphserver.views import odata_id

#: ``(store relation, member ids) → the @odata.type of each member``, in the same order.
MemberTypes = Callable[[str, list[str]], list[str]]


class Links:
    def __init__(
        self,
        store: TenantStore,
        listing: Listing,
        *,
        prefix: str,
        relations: Mapping[str, str],
        member_types: MemberTypes,
    ) -> None:
        """``prefix`` is the container's path (``/groups``); ``relations`` maps a path segment (``members``)
        to the store's relation (``member``)."""
        self.store = store
        self.listing = listing
        self.prefix = prefix
        self.relations = relations
        self.member_types = member_types

    def routes(self) -> list[Route]:
        return [
            Route("GET", f"{self.prefix}/{{id}}/{{relation}}", self.list_links),
            Route("POST", f"{self.prefix}/{{id}}/{{relation}}/$ref", self.add_link),
            Route("DELETE", f"{self.prefix}/{{id}}/{{relation}}/{{member}}/$ref", self.remove_link),
        ]

    def _relation(self, params: dict[str, str]) -> str:
        relation = self.relations.get(params["relation"])
        if relation is None:
            raise bad_request(
                f"Resource not found for the segment '{params['relation']}'.", code="BadRequest"
            )
        return relation

    def list_links(self, call: Call, params: dict[str, str]) -> Reply:
        relation = self._relation(params)
        ids = self.store.list_links(params["id"], relation)
        types = self.member_types(relation, ids)
        refs = [{"@odata.type": kind, "id": m} for kind, m in zip(types, ids, strict=True)]
        return self.listing.refs(call, "directoryObjects", refs)

    def add_link(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.add_links(params["id"], self._relation(params), [odata_id(call.body)])
        return no_content()

    def remove_link(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.remove_links(params["id"], self._relation(params), [params["member"]])
        return no_content()
