"""The local tenant's store: a small, id-based Microsoft Graph back end on one SQLite file.

Objects (users, groups — a class is a Microsoft 365 group with class properties —, schools) have GUID ids
and Graph-named properties; links join a group to its owners/members and a school to its users/classes.
The store enforces what Entra enforces that matters to a sync:

- ``userPrincipalName`` is unique, and ``mailNickname`` is unique across users and groups
  (both case-insensitive) → ``Request_BadRequest`` "Another object with the same value …" (``target``);
- a Microsoft 365 group (so every class) is created with at least one owner, and cannot lose its last;
- a licence needs a subscribed SKU (``InvalidLicense``) and the user's ``usageLocation``
  (``InvalidUserUsageLocation``);
- group-based licensing: a group's licences are inherited by its direct user members (not through nested
  groups); a user's ``assignedLicenses`` are its direct ones and the inherited ones, as Graph reports
  them. A member without ``usageLocation`` inherits too: Entra gives it the tenant's country for group
  assignments (the local tenant has no country, so nothing is checked);
- an unknown id → ``Request_ResourceNotFound``; adding a link that is there → "One or more added object
  references already exist …".

Every refusal is a :class:`~sync.directory.tenant_errors.TenantError` and changes nothing. Every change
gets a number from a monotonically increasing counter (``version`` of the object or link, tombstones for
deletions) so :meth:`TenantStore.changes_since` can serve Graph delta queries.

Writes run in a transaction (``BEGIN IMMEDIATE``; nested calls become savepoints, so one failing request
inside a larger transaction rolls back alone). Several processes may open the same file (WAL).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sync.directory.anchors import class_anchor_of, group_anchor_of, school_anchor_of, user_anchor
from sync.directory.model import UPN_FORM
from sync.directory.tenant_changes import Changes, LinkChange, ObjectChange
from sync.directory.tenant_errors import (
    already_exists,
    bad_request,
    invalid_license,
    invalid_usage_location,
    not_found,
    owner_required,
    references_exist,
)
from sync.directory.tenant_props import PropMap, decode_row, encode_props, filter_clause
from sync.directory.tenant_schema import (
    CLASS_PROPS,
    DDL,
    GROUP_PROPS,
    GROUP_RELATIONS,
    SCHEMA_VERSION,
    SCHOOL_PROPS,
    SCHOOL_RELATIONS,
    SEEDED_SKUS,
    USER_PROPS,
)
from sync.errors import DirectoryUnavailable

__all__ = ["Changes", "LinkChange", "ObjectChange", "ObjectKind", "TenantStore"]

ObjectKind = Literal["user", "group", "class", "school"]

_CHUNK = 500  # ids per "IN (…)" query (SQLite allows 32,766 parameters; keep statements small)
_ALL_GROUP_PROPS: PropMap = {**GROUP_PROPS, **CLASS_PROPS}
_GROUP_COLUMNS = ", ".join(column for column, _ in _ALL_GROUP_PROPS.values())
_CLASS_VIEW = ("displayName", "mailNickname", "description", *CLASS_PROPS)
#: A user's licences: direct ones and those of the groups it is a direct member of.
_EFFECTIVE_LICENSES = (
    "SELECT sku_id FROM licenses WHERE user_id = ?1 UNION "
    "SELECT g.sku_id FROM links AS l JOIN group_licenses AS g ON g.group_id = l.container_id "
    "WHERE l.member_id = ?1 AND l.relation = 'member' AND l.present = 1 ORDER BY 1"
)
#: Tables of directly assigned licences, by holder kind: (table, holder column).
_LICENSE_TABLES = {"user": ("licenses", "user_id"), "group": ("group_licenses", "group_id")}


class TenantStore:
    """One tenant file. Thread-safe (one connection behind a lock); close it, or use it as a context
    manager. A new file is created with the schema and the seeded SKUs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._counter = 0
        if self.path.is_dir():
            raise DirectoryUnavailable(
                f"local tenant {self.path} is a folder; "
                f"give the path of a tenant file, e.g. {self.path / 'tenant.db'}"
            )
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as err:
            raise DirectoryUnavailable(f"local tenant {self.path} cannot be opened: {err}") from err
        try:
            self._refuse_another_programs_file()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._initialise()
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise DirectoryUnavailable(
                f"local tenant {self.path} is not a tenant file ({err}); give a tenant file or a new path"
            ) from err

    def _refuse_another_programs_file(self) -> None:
        """A SQLite file with tables but no ``meta`` table belongs to another program: leave it untouched
        (not even the journal mode) instead of adding the tenant's tables to it."""
        tables = sorted(
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        )
        if tables and "meta" not in tables:
            raise sqlite3.DatabaseError(f"it holds other tables ({', '.join(tables[:3])})")

    def _initialise(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in DDL.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if row is None:
                    self._db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("schema", SCHEMA_VERSION), ("counter", "0"), ("tenant_id", str(uuid.uuid4()))],
                    )
                    self._db.executemany(
                        "INSERT INTO skus (sku_id, part_number) VALUES (?, ?)", SEEDED_SKUS.items()
                    )
                elif row[0] != SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(
                        f"schema version {row[0]}, this program reads {SCHEMA_VERSION}"
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TenantStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions and the change counter ------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction. Directly inside another one it is a savepoint that rolls back alone on
        error (one request of a batch); deeper nesting joins that savepoint (it is all-or-nothing already)."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    self._counter = int(self._scalar("SELECT value FROM meta WHERE key = 'counter'", ()) or 0)
                    start = self._counter
                    yield
                    if self._counter != start:
                        self._db.execute(
                            "UPDATE meta SET value = ? WHERE key = 'counter'", (str(self._counter),)
                        )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0
            elif self._depth > 1:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
            else:
                name = f"sp{self._depth}"
                saved = self._counter
                self._db.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                    self._db.execute(f"RELEASE {name}")
                except BaseException:
                    self._db.execute(f"ROLLBACK TO {name}")
                    self._db.execute(f"RELEASE {name}")
                    self._counter = saved
                    raise
                finally:
                    self._depth -= 1

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent read of several statements (one SQLite read transaction)."""
        with self._lock:
            if self._depth:
                yield self._db
                return
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    @property
    def tenant_id(self) -> str:
        """A random id given to the tenant when its file was made: a new file at the same path is another
        tenant (journals are keyed by it)."""
        with self.reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'tenant_id'").fetchone()
        return str(row[0]) if row else f"file:{self.path.resolve()}"

    @property
    def counter(self) -> int:
        """The last change number handed out (0 for a new tenant)."""
        with self._lock:
            if self._depth:
                return self._counter
            return int(self._scalar("SELECT value FROM meta WHERE key = 'counter'", ()) or 0)

    def _scalar(self, sql: str, params: Sequence[Any]) -> Any:
        row = self._db.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- users -------------------------------------------------------------------------------------------
    def create_user(self, props: Mapping[str, Any]) -> str:
        """Create a user from Graph ``user``/``educationUser`` properties; returns its id.
        ``passwordProfile`` is accepted and dropped: the local tenant has no sign-in and keeps no password."""
        given = {k: v for k, v in props.items() if k != "passwordProfile"}
        values = encode_props(given, USER_PROPS, "user")
        values.setdefault("account_enabled", 1)
        upn = values.get("upn")
        if not isinstance(upn, str) or not UPN_FORM.match(upn):
            raise bad_request("property userPrincipalName is missing or is not of the form name@domain")
        if not values.get("display_name"):
            raise bad_request("property displayName is required")
        with self.transaction():
            if self._scalar("SELECT 1 FROM users WHERE upn_lc = ?", (upn.lower(),)):
                raise already_exists("userPrincipalName")
            object_id = str(uuid.uuid4())
            self._claim_nickname(values.get("mail_nickname"), object_id)
            values.update(id=object_id, upn_lc=upn.lower(), version=self._next())
            values["anchor"] = _user_anchor(values)
            self._insert("users", values)
        return object_id

    def update_user(self, user_id: str, props: Mapping[str, Any]) -> None:
        values = encode_props(props, USER_PROPS, "user")
        if "upn" in values and (not isinstance(values["upn"], str) or not UPN_FORM.match(values["upn"])):
            raise bad_request("property userPrincipalName is not of the form name@domain")
        if "display_name" in values and not values["display_name"]:
            raise bad_request("property displayName cannot be cleared")
        with self.transaction():
            row = self._db.execute(
                "SELECT primary_role, student, teacher, mail_nickname FROM users WHERE id = ?", (user_id,)
            ).fetchone()
            if row is None:
                raise not_found(user_id)
            if "upn" in values:
                taken = self._scalar("SELECT id FROM users WHERE upn_lc = ?", (values["upn"].lower(),))
                if taken not in (None, user_id):
                    raise already_exists("userPrincipalName")
                values["upn_lc"] = values["upn"].lower()
            if "mail_nickname" in values:
                self._move_nickname(row[3], values["mail_nickname"], user_id)
            current = {"primary_role": row[0], "student": row[1], "teacher": row[2]}
            values["anchor"] = _user_anchor({**current, **values})
            values["version"] = self._next()
            self._update("users", user_id, values)

    def delete_user(self, user_id: str) -> None:
        with self.transaction():
            nickname = self._db.execute("SELECT mail_nickname FROM users WHERE id = ?", (user_id,)).fetchone()
            if nickname is None:
                raise not_found(user_id)
            self._delete_object("users", "user", user_id, nickname[0])
            self._db.execute("DELETE FROM licenses WHERE user_id = ?", (user_id,))

    def get_user(self, user_id: str) -> dict[str, Any]:
        """The user in Graph shape (``user`` and ``educationUser`` properties, ``assignedLicenses``)."""
        users = self._select_users("WHERE id = ?", (user_id,))
        if not users:
            raise not_found(user_id)
        return users[0]

    def list_users(self) -> list[dict[str, Any]]:
        return self._select_users("ORDER BY seq", ())

    def find_users(self, prop: str, value: str) -> list[dict[str, Any]]:
        """Users whose ``prop`` equals ``value`` (case-insensitive for UPN, mail and mailNickname)."""
        return self._select_users(*filter_clause(USER_PROPS, prop, value, "user"))

    def _select_users(self, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.reading() as db:
            columns = ["id", *(column for column, _ in USER_PROPS.values())]
            rows = db.execute(f"SELECT {', '.join(columns)} FROM users {where}", params).fetchall()
            users = [decode_row(row, USER_PROPS) for row in rows]
            for user in users:
                skus = db.execute(_EFFECTIVE_LICENSES, (user["id"],))
                user["assignedLicenses"] = _assigned(sku for (sku,) in skus)
        return users

    # -- groups and classes ------------------------------------------------------------------------------
    def create_group(
        self,
        props: Mapping[str, Any],
        *,
        owners: Sequence[str] = (),
        members: Sequence[str] = (),
        as_class: bool = False,
    ) -> str:
        """Create a group with its first owners and members (user ids; members may also be groups).
        A Microsoft 365 group (``groupTypes: ["Unified"]``) needs an owner. ``as_class`` creates a class
        at once: a Microsoft 365 group that also takes the class properties (``externalId``, ``term`` …)."""
        values = encode_props(props, _ALL_GROUP_PROPS if as_class else GROUP_PROPS, "group")
        if values.get("group_types") is None:
            values["group_types"] = json.dumps(["Unified"] if as_class else [])
        unified = "Unified" in json.loads(values.get("group_types") or "[]")
        values.setdefault("mail_enabled", int(unified))
        values.setdefault("security_enabled", int(not unified))
        if not values.get("display_name") or not values.get("mail_nickname"):
            raise bad_request("properties displayName and mailNickname are required")
        if as_class and not unified:
            raise bad_request('a class is a Microsoft 365 group: groupTypes must hold "Unified"')
        if unified and not owners:
            raise owner_required()
        with self.transaction():
            object_id = str(uuid.uuid4())
            self._claim_nickname(values["mail_nickname"], object_id)
            values.update(id=object_id, version=self._next(), is_class=int(as_class))
            values["anchor"] = _group_anchor(values)
            self._insert("groups_", values)
            self.add_links(object_id, "owner", owners)
            self.add_links(object_id, "member", members)
        return object_id

    def update_group(self, group_id: str, props: Mapping[str, Any]) -> None:
        """Change group properties (class properties go through :meth:`update_class`)."""
        self._update_group(group_id, encode_props(props, GROUP_PROPS, "group"), make_class=False)

    def update_class(self, group_id: str, props: Mapping[str, Any]) -> None:
        """Change class properties of a Microsoft 365 group; the group is a class from then on."""
        self._update_group(group_id, encode_props(props, _ALL_GROUP_PROPS, "class"), make_class=True)

    def _update_group(self, group_id: str, values: dict[str, Any], *, make_class: bool) -> None:
        for column in ("display_name", "mail_nickname"):
            if column in values and not values[column]:
                raise bad_request("properties displayName and mailNickname cannot be cleared")
        with self.transaction():
            row = self._db.execute(
                f"SELECT {_GROUP_COLUMNS}, is_class FROM groups_ WHERE id = ?",
                (group_id,),
            ).fetchone()
            if row is None:
                raise not_found(group_id)
            current = dict(zip([c for c, _ in _ALL_GROUP_PROPS.values()], row[:-1], strict=True))
            merged = {**current, **values}
            if make_class:
                if "Unified" not in json.loads(merged.get("group_types") or "[]"):
                    raise bad_request("only a Microsoft 365 (Unified) group can be a class")
                values["is_class"] = 1
            merged["is_class"] = values.get("is_class", row[-1])
            if "mail_nickname" in values:
                self._move_nickname(current["mail_nickname"], values["mail_nickname"], group_id)
            values["anchor"] = _group_anchor(merged)
            values["version"] = self._next()
            self._update("groups_", group_id, values)

    def delete_group(self, group_id: str) -> None:
        with self.transaction():
            nickname = self._db.execute(
                "SELECT mail_nickname FROM groups_ WHERE id = ?", (group_id,)
            ).fetchone()
            if nickname is None:
                raise not_found(group_id)
            if self._holds_licenses(group_id):
                self._touch_members(group_id, None)
            self._delete_object("groups_", "group", group_id, nickname[0])
            self._db.execute("DELETE FROM group_licenses WHERE group_id = ?", (group_id,))

    def get_group(self, group_id: str) -> dict[str, Any]:
        groups = self._select_groups("WHERE id = ?", (group_id,))
        if not groups:
            raise not_found(group_id)
        return groups[0]

    def get_class(self, class_id: str) -> dict[str, Any]:
        """The class view of a group (404 when the group is not a class)."""
        classes = self._select_groups("WHERE id = ? AND is_class = 1", (class_id,), class_view=True)
        if not classes:
            raise not_found(class_id)
        return classes[0]

    def list_groups(self) -> list[dict[str, Any]]:
        """Every group, classes included (as ``/groups`` shows them)."""
        return self._select_groups("ORDER BY seq", ())

    def list_classes(self) -> list[dict[str, Any]]:
        return self._select_groups("WHERE is_class = 1 ORDER BY seq", (), class_view=True)

    def find_groups(self, prop: str, value: str) -> list[dict[str, Any]]:
        return self._select_groups(*filter_clause(_ALL_GROUP_PROPS, prop, value, "group"))

    def find_classes(self, prop: str, value: str) -> list[dict[str, Any]]:
        where, params = filter_clause(_ALL_GROUP_PROPS, prop, value, "class")
        return self._select_groups(where.replace("WHERE", "WHERE is_class = 1 AND"), params, class_view=True)

    def _select_groups(
        self, where: str, params: Sequence[Any], *, class_view: bool = False
    ) -> list[dict[str, Any]]:
        columns = ["id", *(column for column, _ in _ALL_GROUP_PROPS.values()), "is_class"]
        with self.reading() as db:
            rows = db.execute(f"SELECT {', '.join(columns)} FROM groups_ {where}", params).fetchall()
            licensed: dict[str, list[str]] = {}
            for group_id, sku in db.execute("SELECT group_id, sku_id FROM group_licenses ORDER BY 1, 2"):
                licensed.setdefault(group_id, []).append(sku)
        groups = []
        for row in rows:
            group = decode_row(row[:-1], _ALL_GROUP_PROPS)
            if class_view:
                group = {key: value for key, value in group.items() if key in _CLASS_VIEW or key == "id"}
                groups.append(group)
                continue
            if not row[-1]:
                group = {key: value for key, value in group.items() if key not in CLASS_PROPS}
            group["assignedLicenses"] = _assigned(licensed.get(row[0], ()))
            groups.append(group)
        return groups

    # -- schools -----------------------------------------------------------------------------------------
    def create_school(self, props: Mapping[str, Any]) -> str:
        values = encode_props(props, SCHOOL_PROPS, "school")
        if not values.get("display_name"):
            raise bad_request("property displayName is required")
        with self.transaction():
            object_id = str(uuid.uuid4())
            values.update(id=object_id, version=self._next())
            values["anchor"] = school_anchor_of(values.get("external_id"))
            self._insert("schools", values)
        return object_id

    def update_school(self, school_id: str, props: Mapping[str, Any]) -> None:
        values = encode_props(props, SCHOOL_PROPS, "school")
        if "display_name" in values and not values["display_name"]:
            raise bad_request("property displayName cannot be cleared")
        with self.transaction():
            external_id = self._db.execute(
                "SELECT external_id FROM schools WHERE id = ?", (school_id,)
            ).fetchone()
            if external_id is None:
                raise not_found(school_id)
            values["anchor"] = school_anchor_of(values.get("external_id", external_id[0]))
            values["version"] = self._next()
            self._update("schools", school_id, values)

    def delete_school(self, school_id: str) -> None:
        with self.transaction():
            if not self._scalar("SELECT 1 FROM schools WHERE id = ?", (school_id,)):
                raise not_found(school_id)
            self._delete_object("schools", "school", school_id, None)

    def get_school(self, school_id: str) -> dict[str, Any]:
        schools = self._select_schools("WHERE id = ?", (school_id,))
        if not schools:
            raise not_found(school_id)
        return schools[0]

    def list_schools(self) -> list[dict[str, Any]]:
        return self._select_schools("ORDER BY seq", ())

    def find_schools(self, prop: str, value: str) -> list[dict[str, Any]]:
        return self._select_schools(*filter_clause(SCHOOL_PROPS, prop, value, "school"))

    def _select_schools(self, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        columns = ["id", *(column for column, _ in SCHOOL_PROPS.values())]
        with self.reading() as db:
            rows = db.execute(f"SELECT {', '.join(columns)} FROM schools {where}", params).fetchall()
        return [decode_row(row, SCHOOL_PROPS) for row in rows]

    # -- any object --------------------------------------------------------------------------------------
    def kind_of(self, object_id: str) -> ObjectKind | None:
        """``"user"``, ``"group"``, ``"class"`` or ``"school"``; ``None`` for an unknown id."""
        with self.reading() as db:
            if db.execute("SELECT 1 FROM users WHERE id = ?", (object_id,)).fetchone():
                return "user"
            row = db.execute("SELECT is_class FROM groups_ WHERE id = ?", (object_id,)).fetchone()
            if row is not None:
                return "class" if row[0] else "group"
            if db.execute("SELECT 1 FROM schools WHERE id = ?", (object_id,)).fetchone():
                return "school"
        return None

    def ids_by_anchor(
        self, table: Literal["users", "groups", "classes", "schools"], anchors: Iterable[str]
    ) -> dict[str, str]:
        """Anchor → id for the given anchors that exist (the oldest object wins if two share one)."""
        sql_table, extra = {
            "users": ("users", ""),
            "groups": ("groups_", " AND is_class = 0"),
            "classes": ("groups_", " AND is_class = 1"),
            "schools": ("schools", ""),
        }[table]
        wanted = list(dict.fromkeys(anchors))
        found: dict[str, str] = {}
        with self.reading() as db:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT anchor, id FROM {sql_table} WHERE anchor IN ({marks}){extra} ORDER BY seq DESC",
                    chunk,
                )
                found.update(rows.fetchall())
        return found

    # -- links -------------------------------------------------------------------------------------------
    def add_links(
        self, container_id: str, relation: str, member_ids: Sequence[str], *, skip_present: bool = False
    ) -> None:
        """Link members to a group (``owner``/``member``) or a school (``user``/``class``). All or nothing:
        an unknown id fails with 404, a link already there with "… references already exist" (Graph's
        answer) unless ``skip_present``, which leaves present links alone."""
        members = list(dict.fromkeys(member_ids))
        if not members:
            return
        with self.transaction():
            self._check_link(container_id, relation, members)
            present = self._present_links(container_id, relation, members)
            if present and not skip_present:
                raise references_exist(relation)
            members = [member for member in members if member not in present]
            if not members:
                return
            version = self._next()
            self._db.executemany(
                "INSERT INTO links (container_id, relation, member_id, present, version) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (container_id, relation, member_id) "
                "DO UPDATE SET present = 1, version = excluded.version",
                [(container_id, relation, member, version) for member in members],
            )
            if relation == "member" and self._holds_licenses(container_id):
                self._touch_members(container_id, members)

    def remove_links(
        self, container_id: str, relation: str, member_ids: Sequence[str], *, skip_absent: bool = False
    ) -> None:
        """Unlink members. All or nothing: a link that is not there fails with 404 unless ``skip_absent``;
        removing the last owner of a Microsoft 365 group fails."""
        members = list(dict.fromkeys(member_ids))
        if not members:
            return
        with self.transaction():
            self._check_container(container_id, relation)
            present = self._present_links(container_id, relation, members)
            missing = [member for member in members if member not in present]
            if missing and not skip_absent:
                raise not_found(missing[0])
            members = [member for member in members if member in present]
            if not members:
                return
            if relation == "owner" and self._is_unified(container_id):
                owners = self._scalar(
                    "SELECT COUNT(*) FROM links WHERE container_id = ? AND relation = 'owner' "
                    "AND present = 1",
                    (container_id,),
                )
                if owners <= len(members):
                    raise owner_required()
            version = self._next()
            self._db.executemany(
                "UPDATE links SET present = 0, version = ? "
                "WHERE container_id = ? AND relation = ? AND member_id = ?",
                [(version, container_id, relation, member) for member in members],
            )
            if relation == "member" and self._holds_licenses(container_id):
                self._touch_members(container_id, members)

    def linked(self, container_id: str, relation: str, member_ids: Sequence[str]) -> set[str]:
        """Which of ``member_ids`` are linked to the container now."""
        with self.reading():
            return self._present_links(container_id, relation, list(dict.fromkeys(member_ids)))

    def list_links(self, container_id: str, relation: str) -> list[str]:
        """Member ids linked to a container, sorted."""
        with self.reading() as db:
            self._check_container(container_id, relation)
            rows = db.execute(
                "SELECT member_id FROM links WHERE container_id = ? AND relation = ? AND present = 1 "
                "ORDER BY member_id",
                (container_id, relation),
            )
            return [member for (member,) in rows]

    def _check_container(self, container_id: str, relation: str) -> None:
        if relation in GROUP_RELATIONS:
            table = "groups_"
        elif relation in SCHOOL_RELATIONS:
            table = "schools"
        else:
            raise bad_request(f"unknown relation '{relation}'")
        if not self._scalar(f"SELECT 1 FROM {table} WHERE id = ?", (container_id,)):
            raise not_found(container_id)

    def _check_link(self, container_id: str, relation: str, members: list[str]) -> None:
        self._check_container(container_id, relation)
        users = self._existing("SELECT id FROM users WHERE id IN ({})", members)
        if relation == "class":
            allowed = self._existing("SELECT id FROM groups_ WHERE is_class = 1 AND id IN ({})", members)
        elif relation == "member":
            others = [member for member in members if member not in users]
            allowed = users | self._existing("SELECT id FROM groups_ WHERE id IN ({})", others)
        else:
            allowed = users
        for member in members:
            if member not in allowed:
                if self.kind_of(member) is None:
                    raise not_found(member)
                raise bad_request(f"object '{member}' cannot be linked as {relation}")

    def _present_links(self, container_id: str, relation: str, members: list[str]) -> set[str]:
        present: set[str] = set()
        for start in range(0, len(members), _CHUNK):
            chunk = members[start : start + _CHUNK]
            rows = self._db.execute(
                "SELECT member_id FROM links WHERE container_id = ? AND relation = ? AND present = 1 "
                f"AND member_id IN ({', '.join('?' * len(chunk))})",
                (container_id, relation, *chunk),
            )
            present.update(member for (member,) in rows)
        return present

    def _existing(self, sql: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = self._db.execute(sql.format(", ".join("?" * len(chunk))), chunk)
            found.update(object_id for (object_id,) in rows)
        return found

    def _is_unified(self, group_id: str) -> bool:
        types = self._scalar("SELECT group_types FROM groups_ WHERE id = ?", (group_id,))
        return "Unified" in json.loads(types or "[]")

    # -- licences ----------------------------------------------------------------------------------------
    def assign_licenses(self, user_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """``assignLicense``: add and remove SKU ids (removing one the user does not have is a no-op)."""
        adding = [sku.lower() for sku in add]
        removing = [sku.lower() for sku in remove]
        with self.transaction():
            row = self._db.execute("SELECT usage_location FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise not_found(user_id)
            self._check_skus([*adding, *removing])
            if adding and not row[0]:
                raise invalid_usage_location()
            if self._set_licenses("user", user_id, adding, removing):
                self._db.execute("UPDATE users SET version = ? WHERE id = ?", (self._next(), user_id))

    def assign_group_licenses(
        self, group_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> None:
        """``assignLicense`` on a group (group-based licensing): its direct user members inherit the SKUs,
        whatever their ``usageLocation`` (Entra uses the tenant's country for members without one)."""
        adding = [sku.lower() for sku in add]
        removing = [sku.lower() for sku in remove]
        with self.transaction():
            if not self._scalar("SELECT 1 FROM groups_ WHERE id = ?", (group_id,)):
                raise not_found(group_id)
            self._check_skus([*adding, *removing])
            if self._set_licenses("group", group_id, adding, removing):
                self._db.execute("UPDATE groups_ SET version = ? WHERE id = ?", (self._next(), group_id))
                self._touch_members(group_id, None)

    def licenses_of(self, user_id: str) -> set[str]:
        """The SKU ids assigned to the user directly (not those inherited from groups)."""
        return self._direct_licenses("user", user_id)

    def group_licenses_of(self, group_id: str) -> set[str]:
        return self._direct_licenses("group", group_id)

    def _direct_licenses(self, holder: Literal["user", "group"], object_id: str) -> set[str]:
        table, column = _LICENSE_TABLES[holder]
        with self.reading() as db:
            return {
                sku for (sku,) in db.execute(f"SELECT sku_id FROM {table} WHERE {column} = ?", (object_id,))
            }

    def _check_skus(self, skus: Sequence[str]) -> None:
        known = {sku for (sku,) in self._db.execute("SELECT sku_id FROM skus")}
        for sku in skus:
            if sku not in known:
                raise invalid_license(sku)

    def _set_licenses(
        self, holder: Literal["user", "group"], object_id: str, adding: Sequence[str], removing: Sequence[str]
    ) -> bool:
        """Add and remove directly assigned SKUs; whether anything changed."""
        table, column = _LICENSE_TABLES[holder]
        before = self._direct_licenses(holder, object_id)
        self._db.executemany(
            f"INSERT OR IGNORE INTO {table} ({column}, sku_id) VALUES (?, ?)",
            [(object_id, s) for s in adding],
        )
        self._db.executemany(
            f"DELETE FROM {table} WHERE {column} = ? AND sku_id = ?", [(object_id, s) for s in removing]
        )
        return self._direct_licenses(holder, object_id) != before

    def _holds_licenses(self, group_id: str) -> bool:
        return bool(self._scalar("SELECT 1 FROM group_licenses WHERE group_id = ? LIMIT 1", (group_id,)))

    def _touch_members(self, group_id: str, member_ids: Sequence[str] | None) -> None:
        """The inherited licences of these members of ``group_id`` (all its user members: ``None``) changed:
        give them a new version, so a users delta query reports their new ``assignedLicenses``."""
        version = self._next()
        if member_ids is None:
            self._db.execute(
                "UPDATE users SET version = ? WHERE id IN (SELECT member_id FROM links WHERE "
                "container_id = ? AND relation = 'member' AND present = 1)",
                (version, group_id),
            )
        else:
            self._db.executemany(
                "UPDATE users SET version = ? WHERE id = ?", [(version, member) for member in member_ids]
            )

    def subscribed_skus(self) -> dict[str, str]:
        """skuId → skuPartNumber."""
        with self.reading() as db:
            return dict(db.execute("SELECT sku_id, part_number FROM skus ORDER BY sku_id").fetchall())

    def add_subscribed_sku(self, sku_id: str, part_number: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO skus (sku_id, part_number) VALUES (?, ?)",
                (sku_id.lower(), part_number),
            )

    # -- delta -------------------------------------------------------------------------------------------
    def changes_since(self, counter: int) -> Changes:
        """Every object and link changed after ``counter`` (deleted objects and removed links included),
        in change order, with the counter value to ask from next time."""
        with self.reading() as db:
            now = int(db.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()[0])
            objects = [
                ObjectChange(kind, object_id, version, False)
                for table, kind in (("users", "user"), ("groups_", "group"), ("schools", "school"))
                for object_id, version in db.execute(
                    f"SELECT id, version FROM {table} WHERE version > ?", (counter,)
                )
            ]
            objects += [
                ObjectChange(kind, object_id, version, True)
                for object_id, kind, version in db.execute(
                    "SELECT id, kind, version FROM tombstones WHERE version > ?", (counter,)
                )
            ]
            links = [
                LinkChange(container, relation, member, version, not present)
                for container, relation, member, present, version in db.execute(
                    "SELECT container_id, relation, member_id, present, version FROM links WHERE version > ?",
                    (counter,),
                )
            ]
        objects.sort(key=lambda change: (change.version, change.id))
        links.sort(
            key=lambda change: (change.version, change.container_id, change.relation, change.member_id)
        )
        return Changes(tuple(objects), tuple(links), now)

    # -- helpers -----------------------------------------------------------------------------------------
    def _claim_nickname(self, nickname: str | None, object_id: str) -> None:
        if not nickname:
            return
        if self._scalar("SELECT object_id FROM nicknames WHERE nick_lc = ?", (nickname.lower(),)) not in (
            None,
            object_id,
        ):
            raise already_exists("mailNickname")
        self._db.execute(
            "INSERT OR REPLACE INTO nicknames (nick_lc, object_id) VALUES (?, ?)",
            (nickname.lower(), object_id),
        )

    def _move_nickname(self, old: str | None, new: str | None, object_id: str) -> None:
        if (old or "").lower() == (new or "").lower():
            return
        self._claim_nickname(new, object_id)
        if old:
            self._db.execute(
                "DELETE FROM nicknames WHERE nick_lc = ? AND object_id = ?", (old.lower(), object_id)
            )

    def _delete_object(self, table: str, kind: str, object_id: str, nickname: str | None) -> None:
        version = self._next()
        self._db.execute(f"DELETE FROM {table} WHERE id = ?", (object_id,))
        if nickname:
            self._db.execute("DELETE FROM nicknames WHERE nick_lc = ?", (nickname.lower(),))
        self._db.execute(
            "UPDATE links SET present = 0, version = ? "
            "WHERE present = 1 AND (container_id = ? OR member_id = ?)",
            (version, object_id, object_id),
        )
        self._db.execute(
            "INSERT OR REPLACE INTO tombstones (id, kind, version) VALUES (?, ?, ?)",
            (object_id, kind, version),
        )

    def _insert(self, table: str, values: Mapping[str, Any]) -> None:
        columns = list(values)
        self._db.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [values[c] for c in columns],
        )

    def _update(self, table: str, object_id: str, values: Mapping[str, Any]) -> None:
        columns = list(values)
        self._db.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
            [*(values[c] for c in columns), object_id],
        )


def _user_anchor(values: Mapping[str, Any]) -> str | None:
    facets = {name: json.loads(values[name]) for name in ("student", "teacher") if values.get(name)}
    return user_anchor(values.get("primary_role"), facets)


def _group_anchor(values: Mapping[str, Any]) -> str | None:
    if values.get("is_class"):
        return class_anchor_of(values.get("external_id"))
    return group_anchor_of(values.get("mail_nickname"))


def _assigned(skus: Iterable[str]) -> list[dict[str, Any]]:
    """Graph's ``assignedLicenses`` shape."""
    return [{"skuId": sku, "disabledPlans": []} for sku in skus]
