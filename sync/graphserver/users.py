"""``/users`` and ``/education/users``: create, read, update, delete, licences."""

from __future__ import annotations

from sync.directory.tenant_store import TenantStore
from sync.graphserver.calls import Call, Reply, no_content, ok
from sync.graphserver.licenses import license_change
from sync.graphserver.listing import Listing
from sync.graphserver.router import Route
from sync.graphserver.views import education_user_view, user_view, writable


class Users:
    def __init__(self, store: TenantStore, listing: Listing) -> None:
        self.store = store
        self.listing = listing

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/users", self.list_users),
            Route("POST", "/users", self.create_user),
            Route("GET", "/users/{id}", self.get_user),
            Route("PATCH", "/users/{id}", self.update_user),
            Route("DELETE", "/users/{id}", self.delete_user),
            Route("POST", "/users/{id}/assignLicense", self.assign_license),
            Route("GET", "/education/users", self.list_education_users),
            Route("POST", "/education/users", self.create_education_user),
            Route("GET", "/education/users/{id}", self.get_education_user),
            Route("PATCH", "/education/users/{id}", self.update_education_user),
            Route("DELETE", "/education/users/{id}", self.delete_user),
        ]

    def list_users(self, call: Call, params: dict[str, str]) -> Reply:
        return self.listing.page(
            call, "users", lambda: self.store.list_users(), self.store.find_users, view=user_view
        )

    def list_education_users(self, call: Call, params: dict[str, str]) -> Reply:
        return self.listing.page(
            call,
            "education/users",
            lambda: self.store.list_users(),
            self.store.find_users,
            view=education_user_view,
        )

    def create_user(self, call: Call, params: dict[str, str]) -> Reply:
        user_id = self.store.create_user(writable(call.body))
        return ok(user_view(self.store.get_user(user_id)), 201)

    def create_education_user(self, call: Call, params: dict[str, str]) -> Reply:
        user_id = self.store.create_user(writable(call.body))
        return ok(education_user_view(self.store.get_user(user_id)), 201)

    def get_user(self, call: Call, params: dict[str, str]) -> Reply:
        return ok(self.listing.selected(call, user_view(self.store.get_user(params["id"]))))

    def get_education_user(self, call: Call, params: dict[str, str]) -> Reply:
        return ok(self.listing.selected(call, education_user_view(self.store.get_user(params["id"]))))

    def update_user(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.update_user(params["id"], writable(call.body))
        return no_content()

    def update_education_user(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.update_user(params["id"], writable(call.body))
        return ok(education_user_view(self.store.get_user(params["id"])))

    def delete_user(self, call: Call, params: dict[str, str]) -> Reply:
        self.store.delete_user(params["id"])
        return no_content()

    def assign_license(self, call: Call, params: dict[str, str]) -> Reply:
        add, remove = license_change(call.body)
        self.store.assign_licenses(params["id"], add=add, remove=remove)
        return ok(user_view(self.store.get_user(params["id"])))
