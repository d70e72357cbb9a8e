"""Open a :class:`Directory` from a command-line / settings spec.

- a file path (default ``.sync/tenant.db``) → the embedded local tenant (``LocalTenantDirectory``);
- ``graph`` → Microsoft Graph, the tenant the credential signs in to (``AZURE_TENANT_ID``, or the developer
  login's); ``graph:<tenant id or domain>`` → Microsoft Graph, tokens for that tenant;
  ``graph:https://<endpoint>/v1.0`` → Microsoft Graph at that endpoint (a national cloud such as
  ``https://graph.microsoft.us/v1.0``), tokens for its origin (``https://graph.microsoft.us/.default``);
  ``graph:http(s)://127.0.0.1…`` (or ``localhost``, ``[::1]``) → the local Graph server, which takes a dummy
  token; plain ``http`` to any other host is refused (``open_graph_directory``).

:func:`tenant_spec_problem` is the one check of a spec (the CLI's ``--tenant`` and the app's
``SYNC_TENANT``): a typo such as ``Graph`` or ``grpah:https://…`` would otherwise sync into a local tenant
file named after it. Adapters are imported only when asked for, so the CLI starts without the Graph stack.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from sync.directory.model import Directory, DirectorySnapshot
from sync.errors import UsageError

DEFAULT_TENANT = ".sync/tenant.db"
#: "Graph", "GRAPH", "https://graph.microsoft.com/v1.0", "grpah:https://…": meant Graph, not a tenant file.
_LOOKS_LIKE_GRAPH = re.compile(r"^\s*graph\s*$|^\s*[A-Za-z][A-Za-z0-9+.-]+:", re.IGNORECASE)
_GRAPH_URL = re.compile(r"^graph:https?://\S+$")
#: A tenant id (a GUID) or a verified domain of the tenant (``contoso.onmicrosoft.com``, ``contoso.edu``).
_TENANT_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT_DOMAIN = re.compile(
    r"^(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
#: The accepted Graph forms, for messages.
GRAPH_FORMS = (
    "'graph', 'graph:<tenant id or domain>' (e.g. graph:contoso.onmicrosoft.com), "
    "'graph:https://<endpoint>/v1.0' (e.g. graph:https://graph.microsoft.us/v1.0) or "
    "'graph:http://127.0.0.1:PORT/v1.0' (the local Graph server)"
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_graph_spec(tenant: str) -> bool:
    return tenant == "graph" or tenant.startswith("graph:")


def graph_tenant(tenant: str) -> str | None:
    """The Entra tenant a ``graph:<tenant id or domain>`` spec names, else ``None``."""
    if not tenant.startswith("graph:"):
        return None
    named = tenant.removeprefix("graph:")
    return named if _TENANT_GUID.match(named) or _TENANT_DOMAIN.match(named) else None


def is_tenant_guid(tenant: str) -> bool:
    return _TENANT_GUID.match(tenant) is not None


def tenant_spec_problem(tenant: str) -> str | None:
    """What is wrong with ``tenant`` as a directory spec (one line, quoting it), or ``None`` when it is
    ``graph``, ``graph:<tenant id or domain>``, ``graph:https://…``, ``graph:http://`` to a loopback address
    or something that can only be a tenant file path."""
    url = _graph_url(tenant)
    if tenant.startswith("graph:") and url is None and graph_tenant(tenant) is None:
        return (
            f"{tenant!r}: after 'graph:' give a tenant id (a GUID), a domain of the tenant "
            f"(contoso.onmicrosoft.com) or the http(s) URL of a Graph endpoint; accepted: {GRAPH_FORMS}"
        )
    if url is not None and url.scheme == "http" and url.hostname not in _LOOPBACK_HOSTS:
        return (
            f"{tenant!r}: plain http is only for the local Graph server (127.0.0.1, localhost or [::1]); "
            f"Microsoft Graph at {url.hostname} takes https (graph:https://…), which also signs in for real"
        )
    if not is_graph_spec(tenant) and _LOOKS_LIKE_GRAPH.match(tenant):
        return (
            f"{tenant!r} is neither 'graph' nor 'graph:https://<endpoint>/v1.0' nor "
            "'graph:<tenant id or domain>' nor a tenant file path"
        )
    return None


def check_tenant_spec(tenant: str, *, option: str = "--tenant") -> None:
    """Raise :class:`UsageError` (naming ``option``) when :func:`tenant_spec_problem` finds one."""
    problem = tenant_spec_problem(tenant)
    if problem is not None:
        raise UsageError(f"{option} {problem}")


def _graph_url(tenant: str) -> SplitResult | None:
    """The endpoint URL of a ``graph:http(s)://…`` spec, or ``None`` (another spec, or no readable host)."""
    if not _GRAPH_URL.match(tenant):
        return None
    try:
        url = urlsplit(tenant.removeprefix("graph:"))
        _ = url.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return None
    return url if url.hostname else None


def is_loopback_graph(tenant: str) -> bool:
    """``graph:http(s)://`` to 127.0.0.1, localhost or [::1]: the local Graph server, not Microsoft Graph."""
    url = _graph_url(tenant)
    return url is not None and url.hostname in _LOOPBACK_HOSTS


def graph_scope(endpoint: str) -> str:
    """The token scope of a Graph endpoint: its origin's ``/.default``
    (``https://graph.microsoft.us/v1.0`` → ``https://graph.microsoft.us/.default``)."""
    url = urlsplit(endpoint)
    host = url.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{url.port}" if url.port is not None and url.port != 443 else ""
    return f"{url.scheme}://{host}{port}/.default"


def check_quota_scale(tenant: str, quota_scale: float) -> None:
    """The share of the Graph write quota must be positive; above 1 only against the local Graph server
    (Microsoft Graph would throttle every request beyond its quota)."""
    if not 0 < quota_scale < math.inf:
        raise UsageError(f"--graph-quota-scale {quota_scale:g}: give a number greater than 0")
    if quota_scale > 1 and not is_loopback_graph(tenant):
        raise UsageError(
            f"--graph-quota-scale {quota_scale:g} is above 1, which only the local Graph server allows "
            "(--tenant graph:http://127.0.0.1:PORT/v1.0); Microsoft Graph would throttle the run"
        )


def local_tenant_exists(tenant: str) -> bool:
    """True for a Graph spec; for a local tenant path, whether anything exists there yet."""
    return is_graph_spec(tenant) or Path(tenant).exists()


def new_tenant_snapshot() -> DirectorySnapshot:
    """The snapshot of a local tenant that does not exist yet (its seeded SKUs, no objects), read from a
    tenant in memory: planning against it writes nothing to disk."""
    from sync.directory.local_tenant import LocalTenantDirectory

    with LocalTenantDirectory(":memory:") as empty:
        return empty.snapshot()


def open_directory(
    tenant: str,
    *,
    cache_dir: Path | None = None,
    quota_scale: float = 1.0,
    low_priority: bool = False,
) -> Directory:
    """Open ``tenant`` (creating a local tenant file and its folder when absent). ``quota_scale`` and
    ``low_priority`` apply to Graph only."""
    check_tenant_spec(tenant)
    if is_graph_spec(tenant):
        from sync.directory.graph import open_graph_directory

        return open_graph_directory(
            tenant,
            cache_dir=cache_dir or Path(".sync") / "graph-cache",
            quota_scale=quota_scale,
            low_priority=low_priority,
        )
    from sync.directory.local_tenant import LocalTenantDirectory

    try:
        Path(tenant).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the folder of local tenant {tenant}: {err.strerror or err}") from err
    directory: Directory = LocalTenantDirectory(tenant)
    return directory


def close_directory(directory: Directory) -> None:
    """Close ``directory`` if it can be closed (the protocol does not require ``close``)."""
    close = getattr(directory, "close", None)
    if callable(close):
        close()


def journal_path(tenant: str) -> Path:
    """Where the CLI keeps the apply journal for ``tenant``: beside a local tenant file, else in ``.sync``."""
    if is_graph_spec(tenant):
        return Path(".sync") / "graph.journal.db"
    path = Path(tenant)
    return path.with_name(path.stem + ".journal.db")
