from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.graphserver import GraphServer
from tests.storage.azurite_server import azurite

__all__ = ["GRAPH_QUOTA_SCALE", "azurite", "graph"]

#: The local Graph server's quota scale in the app tests (and the app's GRAPH_QUOTA_SCALE setting).
GRAPH_QUOTA_SCALE = "50"


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local Graph server on its own tenant file: ``(base URL, tenant path)``."""
    path = tmp_path / "graph-tenant.db"
    server = GraphServer(path, quota_scale=float(GRAPH_QUOTA_SCALE))
    url = server.start()
    try:
        yield url, path
    finally:
        server.stop()
