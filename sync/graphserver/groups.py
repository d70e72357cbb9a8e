"""``/groups`` (classes and Intune groups) and ``/education/classes``: create with owners and members,
class properties, membership links, group-based licences (``assignLicense``)."""

from __future__ import annotations

from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, no_content, ok
from sync.graphserver.licenses import license_change
from sync.graphserver.links import Links
from sync.graphserver.listing import Listing
from sync.graphserver.router import Route
from sync.graphserver.views import GROUP_TYPE, USER_TYPE, bound_ids, check_bind_limit, writable

RELATIONS = {"members": "member", "owners": "owner"}


class Groups:
    def __init__(self, store: TenantStore, listing: Listing) -> None:
        self.store = store
        self.listing = listing
        self.links = Links(
            store, listing, prefix="/groups", relations=RELATIONS, member_types=self._member_types
        )

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/groups", self.list_groups),
            Route("POST", "/groups", self.create_group),
            Route("GET", "/groups/{id}", self.get_group),
            Route("PATCH", "/groups/{id}", self.update_group),
            Route("DELETE", "/groups/{id}", self.delete_group),
            Route("POST", "/groups/{id}/assignLicense", self.assign_license),
            *self.links.routes(),
            Route("GET", "/education/classes", self.list_classes),
            Route("GET", "/education/classes/{id}", self.get_class),
            Route("PATCH", "/education/classes/{id}", self.update_class),
            Route("DELETE", "/education/classes/{id}", self.delete_group),
        ]

    def list_groups(self, call: Call, params: dict[str, str]) -> Reply:
        return self.listing.page(call, "groups", self.store.list_groups, self.store.find_groups)

    def list_classes(self, call: Call, params: dict[str, str]) -> Reply:
        return self.listing.page(call, "education/classes", self.store.list_classes, self.store.find_classes)

    def get_group(self, call: Call, params: dict[str, str]) -> Reply:
        return ok(self.listing.selected(call, self.store.get_group(params["id"])))

    def get_class(self, call: Call, params: dict[str, str]) -> Reply:
        return ok(self.listing.selected(call, self.store.get_class(params["id"])))

    def create_group(self, call: Call, params: dict[str, str]) -> Reply:
        props = writable(call.body)
        owners = bound_ids(call.body, "owners")
        members = bound_ids(call.body, "members")
        check_bind_limit(len(owners) + len(members))
        group_id = self.store.create_group(props, owners=owners, members=members)
        return ok(self.store.get_group(group_id), 201)

    def update_group(self, call: Call, params: dict[str, str]) -> Reply:
        props = writable(call.body)
        members = bound_ids(call.body, "members")
        owners = bound_ids(call.body, "owners")
        check_bind_limit(len(owners) + len(members))
        with self.store.transaction():
            if props:
                self.store.update_group(params["id"], props)
            else:
                self.store.get_group(params["id"])  # 404 for an unknown group, even with nothing to change
            self.store.add_links(params["id"], "owner", owners)
            self.store.add_links(params["id"], "member", members)
        return no_content()

    def update_class(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.update_class(params["id"], writable(call.body))
        return ok(self.store.get_class(params["id"]))

    def delete_group(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.delete_group(params["id"])
        return no_content()

    def assign_license(self, call: Call, params: dict[str, str]) -> Reply:
        add, remove = license_change(call.body)
        self.store.assign_group_licenses(params["id"], add=add, remove=remove)
        return ok(self.store.get_group(params["id"]))

    def _member_types(self, relation: str, ids: list[str]) -> list[str]:
        """Members are users or groups (nested groups); owners are users."""
        groups = {g["id"] for g in self.store.list_groups()} if relation == "member" and ids else set()
        return [GROUP_TYPE if m in groups else USER_TYPE for m in ids]
