"""Each :class:`~sync.directory.model.OpKind` as Graph requests, with the idempotence contract.

An operation becomes one or more requests (a class: create with owner and first members, then the
education properties; owners and school links: one request per link; members: one request per 20). The
requests of one operation go to the dispatcher together, so they share batches with other operations.

Idempotence (``sync/directory/model.py``): a create whose anchor is already known returns the known id
without writing; "already exists" on a create looks the object up by its natural key (UPN, mailNickname,
externalId) — again, with backoff, while Graph does not list it yet, since a retried create can meet its
own first attempt whose answer was lost — and returns its id; schools and security groups, whose key
Graph does not keep unique, are looked up before every create attempt, and after an ambiguous failure
(time-out, 5xx) the adapter waits for a first attempt still in flight before it looks again. "already
exist" on a link is success; ``404`` on a remove or delete is success unless it names an object written
moments ago. ``404`` / ``400 … do not exist`` elsewhere is taken for replication delay on a fresh object
and retried with backoff. Every other error becomes ``OperationResult(ok=False, code=<Graph code>)``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from sync.directory.anchors import class_anchor_of, user_anchor, user_role_of
from sync.directory.graph_anchors import AnchorIndex
from sync.directory.graph_batch import Draw, RetryPolicy
from sync.directory.graph_errors import already_exists, failed, missing_anchor, not_there
from sync.directory.graph_http import GRAPH_ROOT, TRANSIENT_STATUSES, SubRequest, SubResponse
from sync.directory.graph_read import GraphReader
from sync.directory.model import MAX_BATCH, Operation, OperationResult, OpKind
from sync.directory.passwords import generate_password
from sync.roster.names import section_mail_nickname, split_anchor

#: Answers that leave open whether the request was carried out: no answer (time-out, broken connection)
#: and gateway errors. A ``429`` or ``503`` means the request was turned away unread.
AMBIGUOUS_STATUSES = frozenset({0, 500, 502, 504})

#: Properties of a class that ``POST /groups`` takes; the rest go to ``PATCH /education/classes/{id}``.
GROUP_CREATE_PROPERTIES = ("displayName", "mailNickname", "description")


class Another:
    """What a look-up after "already exists" finds when the object holding the key is another's (another
    section's class, another SIS user's account): the create fails, and no replication wait changes that."""


ANOTHERS = Another()


class Sender(Protocol):
    """What the writer needs of the dispatcher."""

    async def call(self, request: SubRequest) -> SubResponse:
        """Send; retry transient answers; the final answer."""
        ...

    async def call_once(self, request: SubRequest) -> SubResponse:
        """Send once; a transient answer is returned as it is."""
        ...


def with_external_id(op: Operation) -> dict[str, Any]:
    """``op.fields`` with ``externalId`` defaulting to the anchor's key (schools, classes)."""
    return {"externalId": split_anchor(op.target)[1], **op.fields}


def with_role(op: Operation) -> dict[str, Any]:
    """``op.fields`` with the ``primaryRole`` and the facet ``externalId`` the user anchor means, so the
    anchor is written whatever the plan left implicit (as the local tenant does)."""
    fields = dict(op.fields)
    role = user_role_of(op.target)
    if role is not None:
        primary_role, facet, external_id = role
        fields.setdefault("primaryRole", primary_role)
        fields[facet] = {"externalId": external_id, **(fields.get(facet) or {})}
    fields.setdefault("externalSource", "sis")
    return fields


def keep_facet_anchor(op: Operation) -> dict[str, Any]:
    """A PATCH replaces a complex property whole: keep the anchor's ``externalId`` in a changed facet."""
    fields = dict(op.fields)
    role = user_role_of(op.target)
    if role is not None and isinstance(fields.get(role[1]), Mapping):
        fields[role[1]] = {"externalId": role[2], **fields[role[1]]}
    return fields


class OperationWriter:
    """Runs operations through ``call`` (the batch dispatcher); one coroutine per operation."""

    def __init__(
        self,
        sender: Sender,
        reader: GraphReader,
        anchors: AnchorIndex,
        *,
        replication: RetryPolicy,
        settle_s: float = 0.0,
        draw: Draw = random.random,
    ) -> None:
        self._sender = sender
        self._reader = reader
        self._anchors = anchors
        self._replication = replication
        self._draw = draw
        #: How long a request the client gave up on may still be at work on the server.
        self._settle_s = settle_s

    # -- helpers ---------------------------------------------------------------------------------------

    async def _write(
        self, request: SubRequest, *, absent_ok: bool = False, present_ok: bool = False
    ) -> SubResponse:
        """Send one write; retry "not there" as replication delay. With ``absent_ok`` (removes, deletes)
        "not there" is success, unless the request names an object this adapter wrote moments ago: that
        ``404`` may be replication delay, so it is retried until the object is out of the fresh window."""
        answer = await self._sender.call(request)
        for attempt in range(self._replication.attempts):
            if absent_ok and not_there(answer) and not self._anchors.names_fresh_object(request.url):
                return SubResponse(204)
            if present_ok and already_exists(answer):
                return SubResponse(204)
            if not not_there(answer):
                return answer
            await asyncio.sleep(self._replication.backoff(attempt, self._draw))
            answer = await self._sender.call(request)
        if absent_ok and not_there(answer) and not self._anchors.names_fresh_object(request.url):
            return SubResponse(204)
        return answer

    async def _all(self, requests: Sequence[SubRequest], **flags: bool) -> OperationResult:
        answers = await asyncio.gather(*(self._write(request, **flags) for request in requests))
        for answer in answers:
            if not answer.ok:
                return failed(answer)
        return OperationResult(ok=True)

    def _ids(self, anchors: Sequence[str]) -> tuple[list[str], str | None]:
        """Resolved ids and the first anchor that did not resolve."""
        ids: list[str] = []
        for anchor in anchors:
            directory_id = self._anchors.get(anchor)
            if directory_id is None:
                return ids, anchor
            ids.append(directory_id)
        return ids, None

    async def _create(
        self, op: Operation, request: SubRequest, lookup: Callable[[], Awaitable[str | Another | None]]
    ) -> tuple[OperationResult, bool]:
        """POST ``request``; on "already exists" look the object up. ``(result, created_now)``.

        A retried create whose first attempt landed though its answer was lost (a time-out) meets "already
        exists" for its own object, which Graph may not list yet: the look-up is repeated with the
        replication backoff before the conflict is reported."""
        answer = await self._write(request)
        if answer.ok and answer.body.get("id"):
            directory_id = str(answer.body["id"])
            self._anchors.learn(op.target, directory_id)
            return OperationResult(ok=True, directory_id=directory_id), True
        if already_exists(answer):
            found = await self._look_up_existing(lookup)
            if isinstance(found, str):
                self._anchors.learn(op.target, found)
                return OperationResult(ok=True, directory_id=found), False
        return failed(answer), False

    async def _own_group(self, nickname: str, anchor: str) -> str | Another | None:
        """The group holding a class's ``nickname`` after "already exists" — this class's own create whose
        answer was lost — unless it is already the class of another section (its ``externalId`` says
        whose): that one is never taken for this class, nor written over."""
        found = await self._reader.find_id("/groups", "mailNickname", nickname)
        return await self._unless_anothers(
            found,
            "/education/classes/{}?$select=externalId",
            lambda body: class_anchor_of(body.get("externalId")),
            anchor,
        )

    async def _own_user(self, upn: str, anchor: str) -> str | Another | None:
        """The user holding ``upn`` after "already exists" — this user's own create whose answer was lost,
        or an account without a SIS anchor made meanwhile — unless it is the account of another SIS user
        (its role facet's ``externalId`` says whose): that one is never taken for this user."""
        found = await self._reader.find_id("/users", "userPrincipalName", upn)
        return await self._unless_anothers(
            found,
            "/education/users/{}?$select=primaryRole,student,teacher",
            lambda body: user_anchor(body.get("primaryRole"), body),
            anchor,
        )

    async def _unless_anothers(
        self, found: str | None, url: str, anchor_of: Callable[[Mapping[str, Any]], str | None], anchor: str
    ) -> str | Another | None:
        """``found`` unless a GET of ``url`` (its id filled in) shows it carries an anchor other than
        ``anchor`` (then :data:`ANOTHERS`); a 404 (not an education object yet) shows none. One read, on the
        "already exists" path only."""
        if found is None:
            return None
        answer = await self._reader.get(url.format(found))
        held = anchor_of(answer.body) if answer.ok else None
        return ANOTHERS if held and held != anchor else found

    async def _look_up_existing(
        self, lookup: Callable[[], Awaitable[str | Another | None]]
    ) -> str | Another | None:
        """``lookup`` until it finds the object, up to the replication policy's attempts; an object that is
        another's ends the search at once (no replication delay makes it this one's)."""
        for attempt in range(self._replication.attempts):
            found = await lookup()
            if found is not None:
                return found
            if attempt + 1 < self._replication.attempts:
                await asyncio.sleep(self._replication.backoff(attempt, self._draw))
        return None

    # -- operations ------------------------------------------------------------------------------------

    async def run(self, op: Operation) -> OperationResult:
        handler = getattr(self, f"_{op.kind.value}")
        result: OperationResult = await handler(op)
        return result

    async def _create_school(self, op: Operation) -> OperationResult:
        fields = with_external_id(op)
        external_id = str(fields["externalId"])
        return await self._create_looked_up(
            op,
            SubRequest("POST", "/education/schools", {**fields, "externalSource": "sis"}),
            lambda: self._reader.find_id("/education/schools", "externalId", external_id),
        )

    async def _create_looked_up(
        self, op: Operation, request: SubRequest, lookup: Callable[[], Awaitable[str | None]]
    ) -> OperationResult:
        """Create an object whose natural key Graph does not keep unique (schools, security groups): look
        before every attempt, so that a retried create whose first attempt did land cannot make a second.
        After an answer that leaves open whether the create landed (a time-out, a 5xx gateway error) the
        first attempt may still be in flight: wait ``settle_s`` before looking again."""
        known = self._anchors.get(op.target)
        if known:
            return OperationResult(ok=True, directory_id=known)
        answer = SubResponse(0)
        for attempt in range(self._replication.attempts):
            found = await lookup()
            if found:
                self._anchors.learn(op.target, found)
                return OperationResult(ok=True, directory_id=found)
            answer = await self._sender.call_once(request)
            if answer.ok and answer.body.get("id"):
                directory_id = str(answer.body["id"])
                self._anchors.learn(op.target, directory_id)
                return OperationResult(ok=True, directory_id=directory_id)
            if already_exists(answer):
                continue
            if answer.status not in TRANSIENT_STATUSES:
                return failed(answer)
            wait = self._replication.wait(attempt, answer.headers, self._draw)
            if answer.status in AMBIGUOUS_STATUSES:
                wait = max(wait, self._settle_s)
            await asyncio.sleep(wait)
        return failed(answer)

    async def _update_school(self, op: Operation) -> OperationResult:
        return await self._patch(op.target, "/education/schools/{}", op.fields)

    async def _patch(self, anchor: str, path: str, fields: Mapping[str, Any]) -> OperationResult:
        directory_id = self._anchors.get(anchor)
        if directory_id is None:
            return missing_anchor(anchor)
        if not fields:
            return OperationResult(ok=True)
        answer = await self._write(SubRequest("PATCH", path.format(directory_id), dict(fields)))
        return OperationResult(ok=True) if answer.ok else failed(answer)

    async def _create_user(self, op: Operation) -> OperationResult:
        known = self._anchors.get(op.target)
        if known:
            return OperationResult(ok=True, directory_id=known)
        upn = str(op.fields.get("userPrincipalName", ""))
        body = with_role(op)
        body.setdefault("accountEnabled", True)
        if not body.get("passwordProfile"):  # Graph requires one; the roster gave none
            body["passwordProfile"] = {"password": generate_password(), "forceChangePasswordNextSignIn": True}
        result, _ = await self._create(
            op,
            SubRequest("POST", "/education/users", body),
            lambda: self._own_user(upn, op.target),
        )
        return result

    async def _link_user(self, op: Operation) -> OperationResult:
        directory_id = str(op.fields["id"])
        facet = {key: value for key, value in with_role(op).items() if key != "id"}
        answer = await self._write(SubRequest("PATCH", f"/education/users/{directory_id}", facet))
        if not answer.ok:
            return failed(answer)
        self._anchors.learn(op.target, directory_id)
        return OperationResult(ok=True, directory_id=directory_id)

    async def _update_user(self, op: Operation) -> OperationResult:
        return await self._patch(op.target, "/education/users/{}", keep_facet_anchor(op))

    async def _enable_user(self, op: Operation) -> OperationResult:
        return await self._patch(op.target, "/users/{}", {"accountEnabled": True})

    async def _disable_user(self, op: Operation) -> OperationResult:
        return await self._patch(op.target, "/users/{}", {"accountEnabled": False})

    async def _delete_user(self, op: Operation) -> OperationResult:
        return await self._delete(op.target, "/users/{}")

    async def _delete(self, anchor: str, path: str) -> OperationResult:
        directory_id = self._anchors.get(anchor)
        if directory_id is None:
            return OperationResult(ok=True)  # absent is fine
        answer = await self._write(SubRequest("DELETE", path.format(directory_id)), absent_ok=True)
        if not answer.ok:
            return failed(answer)
        self._anchors.forget(anchor)
        return OperationResult(ok=True)

    async def _create_class(self, op: Operation) -> OperationResult:
        known = self._anchors.get(op.target)
        if known:  # the anchor (externalId) is written last, so a known anchor means a finished class
            return OperationResult(ok=True, directory_id=known)
        if not op.owners:
            return OperationResult(
                ok=False, code="NoOwner", message="a class is created with at least one owner (its teacher)"
            )
        owner_ids, missing = self._ids(op.owners)
        if missing is not None:
            return missing_anchor(missing)
        member_ids, missing = self._ids(op.refs)
        if missing is not None:
            return missing_anchor(missing)
        fields = with_external_id(op)
        fields.setdefault("mailNickname", section_mail_nickname(split_anchor(op.target)[1]))
        room = max(0, MAX_BATCH - len(owner_ids))
        first, rest = member_ids[:room], member_ids[room:]
        body: dict[str, Any] = {key: fields[key] for key in GROUP_CREATE_PROPERTIES if key in fields}
        body |= {
            "mailEnabled": True,
            "securityEnabled": False,
            "groupTypes": ["Unified"],
            "owners@odata.bind": [f"{GRAPH_ROOT}/users/{uid}" for uid in owner_ids],
        }
        if first:
            body["members@odata.bind"] = [f"{GRAPH_ROOT}/directoryObjects/{uid}" for uid in first]
        nickname = str(fields["mailNickname"])
        result, created = await self._create(
            op,
            SubRequest("POST", "/groups", body),
            lambda: self._own_group(nickname, op.target),
        )
        if not result.ok or result.directory_id is None:
            return result
        class_id = result.directory_id
        if not created:
            rest = member_ids  # found, not made here: make sure every member is there
        education = {key: value for key, value in fields.items() if key not in GROUP_CREATE_PROPERTIES}
        education["externalSource"] = "sis"
        answer = await self._write(SubRequest("PATCH", f"/education/classes/{class_id}", education))
        if not answer.ok:
            self._anchors.forget(op.target)  # not a class yet: a retry must finish it
            return failed(answer)
        if rest:
            extra = await self._add_members_by_id(class_id, rest)
            if not extra.ok:
                return extra
        return OperationResult(ok=True, directory_id=class_id)

    async def _update_class(self, op: Operation) -> OperationResult:
        return await self._patch(op.target, "/education/classes/{}", op.fields)

    async def _expire_class(self, op: Operation) -> OperationResult:
        return await self._patch(op.target, "/education/classes/{}", op.fields)

    async def _delete_class(self, op: Operation) -> OperationResult:
        return await self._delete(op.target, "/groups/{}")

    async def _create_group(self, op: Operation) -> OperationResult:
        nickname = str(op.fields.get("mailNickname", op.target.partition("_")[2]))
        body = {
            "displayName": op.fields.get("displayName", nickname),
            "mailNickname": nickname,
            "mailEnabled": False,
            "securityEnabled": True,
            "groupTypes": [],
        }
        return await self._create_looked_up(
            op,
            SubRequest("POST", "/groups", body),
            lambda: self._reader.find_id("/groups", "mailNickname", nickname),
        )

    async def _add_members_by_id(self, group_id: str, user_ids: Sequence[str]) -> OperationResult:
        chunks = [user_ids[start : start + MAX_BATCH] for start in range(0, len(user_ids), MAX_BATCH)]
        answers = await asyncio.gather(*(self._add_chunk(group_id, chunk) for chunk in chunks))
        for result in answers:
            if not result.ok:
                return result
        return OperationResult(ok=True)

    async def _add_chunk(self, group_id: str, user_ids: Sequence[str]) -> OperationResult:
        body = {"members@odata.bind": [f"{GRAPH_ROOT}/directoryObjects/{uid}" for uid in user_ids]}
        answer = await self._write(SubRequest("PATCH", f"/groups/{group_id}", body))
        if answer.ok:
            return OperationResult(ok=True)
        if not already_exists(answer):
            return failed(answer)
        # Graph refuses the whole request when any one member is there already: add them one by one.
        singles = [
            SubRequest(
                "POST",
                f"/groups/{group_id}/members/$ref",
                {"@odata.id": f"{GRAPH_ROOT}/directoryObjects/{uid}"},
            )
            for uid in user_ids
        ]
        return await self._all(singles, present_ok=True)

    async def _add_members(self, op: Operation) -> OperationResult:
        group_id = self._anchors.get(op.target)
        if group_id is None:
            return missing_anchor(op.target)
        user_ids, missing = self._ids(op.refs)
        if missing is not None:
            return missing_anchor(missing)
        return await self._add_members_by_id(group_id, user_ids)

    async def _add_class_members(self, op: Operation) -> OperationResult:
        return await self._add_members(op)

    async def _add_group_members(self, op: Operation) -> OperationResult:
        return await self._add_members(op)

    async def _links(self, op: Operation, method: str, path: str, ref_path: str = "") -> OperationResult:
        """One request per ref: ``POST …/$ref`` (adds) or ``DELETE …/{ref}/$ref`` (removes)."""
        container_id = self._anchors.get(op.target)
        if container_id is None:
            return OperationResult(ok=True) if method == "DELETE" else missing_anchor(op.target)
        requests: list[SubRequest] = []
        for anchor in op.refs:
            ref_id = self._anchors.get(anchor)
            if ref_id is None:
                if method == "DELETE":
                    continue  # the linked object is gone, and so is the link
                return missing_anchor(anchor)
            if method == "DELETE":
                requests.append(SubRequest("DELETE", f"{path.format(container_id)}/{ref_id}/$ref"))
            else:
                body = {"@odata.id": f"{GRAPH_ROOT}/{ref_path}/{ref_id}"}
                requests.append(SubRequest("POST", f"{path.format(container_id)}/$ref", body))
        if method == "DELETE":
            return await self._all(requests, absent_ok=True)
        return await self._all(requests, present_ok=True)

    async def _add_class_owners(self, op: Operation) -> OperationResult:
        return await self._links(op, "POST", "/groups/{}/owners", "users")

    async def _remove_class_owners(self, op: Operation) -> OperationResult:
        return await self._links(op, "DELETE", "/groups/{}/owners")

    async def _remove_class_members(self, op: Operation) -> OperationResult:
        return await self._links(op, "DELETE", "/groups/{}/members")

    async def _remove_group_members(self, op: Operation) -> OperationResult:
        return await self._links(op, "DELETE", "/groups/{}/members")

    async def _add_school_users(self, op: Operation) -> OperationResult:
        return await self._links(op, "POST", "/education/schools/{}/users", "education/users")

    async def _remove_school_users(self, op: Operation) -> OperationResult:
        return await self._links(op, "DELETE", "/education/schools/{}/users")

    async def _add_school_classes(self, op: Operation) -> OperationResult:
        return await self._links(op, "POST", "/education/schools/{}/classes", "education/classes")

    async def _remove_school_classes(self, op: Operation) -> OperationResult:
        return await self._links(op, "DELETE", "/education/schools/{}/classes")

    async def _assign_licenses(self, op: Operation) -> OperationResult:
        return await self._assign_license(op, "/users/{}/assignLicense")

    async def _assign_group_licenses(self, op: Operation) -> OperationResult:
        """Group-based licensing: one ``assignLicense`` on the group; assigning SKUs it holds succeeds."""
        return await self._assign_license(op, "/groups/{}/assignLicense")

    async def _assign_license(self, op: Operation, path: str) -> OperationResult:
        holder_id = self._anchors.get(op.target)
        if holder_id is None:
            return missing_anchor(op.target)
        body = {
            "addLicenses": [{"skuId": sku, "disabledPlans": []} for sku in op.fields.get("addLicenses", ())],
            "removeLicenses": list(op.fields.get("removeLicenses", ())),
        }
        answer = await self._write(SubRequest("POST", path.format(holder_id), body))
        return OperationResult(ok=True) if answer.ok else failed(answer)


#: Every kind has a handler (checked at import, so a new OpKind cannot be forgotten silently).
_MISSING = [kind for kind in OpKind if not hasattr(OperationWriter, f"_{kind.value}")]
if _MISSING:  # pragma: no cover - a programming error
    raise ImportError(f"graph_ops has no handler for {_MISSING}")
