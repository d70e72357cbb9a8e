"""``/education/schools`` and their user and class links (a school is also an administrative unit)."""

from __future__ import annotations

from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, no_content, ok
from sync.graphserver.errors import bad_request
from sync.graphserver.listing import Listing
from sync.graphserver.router import Route
from sync.graphserver.views import GROUP_TYPE, USER_TYPE, odata_id, writable

RELATIONS = {"users": "user", "classes": "class"}


class Schools:
    def __init__(self, store: TenantStore, listing: Listing) -> None:
        self.store = store
        self.listing = listing

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/education/schools", self.list_schools),
            Route("POST", "/education/schools", self.create_school),
            Route("GET", "/education/schools/{id}", self.get_school),
            Route("PATCH", "/education/schools/{id}", self.update_school),
            Route("DELETE", "/education/schools/{id}", self.delete_school),
            Route("GET", "/education/schools/{id}/{relation}", self.list_links),
            Route("POST", "/education/schools/{id}/{relation}/$ref", self.add_link),
            Route("DELETE", "/education/schools/{id}/{relation}/{member}/$ref", self.remove_link),
        ]

    def list_schools(self, call: Call, params: dict[str, str]) -> Reply:
        return self.listing.page(call, "education/schools", self.store.list_schools, self.store.find_schools)

    def get_school(self, call: Call, params: dict[str, str]) -> Reply:
        return ok(self.listing.selected(call, self.store.get_school(params["id"])))

    def create_school(self, call: Call, params: dict[str, str]) -> Reply:
        school_id = self.store.create_school(writable(call.body))
        return ok(self.store.get_school(school_id), 201)

    def update_school(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.update_school(params["id"], writable(call.body))
        return ok(self.store.get_school(params["id"]))

    def delete_school(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.delete_school(params["id"])
        return no_content()

    def _relation(self, params: dict[str, str]) -> str:
        relation = RELATIONS.get(params["relation"])
        if relation is None:
            raise bad_request(
                f"Resource not found for the segment '{params['relation']}'.", code="BadRequest"
            )
        return relation

    def list_links(self, call: Call, params: dict[str, str]) -> Reply:
        relation = self._relation(params)
        kind = USER_TYPE if relation == "user" else GROUP_TYPE
        refs = [{"@odata.type": kind, "id": m} for m in self.store.list_links(params["id"], relation)]
        return self.listing.refs(call, "directoryObjects", refs)

    def add_link(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.add_links(params["id"], self._relation(params), [odata_id(call.body)])
        return no_content()

    def remove_link(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.remove_links(params["id"], self._relation(params), [params["member"]])
        return no_content()
