"""``/groups`` (classes and Intune groups) and ``/education/classes``: create with owners and members,
class properties, membership links, group-based licences (``assignLicense``)."""

from __future__ import annotations

from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, no_content, ok
from sync.graphserver.errors import bad_request
from sync.graphserver.licenses import license_change
from sync.graphserver.listing import Listing
from sync.graphserver.router import Route
from sync.graphserver.views import GROUP_TYPE, USER_TYPE, bound_ids, check_bind_limit, odata_id, writable

RELATIONS = {"members": "member", "owners": "owner"}


class Groups:
    def __init__(self, store: TenantStore, listing: Listing) -> None:
        self.store = store
        self.listing = listing

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/groups", self.list_groups),
            Route("POST", "/groups", self.create_group),
            Route("GET", "/groups/{id}", self.get_group),
            Route("PATCH", "/groups/{id}", self.update_group),
            Route("DELETE", "/groups/{id}", self.delete_group),
            Route("POST", "/groups/{id}/assignLicense", self.assign_license),
            Route("GET", "/groups/{id}/{relation}", self.list_links),
            Route("POST", "/groups/{id}/{relation}/$ref", self.add_link),
            Route("DELETE", "/groups/{id}/{relation}/{member}/$ref", self.remove_link),
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

    def _relation(self, params: dict[str, str]) -> str:
        relation = RELATIONS.get(params["relation"])
        if relation is None:
            raise bad_request(
                f"Resource not found for the segment '{params['relation']}'.", code="BadRequest"
            )
        return relation

    def list_links(self, call: Call, params: dict[str, str]) -> Reply:
        relation = self._relation(params)
        ids = self.store.list_links(params["id"], relation)
        groups = {g["id"] for g in self.store.list_groups()} if relation == "member" and ids else set()
        refs = [{"@odata.type": GROUP_TYPE if m in groups else USER_TYPE, "id": m} for m in ids]
        return self.listing.refs(call, "directoryObjects", refs)

    def add_link(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.add_links(params["id"], self._relation(params), [odata_id(call.body)])
        return no_content()

    def remove_link(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.remove_links(params["id"], self._relation(params), [params["member"]])
        return no_content()
