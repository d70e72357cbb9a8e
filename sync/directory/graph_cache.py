"""The local copy of the directory that delta queries keep current (a SQLite file).

Each Graph resource read by delta has its objects (``objects``: kind, id, JSON) and, for groups and
administrative units, its links (``links``: container, member, relation), plus the delta link to ask
next time (``deltas``). One delta round is applied in one transaction together with its new delta link,
so a process killed half-way leaves the cache as it was before the round. A round without a stored link
(first run, or after ``410``) replaces what the cache held for that resource.

The file holds directory data (names, UPNs): it lives where the caller says (``.sync/graph-cache/``),
never in logs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.errors import UsageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
                                    PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS links (container_id TEXT NOT NULL, member_id TEXT NOT NULL, relation TEXT NOT NULL,
                                  PRIMARY KEY (container_id, member_id, relation));
CREATE INDEX IF NOT EXISTS links_member ON links (member_id);
CREATE TABLE IF NOT EXISTS deltas (resource TEXT PRIMARY KEY, link TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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


def _relations(resource: Resource) -> list[str]:
    return sorted({relation for types in resource.link_arrays.values() for relation in types.values()})


class GraphCache:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise UsageError(
                f"cannot open the Graph cache {path}: {err}; give a writable cache folder (or delete a "
                "damaged cache file: the next run reads the directory in full)"
            ) from err

    def reset(self) -> None:
        """Forget everything (another tenant answers at this address): the next rounds read in full."""
        self._db.executescript(
            "DELETE FROM objects; DELETE FROM links; DELETE FROM deltas; DELETE FROM meta;"
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

    def apply_round(
        self, resource: Resource, items: Sequence[Mapping[str, Any]], delta_link: str, *, full: bool
    ) -> None:
        """Apply one delta round and store its link, atomically. ``full``: the round lists everything."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if full:
                if resource.kind is not None:
                    db.execute("DELETE FROM objects WHERE kind = ?", (resource.kind,))
                for relation in _relations(resource):
                    db.execute("DELETE FROM links WHERE relation = ?", (relation,))
            for item in items:
                self._apply_item(resource, item)
            db.execute(
                "INSERT INTO deltas (resource, link) VALUES (?, ?) ON CONFLICT (resource) DO UPDATE "
                "SET link = excluded.link",
                (resource.name, delta_link),
            )
            self.set_meta(f"query:{resource.name}", resource.url)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _apply_item(self, resource: Resource, item: Mapping[str, Any]) -> None:
        db = self._db
        object_id = str(item["id"])
        relations = _relations(resource)
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
            for link in item.get(array) or ():
                if not isinstance(link, Mapping) or "id" not in link:
                    continue
                relation = types.get(str(link.get("@odata.type", USER)), types.get(USER, "member"))
                if "@removed" in link:
                    db.execute(
                        "DELETE FROM links WHERE container_id = ? AND member_id = ? AND relation = ?",
                        (object_id, str(link["id"]), relation),
                    )
                else:
                    db.execute(
                        "INSERT OR IGNORE INTO links (container_id, member_id, relation) VALUES (?, ?, ?)",
                        (object_id, str(link["id"]), relation),
                    )

    def objects(self, kind: str) -> Iterator[dict[str, Any]]:
        for (data,) in self._db.execute("SELECT data FROM objects WHERE kind = ? ORDER BY id", (kind,)):
            yield json.loads(data)

    def links(self) -> list[tuple[str, str, str]]:
        rows = self._db.execute(
            "SELECT container_id, member_id, relation FROM links ORDER BY container_id, relation, member_id"
        )
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
