"""Fixtures: the local Clever server serving the example district."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.cleverserver import CleverServer

EXAMPLE_DISTRICT = Path(__file__).resolve().parents[2] / "examples" / "district"


@pytest.fixture
def server() -> Iterator[CleverServer]:
    with CleverServer(EXAMPLE_DISTRICT) as running:
        yield running
