"""Microsoft Entra ID through Microsoft Graph: the :class:`~sync.directory.model.Directory` the sync
really targets.

The write quota (3,000 writes per 150 s per app per tenant) is the physical limit of every sync, so this
adapter spends it carefully:

- **fewest writes**: a class is created with its owner and first members in one request; members are
  added 20 per request; creates whose anchor is already known are not sent at all;
- **fullest batches**: :meth:`GraphDirectory.apply` takes :attr:`max_batch` operations at once and the
  dispatcher (:mod:`~sync.directory.graph_batch`) packs their requests into ``$batch`` requests of 20,
  several in flight;
- **no wasted retries**: a token bucket (:mod:`~sync.directory.graph_pacing`) paces writes to the quota,
  corrected by the throttle headers; a throttled item is re-sent alone after its own ``Retry-After``;
  msgraph-sdk's retry middleware is left out so nothing retries behind the adapter's back.

Reads go through delta queries into a local cache (:mod:`~sync.directory.graph_cache`), so a nightly run
with no changes reads a handful of pages.

The SDK's work runs on an event loop in a background thread owned by the directory; ``snapshot()`` and
``apply()`` are ordinary blocking calls, safe to make from several threads at once (they share the
pacing, so parallel chunks of a plan together stay within the quota). Call :meth:`GraphDirectory.close`
(or use ``with``) when done.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import threading
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from sync.directory.factory import (
    GRAPH_FORMS,
    check_tenant_spec,
    graph_scope,
    graph_tenant,
    is_loopback_graph,
    is_tenant_guid,
)
from sync.directory.graph_anchors import FRESH_WINDOW_S, AnchorIndex
from sync.directory.graph_batch import BatchDispatcher, Draw, RetryPolicy
from sync.directory.graph_cache import RESOURCES, GraphCache, Resource
from sync.directory.graph_http import GRAPH_ROOT, GraphHttp, TokenProvider, build_client
from sync.directory.graph_ops import OperationWriter
from sync.directory.graph_pacing import Pacer, Quota
from sync.directory.graph_read import DeltaExpired, GraphReader
from sync.directory.graph_snapshot import build_snapshot
from sync.directory.graph_stats import Counters, GraphStats
from sync.directory.model import DirectorySnapshot, Operation, OperationResult, OpKind
from sync.errors import DirectoryUnavailable, UsageError

T = TypeVar("T")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
#: Operations one ``apply()`` takes: many full ``$batch`` requests, so a call's tail (its last, part-full
#: batches) is a small share of it.
DEFAULT_MAX_BATCH = 1000
#: Creates whose target anchor does not exist yet; every other anchor an operation names must resolve.
_CREATES = frozenset({OpKind.CREATE_SCHOOL, OpKind.CREATE_USER, OpKind.CREATE_CLASS, OpKind.CREATE_GROUP})
_REMOVALS = frozenset(
    {
        OpKind.DELETE_USER,
        OpKind.DELETE_CLASS,
        OpKind.REMOVE_CLASS_OWNERS,
        OpKind.REMOVE_CLASS_MEMBERS,
        OpKind.REMOVE_SCHOOL_USERS,
        OpKind.REMOVE_SCHOOL_CLASSES,
        OpKind.REMOVE_GROUP_MEMBERS,
    }
)
_UNREACHABLE = frozenset({"Timeout", "TransportError"})
#: Throttled / unavailable answers: up to 8 attempts, waiting ``Retry-After`` or a full-jitter backoff up
#: to 0.5 s doubling (to 30 s).
TRANSIENT_RETRY = RetryPolicy()
#: Fresh objects that do not answer yet: 8 retries, each waiting between half and all of 0.25 s doubling
#: to 8 s: 16 to 32 s in all, so they always outlast the fresh window (``FRESH_WINDOW_S``). Jitter only
#: over the upper half: full jitter could spend the retries within a few seconds.
REPLICATION_RETRY = RetryPolicy(attempts=8, backoff_s=0.25, max_backoff_s=8.0, jitter=0.5)


def static_token(token: str | None) -> TokenProvider:
    """A provider that always gives ``token`` (the local server accepts any, or none)."""

    async def provide() -> str | None:
        return token

    return provide


def tenant_of(token: str | None) -> str:
    """The ``tid`` claim of a JWT bearer token (not verified: it only keys the cache), else ``""``."""
    try:
        payload = (token or "").split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    return str(claims.get("tid", "")) if isinstance(claims, dict) else ""


class AzureToken:
    """Tokens from ``DefaultAzureCredential`` (managed identity in Azure, developer login locally), kept until
    five minutes before expiry. Without ``tenant_id`` the tenant is the credential's (``AZURE_TENANT_ID``,
    or the developer login's home tenant); with it (a tenant id or domain, ``--tenant graph:<tenant>``),
    tokens are asked for that tenant. A managed identity can sign in to its own tenant only: a token whose
    ``tid`` is not the tenant id asked for is refused, so a run cannot write into the wrong tenant.
    ``scope`` is the Graph endpoint's (``https://graph.microsoft.us/.default`` for US Government).
    ``credential`` is any async azure-identity credential (tests pass a fake)."""

    def __init__(
        self, credential: Any = None, *, tenant_id: str | None = None, scope: str = GRAPH_SCOPE
    ) -> None:
        self._credential = credential
        self._tenant_id = tenant_id
        self._scope = scope
        self._token: str | None = None
        self._expires = 0.0

    async def __call__(self) -> str | None:
        if self._token is None or self._expires - 300 < time.time():
            if self._credential is None:
                from azure.identity.aio import DefaultAzureCredential

                # A credential configured for another tenant (AZURE_TENANT_ID) refuses a token for this
                # one unless it is allowed in addition.
                allowed = {"additionally_allowed_tenants": [self._tenant_id]} if self._tenant_id else {}
                self._credential = DefaultAzureCredential(**allowed)
            try:
                if self._tenant_id:
                    access = await self._credential.get_token(self._scope, tenant_id=self._tenant_id)
                else:
                    access = await self._credential.get_token(self._scope)
            except Exception as err:  # azure-identity raises several types; all mean "cannot sign in"
                raise DirectoryUnavailable(
                    f"could not get a Microsoft Graph token{self._for_tenant()} ({type(err).__name__}); "
                    "sign in with `az login` locally, or give the Function App a managed identity with the "
                    "Graph permissions"
                ) from err
            token = str(access.token)
            self._check_tenant(tenant_of(token))
            self._token, self._expires = token, float(access.expires_on)
        return self._token

    def _check_tenant(self, signed_in: str) -> None:
        """Refuse a token of another tenant than the tenant id asked for (a domain cannot be compared)."""
        wanted = self._tenant_id
        if wanted and is_tenant_guid(wanted) and signed_in and signed_in.lower() != wanted.lower():
            raise DirectoryUnavailable(
                f"the credential signed in to tenant {signed_in}, not to tenant {wanted} that --tenant "
                "names (a managed identity signs in to its own tenant only); use a credential of that tenant"
            )

    def _for_tenant(self) -> str:
        return f" for tenant {self._tenant_id}" if self._tenant_id else ""

    async def aclose(self) -> None:
        if self._credential is not None and hasattr(self._credential, "close"):
            await self._credential.close()


class GraphDirectory:
    """A :class:`~sync.directory.model.Directory` on Microsoft Graph (or the local Graph server)."""

    def __init__(
        self,
        base_url: str,
        *,
        cache_dir: Path,
        token: TokenProvider,
        quota_scale: float = 1.0,
        low_priority: bool = False,
        max_batch: int = DEFAULT_MAX_BATCH,
        concurrency: int = 6,
        timeout_s: float = 60.0,
        retry: RetryPolicy = TRANSIENT_RETRY,
        replication: RetryPolicy = REPLICATION_RETRY,
        fresh_window_s: float = FRESH_WINDOW_S,
        transport: httpx.AsyncBaseTransport | None = None,
        draw: Draw | None = None,
    ) -> None:
        """``draw`` gives the random numbers of the retry backoffs' jitter (tests pass a seeded one)."""
        if quota_scale <= 0:
            raise UsageError(f"quota_scale must be positive, not {quota_scale}")
        self.max_batch = max_batch
        self.base_url = base_url.rstrip("/")
        key = hashlib.sha256(self.base_url.encode()).hexdigest()[:16]
        self._cache = GraphCache(Path(cache_dir) / f"graph-{key}.sqlite")
        self._counters = Counters()
        self._pacer = Pacer(Quota(scale=quota_scale))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="graph-directory", daemon=True)
        self._thread.start()
        self._token = token
        self._http = GraphHttp(
            build_client(self.base_url, transport=transport, timeout_s=timeout_s),
            token,
            self._counters,
            low_priority=low_priority,
        )
        draw = draw or random.Random().random
        self._dispatcher = BatchDispatcher(
            self._http, self._pacer, self._counters, concurrency=concurrency, retry=retry, draw=draw
        )
        self._reader = GraphReader(self._http, self._pacer, self._counters, retry=retry, draw=draw)
        self._anchors = AnchorIndex(fresh_window_s=fresh_window_s)
        self._writer = OperationWriter(
            self._dispatcher,
            self._reader,
            self._anchors,
            replication=replication,
            settle_s=timeout_s,
            draw=draw,
        )
        self._refresh_lock: asyncio.Lock | None = None
        self._loaded = False
        self._closed = False

    # -- plumbing --------------------------------------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise DirectoryUnavailable("the Graph directory was closed; open a new one")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        if self._closed:
            return
        self._run(self._aclose())
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._cache.close()

    async def _aclose(self) -> None:
        await self._dispatcher.aclose()
        await self._http.aclose()
        close_token = getattr(self._token, "aclose", None)
        if close_token is not None:
            await close_token()

    def __enter__(self) -> GraphDirectory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def stats(self) -> GraphStats:
        return self._counters.freeze()

    # -- Directory -------------------------------------------------------------------------------------

    def snapshot(self) -> DirectorySnapshot:
        self._counters.enter("snapshot")
        try:
            return self._run(self._refresh())
        finally:
            self._counters.leave("snapshot")

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        if len(operations) > self.max_batch:
            raise ValueError(f"apply() takes at most {self.max_batch} operations, got {len(operations)}")
        self._counters.enter("apply")
        try:
            return self._run(self._apply(list(operations)))
        finally:
            self._counters.leave("apply")

    @property
    def identity(self) -> str:
        """The endpoint and the token's tenant (``tid``): one app may sync several tenants."""

        async def token() -> str | None:
            return await self._token()

        return f"graph:{self.base_url}#{tenant_of(self._run(token()))}"

    async def _refresh(self) -> DirectorySnapshot:
        if self._refresh_lock is None:
            self._refresh_lock = asyncio.Lock()
        async with self._refresh_lock:
            tenant = tenant_of(await self._token())
            if self._cache.get_meta("tenant") != tenant:
                self._cache.reset()  # a cache of another tenant (or of none yet) is no use
                self._cache.set_meta("tenant", tenant)
            await self._refresh_resources()
            skus = await self._reader.list_all("/subscribedSkus?$select=skuId,skuPartNumber")
            view = build_snapshot(self._cache, (str(item["skuId"]) for item in skus if item.get("skuId")))
            self._anchors.replace(view.anchors)
            self._loaded = True
            return view.snapshot

    async def _refresh_resources(self) -> None:
        """Every resource's delta round at once. If one fails, the others are cancelled (discarding the
        pages they staged) before the error goes up: no round outlives the refresh that started it, so
        none can stage into, or commit, the next refresh's round of its resource."""
        tasks = [asyncio.ensure_future(self._refresh_resource(resource)) for resource in RESOURCES]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _refresh_resource(self, resource: Resource) -> None:
        link = self._cache.delta_link(resource)
        try:
            await self._read_round(resource, link)
        except DeltaExpired:
            self._cache.forget_delta(resource)
            await self._read_round(resource, None)

    async def _read_round(self, resource: Resource, link: str | None) -> None:
        """One delta round streamed into the cache; applied with its new link only if it completes."""
        with self._cache.round(resource, full=link is None) as staged:
            staged.commit(await self._reader.delta(link or resource.url, staged.add_page))

    def _unresolved(self, operation: Operation) -> bool:
        if operation.kind in _REMOVALS:
            return False
        names = [*operation.refs, *operation.owners]
        if operation.kind not in _CREATES and operation.kind is not OpKind.LINK_USER:
            names.append(operation.target)
        return any(self._anchors.get(name) is None for name in names)

    async def _apply(self, operations: list[Operation]) -> list[OperationResult]:
        if not self._loaded or any(self._unresolved(operation) for operation in operations):
            await self._refresh()  # objects made since the last snapshot (another process, a resumed run)
        results = list(await asyncio.gather(*(self._writer.run(operation) for operation in operations)))
        if results and all(not result.ok and result.code in _UNREACHABLE for result in results):
            raise DirectoryUnavailable(
                f"Microsoft Graph at {self.base_url} did not answer ({results[0].code}); the run can be "
                "resumed once it is reachable"
            )
        return results


def open_graph_directory(
    spec: str,
    *,
    cache_dir: Path,
    quota_scale: float = 1.0,
    low_priority: bool = False,
    credential: Any = None,
) -> GraphDirectory:
    """``graph`` (Microsoft Graph, ``DefaultAzureCredential``'s tenant), ``graph:<tenant id or domain>``
    (Microsoft Graph, tokens for that tenant), ``graph:https://<endpoint>/v1.0`` (Microsoft Graph at that
    endpoint, e.g. a national cloud, tokens for its origin) or ``graph:http://127.0.0.1:PORT/v1.0`` (the
    local Graph server on a loopback address, a dummy token). ``credential`` replaces
    ``DefaultAzureCredential`` (an async azure-identity credential)."""
    tenant_id = graph_tenant(spec)
    if spec == "graph" or tenant_id is not None:
        return GraphDirectory(
            GRAPH_ROOT,
            cache_dir=cache_dir,
            token=AzureToken(credential, tenant_id=tenant_id),
            quota_scale=quota_scale,
            low_priority=low_priority,
        )
    prefix, _, url = spec.partition(":")
    if prefix != "graph" or not url.startswith(("http://", "https://")):
        raise UsageError(f"directory {spec!r} is not a Graph spec: use {GRAPH_FORMS}")
    check_tenant_spec(spec)  # plain http to a host other than the local server, an unreadable URL
    token: TokenProvider
    if is_loopback_graph(spec):
        token = static_token("local")
    else:
        token = AzureToken(credential, scope=graph_scope(url))
    return GraphDirectory(
        url, cache_dir=cache_dir, token=token, quota_scale=quota_scale, low_priority=low_priority
    )
