"""Open a :class:`Directory` from a command-line / settings spec.

- a file path (default ``.sync/tenant.db``) → the embedded local tenant (``LocalTenantDirectory``);
- ``graph`` or ``graph:<url>`` → Microsoft Graph / the local Graph server (``open_graph_directory``).

Adapters are imported only when asked for, so the CLI starts without the Graph stack.
"""

from __future__ import annotations

from pathlib import Path

from sync.directory.model import Directory
from sync.errors import UsageError

DEFAULT_TENANT = ".sync/tenant.db"


def is_graph_spec(tenant: str) -> bool:
    return tenant == "graph" or tenant.startswith("graph:")


def open_directory(tenant: str, *, cache_dir: Path | None = None) -> Directory:
    if is_graph_spec(tenant):
        from sync.directory.graph import open_graph_directory

        return open_graph_directory(tenant, cache_dir=cache_dir or Path(".sync") / "graph-cache")
    from sync.directory.local_tenant import LocalTenantDirectory

    try:
        Path(tenant).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the folder of local tenant {tenant}: {err.strerror or err}") from err
    directory: Directory = LocalTenantDirectory(tenant)
    return directory


def journal_path(tenant: str) -> Path:
    """Where the CLI keeps the apply journal for ``tenant``: beside a local tenant file, else in ``.sync``."""
    if is_graph_spec(tenant):
        return Path(".sync") / "graph.journal.db"
    path = Path(tenant)
    return path.with_name(path.stem + ".journal.db")
