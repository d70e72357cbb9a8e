"""``/education/schools`` and their user and class links (a school is also an administrative unit)."""

from __future__ import annotations

from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, no_content, ok
from sync.graphserver.links import Links
from sync.graphserver.listing import Listing
from sync.graphserver.router import Route
from sync.graphserver.views import GROUP_TYPE, USER_TYPE, writable

RELATIONS = {"users": "user", "classes": "class"}


class Schools:
    def __init__(self, store: TenantStore, listing: Listing) -> None:
        self.store = store
        self.listing = listing
        self.links = Links(
            store, listing, prefix="/education/schools", relations=RELATIONS, member_types=_member_types
        )

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/education/schools", self.list_schools),
            Route("POST", "/education/schools", self.create_school),
            Route("GET", "/education/schools/{id}", self.get_school),
            Route("PATCH", "/education/schools/{id}", self.update_school),
            Route("DELETE", "/education/schools/{id}", self.delete_school),
            *self.links.routes(),
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


def _member_types(relation: str, ids: list[str]) -> list[str]:
    """A school's ``users`` are users; its ``classes`` are groups."""
    return [USER_TYPE if relation == "user" else GROUP_TYPE] * len(ids)
