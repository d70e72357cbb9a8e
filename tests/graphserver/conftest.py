"""Fixtures: a server on a fresh tenant file and a client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.graphserver import GraphServer
from tests.graphserver.client import Client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GraphServer]:
    with GraphServer(tmp_path / "tenant.db") as running:
        yield running


@pytest.fixture
def client(server: GraphServer) -> Client:
    return Client(server.base_url)
