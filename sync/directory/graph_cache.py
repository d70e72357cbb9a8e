"""The local copy of the directory that delta queries keep current (a SQLite file).

Each Graph resource read by delta has its objects (``objects``: kind, id, JSON) and, for groups and
administrative units, its links (``links``: container, member, relation), plus the delta link to ask
next time (``deltas``). A delta round streams in: each page is written to ``staged_items`` as it arrives (one
short transaction per page, so a district-sized round is never held in memory), and only when the round
has reached its ``@odata.deltaLink`` are the staged items applied to ``objects`` / ``links`` in one
transaction together with the new link. A round that fails (an error, ``410``) discards its staged pages;
a process killed half-way leaves staged rows that the next round of that resource clears first. Either
way the cache is as it was before the round. A round without a stored link (first run, or after ``410``)
replaces what the cache held for that resource.

The file holds directory data (names, UPNs): it lives where the caller says (``.sync/graph-cache/``),
never in logs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from sync.errors import DirectoryUnavailable, UsageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
                                    PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS links (container_id TEXT NOT NULL, member_id TEXT NOT NULL, relation TEXT NOT NULL,
                                  PRIMARY KEY (container_id, member_id, relation));
CREATE INDEX IF NOT EXISTS links_member ON links (member_id);
CREATE TABLE IF NOT EXISTS deltas (resource TEXT PRIMARY KEY, link TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged_items (seq INTEGER PRIMARY KEY, resource TEXT NOT NULL, item TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS staged_resource ON staged_items (resource);
"""


@dataclass(frozen=True, slots=True)
class Resource:
    """A delta-tracked Graph collection and where its answers go in the cache."""

    name: str
    url: str
    #: ``objects.kind`` of its items (``None``: the resource only carries links).
    kind: str | None
    #: ``{"members@delta": …}`` → how each linked object is related; relation may depend on its type.
    link_arrays: Mapping[str, Mapping[str, str]]


USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"

RESOURCES: tuple[Resource, ...] = (
    Resource(
        "users",
        "/users/delta?$select=id,userPrincipalName,displayName,givenName,surname,mail,mailNickname,"
        "employeeId,onPremisesSamAccountName,accountEnabled,usageLocation,assignedLicenses",
        "user",
        {},
    ),
    Resource(
        "education_users",
        "/education/users/delta?$select=id,primaryRole,middleName,externalSource,externalSourceDetail,"
        "student,teacher",
        "education_user",
        {},
    ),
    Resource(
        "schools",
        "/education/schools/delta?$select=id,displayName,externalId,schoolNumber,principalName,"
        "principalEmail,lowestGrade,highestGrade,address,phone",
        "school",
        {},
    ),
    Resource(
        "classes",
        "/education/classes/delta?$select=id,displayName,mailNickname,externalId,externalName,classCode,"
        "grade,description,term,course",
        "class",
        {},
    ),
    Resource(
        "groups",
        "/groups/delta?$select=id,displayName,mailNickname,groupTypes,securityEnabled,assignedLicenses,members,"
        "owners",
        "group",
        {"members@delta": {USER: "member", GROUP: "member"}, "owners@delta": {USER: "owner", GROUP: "owner"}},
    ),
    Resource(
        "units",
        "/directory/administrativeUnits/delta?$select=id,displayName,members",
        None,
        {"members@delta": {USER: "user", GROUP: "class"}},
    ),
)


#: Properties that Graph documents as collections, beside each resource's link arrays.
_LIST_PROPERTIES = ("assignedLicenses", "groupTypes")


def check_item(resource: Resource, item: Mapping[str, Any]) -> None:
    """Refuse an object of a delta page that Graph's documented shape rules out: without a string ``id``,
    or with a collection property (a link array, ``assignedLicenses``, ``groupTypes``) that is not a list.
    Read any other way, it would be taken for an object with no licences or no members, and the plan
    would add them again: the round stops instead (nothing of it is applied) with
    :class:`DirectoryUnavailable`."""
    object_id = item.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise DirectoryUnavailable(
            f"Microsoft Graph sent an object without an id in a delta page of {resource.name}; nothing of "
            "that read was kept: run again, and report it if it happens again"
        )
    for key in (*resource.link_arrays, *_LIST_PROPERTIES):
        value = item.get(key)
        if value is not None and not isinstance(value, list):
            raise DirectoryUnavailable(
                f"Microsoft Graph sent {key} as {type(value).__name__}, not a list, for an object in a delta "
                f"page of {resource.name}; nothing of that read was kept: run again, and report it if it "
                "happens again"
            )


def _relations(resource: Resource) -> list[str]:
    return sorted({relation for types in resource.link_arrays.values() for relation in types.values()})


#: Which link relations a snapshot keeps for each kind of container.
CONTAINER_RELATIONS: Mapping[str, tuple[str, ...]] = {
    "class": ("owner", "member"),
    "group": ("owner", "member"),
    "school": ("user", "class"),
}
_FETCH = 1024


class GraphCache:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # a cache: a lost last commit is read again
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise UsageError(
                f"cannot open the Graph cache {path}: {err}; give a writable cache folder (or delete a "
                "damaged cache file: the next run reads the directory in full)"
            ) from err

    def reset(self) -> None:
        """Forget everything (another tenant answers at this address): the next rounds read in full."""
        self._db.executescript(
            "DELETE FROM objects; DELETE FROM links; DELETE FROM deltas; DELETE FROM meta; "
            "DELETE FROM staged_items;"
        )

    def close(self) -> None:
        self._db.close()

    def delta_link(self, resource: Resource) -> str | None:
        """The link to ask next; ``None`` also when it was issued for another query (the ``$select`` has
        changed since, e.g. groups' ``assignedLicenses``): a delta link keeps its query, so start over."""
        if self.get_meta(f"query:{resource.name}") != resource.url:
            return None
        row = self._db.execute("SELECT link FROM deltas WHERE resource = ?", (resource.name,)).fetchone()
        return str(row[0]) if row else None

    def forget_delta(self, resource: Resource) -> None:
        self._db.execute("DELETE FROM deltas WHERE resource = ?", (resource.name,))

    @contextmanager
    def round(self, resource: Resource, *, full: bool) -> Iterator[StagedRound]:
        """A delta round of ``resource``: pages go to :meth:`StagedRound.add_page` as they arrive, and
        :meth:`StagedRound.commit` applies them with the new delta link. Leaving the block any other way
        (an error, ``410``, a cancelled task, no commit) discards the staged pages and changes nothing.
        ``full``: the round lists everything (what it does not list is gone)."""
        self._discard(resource)  # pages a killed process staged
        staged = StagedRound(
            lambda items: self._stage(resource, items),
            lambda delta_link: self._commit(resource, delta_link, full=full),
        )
        try:
            yield staged
        finally:
            if not staged.committed:
                self._discard(resource)

    def apply_round(
        self, resource: Resource, items: Sequence[Mapping[str, Any]], delta_link: str, *, full: bool
    ) -> None:
        """Apply one delta round already in hand and store its link, atomically."""
        with self.round(resource, full=full) as staged:
            staged.add_page(items)
            staged.commit(delta_link)

    def _discard(self, resource: Resource) -> None:
        self._db.execute("DELETE FROM staged_items WHERE resource = ?", (resource.name,))

    def _stage(self, resource: Resource, items: Sequence[Mapping[str, Any]]) -> None:
        for item in items:
            check_item(resource, item)
        rows = [(resource.name, json.dumps(item, separators=(",", ":"))) for item in items]
        self._transaction(
            lambda db: db.executemany("INSERT INTO staged_items (resource, item) VALUES (?, ?)", rows)
        )

    def _commit(self, resource: Resource, delta_link: str, *, full: bool) -> None:
        def apply(db: sqlite3.Connection) -> None:
            relations = _relations(resource)
            if full:
                if resource.kind is not None:
                    db.execute("DELETE FROM objects WHERE kind = ?", (resource.kind,))
                for relation in relations:
                    db.execute("DELETE FROM links WHERE relation = ?", (relation,))
            rows = db.execute(
                "SELECT item FROM staged_items WHERE resource = ? ORDER BY seq", (resource.name,)
            )
            while chunk := rows.fetchmany(_FETCH):
                for (text,) in chunk:
                    self._apply_item(resource, relations, json.loads(text))
            db.execute("DELETE FROM staged_items WHERE resource = ?", (resource.name,))
            db.execute(
                "INSERT INTO deltas (resource, link) VALUES (?, ?) ON CONFLICT (resource) DO UPDATE "
                "SET link = excluded.link",
                (resource.name, delta_link),
            )
            self.set_meta(f"query:{resource.name}", resource.url)

        self._transaction(apply)

    def _transaction(self, work: Callable[[sqlite3.Connection], object]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            work(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _apply_item(self, resource: Resource, relations: Sequence[str], item: Mapping[str, Any]) -> None:
        db = self._db
        object_id = str(item["id"])
        if "@removed" in item:
            if resource.kind is not None:
                db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (resource.kind, object_id))
            for relation in relations:
                db.execute("DELETE FROM links WHERE container_id = ? AND relation = ?", (object_id, relation))
            if resource.name in ("users", "groups"):  # a gone user or group leaves every container
                db.execute("DELETE FROM links WHERE member_id = ?", (object_id,))
            return
        if resource.kind is not None:
            row = db.execute(
                "SELECT data FROM objects WHERE kind = ? AND id = ?", (resource.kind, object_id)
            ).fetchone()
            data: dict[str, Any] = json.loads(row[0]) if row else {}
            data.update(
                (key, value)
                for key, value in item.items()
                if "@" not in key and key not in resource.link_arrays
            )
            db.execute(
                "INSERT INTO objects (kind, id, data) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE "
                "SET data = excluded.data",
                (resource.kind, object_id, json.dumps(data, sort_keys=True)),
            )
        for array, types in resource.link_arrays.items():
            changes = [
                (
                    "@removed" in link,
                    (
                        object_id,
                        str(link["id"]),
                        types.get(str(link.get("@odata.type", USER)), types.get(USER, "member")),
                    ),
                )
                for link in item.get(array) or ()
                if isinstance(link, Mapping) and "id" in link
            ]
            for removed, run in groupby(changes, key=itemgetter(0)):  # in order: a key may come twice
                db.executemany(_REMOVE_LINK if removed else _ADD_LINK, (key for _, key in run))

    def objects(self, kind: str, *, unless: str | None = None) -> Iterator[dict[str, Any]]:
        """The objects of ``kind`` by id; ``unless``: leaving out those that are also of that kind."""
        if unless is None:
            rows = self._db.execute("SELECT data FROM objects WHERE kind = ? ORDER BY id", (kind,))
        else:
            rows = self._db.execute(
                "SELECT data FROM objects AS o WHERE kind = ? AND NOT EXISTS "
                "(SELECT 1 FROM objects AS x WHERE x.kind = ? AND x.id = o.id) ORDER BY id",
                (kind, unless),
            )
        while chunk := rows.fetchmany(_FETCH):
            for (data,) in chunk:
                yield json.loads(data)

    def joined(self, kind: str, other: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Each object of ``kind`` by id with the object of kind ``other`` of the same id (``{}`` if none):
        a user and its education user, a class and its group."""
        rows = self._db.execute(
            "SELECT o.data, x.data FROM objects AS o LEFT JOIN objects AS x ON x.kind = ? AND x.id = o.id "
            "WHERE o.kind = ? ORDER BY o.id",
            (other, kind),
        )
        while chunk := rows.fetchmany(_FETCH):
            for data, extra in chunk:
                yield json.loads(data), json.loads(extra) if extra is not None else {}

    def container_links(
        self, containers: Iterable[tuple[str, str]], *, chunk: int = 65536
    ) -> Iterator[list[tuple[str, str, str]]]:
        """The links of ``containers`` (id, kind of :data:`CONTAINER_RELATIONS`) whose relation that kind
        keeps, ordered by container, relation, member, in lists of at most ``chunk`` rows (SQLite joins
        and filters; nothing is held beyond one chunk)."""
        db = self._db
        db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS wanted (id TEXT NOT NULL, relation TEXT NOT NULL, "
            "PRIMARY KEY (id, relation)) WITHOUT ROWID"
        )
        db.execute("DELETE FROM temp.wanted")
        db.executemany(
            "INSERT OR IGNORE INTO temp.wanted (id, relation) VALUES (?, ?)",
            (
                (container, relation)
                for container, kind in containers
                for relation in CONTAINER_RELATIONS[kind]
            ),
        )
        try:
            rows = db.execute(
                "SELECT l.container_id, l.member_id, l.relation FROM temp.wanted AS w JOIN links AS l "
                "ON l.container_id = w.id AND l.relation = w.relation "
                "ORDER BY l.container_id, l.relation, l.member_id"
            )
            while block := rows.fetchmany(chunk):
                yield block
        finally:
            db.execute("DELETE FROM temp.wanted")

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


_ADD_LINK = "INSERT OR IGNORE INTO links (container_id, member_id, relation) VALUES (?, ?, ?)"
_REMOVE_LINK = "DELETE FROM links WHERE container_id = ? AND member_id = ? AND relation = ?"


class StagedRound:
    """One delta round being read: its pages are staged as they arrive, applied only on :meth:`commit`."""

    def __init__(
        self, stage: Callable[[Sequence[Mapping[str, Any]]], None], apply: Callable[[str], None]
    ) -> None:
        self._stage = stage
        self._apply = apply
        self._staged = 0
        self.committed = False

    @property
    def staged(self) -> int:
        """Items staged so far."""
        return self._staged

    def add_page(self, items: Sequence[Mapping[str, Any]]) -> None:
        if self.committed:
            raise RuntimeError("a committed round takes no more pages")
        self._stage(items)
        self._staged += len(items)

    def commit(self, delta_link: str) -> None:
        """Apply the staged items and store ``delta_link``, in one transaction."""
        if self.committed:
            raise RuntimeError("a round is committed once")
        self._apply(delta_link)
        self.committed = True
