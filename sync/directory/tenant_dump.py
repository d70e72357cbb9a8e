"""An id-free dump of a whole local tenant, so tests can assert that two tenants are in the same state
(one filled through the Graph adapter and the local Graph server, one filled directly).

Objects are keyed by what identifies them across tenants: the anchor when there is one, else
``upn:<userPrincipalName>`` (users), ``nick:<mailNickname>`` (groups, classes) or ``name:<displayName>``
(schools), lower-cased where Graph compares case-insensitively. Memberships are sorted
``[container key, relation, member key]`` triples; each user carries its sorted licences (its own and
those inherited from its groups), each group the sorted licences assigned to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from sync.directory.anchors import class_anchor_of, group_anchor_of, school_anchor_of, user_anchor
from sync.directory.tenant_store import TenantStore


def dump_state(store_or_path: TenantStore | str | os.PathLike[str]) -> dict[str, Any]:
    """``{"users", "schools", "classes", "groups": {key: properties}, "memberships": [...],
    "subscribedSkus": [...]}`` — no directory ids, no change counters, deterministic."""
    if isinstance(store_or_path, TenantStore):
        return _dump(store_or_path)
    with TenantStore(store_or_path) as store:
        return _dump(store)


def _dump(store: TenantStore) -> dict[str, Any]:
    keys: dict[str, str] = {}
    users = _keyed(store.list_users(), keys, _user_key)
    for user in users.values():
        user["assignedLicenses"] = sorted(entry["skuId"] for entry in user["assignedLicenses"])
    classes = _keyed(store.list_classes(), keys, lambda c: class_anchor_of(c.get("externalId")))
    class_ids = set(keys)
    groups = _keyed(
        [g for g in store.list_groups() if g["id"] not in class_ids],
        keys,
        lambda g: group_anchor_of(g.get("mailNickname")),
    )
    for group in groups.values():
        group["assignedLicenses"] = sorted(entry["skuId"] for entry in group["assignedLicenses"])
    schools = _keyed(
        store.list_schools(),
        keys,
        lambda s: school_anchor_of(s.get("externalId")) or f"name:{s['displayName']}",
    )
    memberships = sorted(
        [keys[container], relation, keys[member]]
        for container, relation, member in _links(store)
        if container in keys and member in keys
    )
    return {
        "users": users,
        "schools": schools,
        "classes": classes,
        "groups": groups,
        "memberships": memberships,
        "subscribedSkus": sorted(store.subscribed_skus()),
    }


def _user_key(user: dict[str, Any]) -> str:
    anchor = user_anchor(user.get("primaryRole"), user)
    return anchor or f"upn:{user['userPrincipalName'].lower()}"


def _keyed(
    objects: Iterable[dict[str, Any]], keys: dict[str, str], key_of: Callable[[dict[str, Any]], str | None]
) -> dict[str, dict[str, Any]]:
    """Objects by key (a repeated key gets ``#2``, ``#3`` … in creation order); records id → key."""
    result: dict[str, dict[str, Any]] = {}
    for obj in objects:
        base = key_of(obj) or f"nick:{str(obj.get('mailNickname', '')).lower()}"
        key, n = base, 1
        while key in result:
            n += 1
            key = f"{base}#{n}"
        keys[obj.pop("id")] = key
        result[key] = obj
    return dict(sorted(result.items()))


def _links(store: TenantStore) -> list[tuple[str, str, str]]:
    with store.reading() as db:
        rows = db.execute("SELECT container_id, relation, member_id FROM links WHERE present = 1").fetchall()
    return [(c, r, m) for c, r, m in rows]
