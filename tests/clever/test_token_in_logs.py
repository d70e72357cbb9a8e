"""The district token never reaches a log record, at DEBUG, the HTTP libraries' loggers included."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from sync.clever.source import CleverApiSource
from sync.cleverserver import CleverServer, Fault
from sync.errors import SourceError
from sync.profile import CleverApiSettings, load_profile
from tests.clever.conftest import EXAMPLE_DISTRICT
from tests.clever.fakes import FakeClock

TOKEN = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
#: Loggers that see requests: the sync's own, httpx (a line per request at INFO) and httpcore (DEBUG).
LOGGERS = ("", "sync", "httpx", "httpcore")


def everything_in(record: logging.LogRecord) -> str:
    """The record's message, arguments, exception and any extra attributes, as text."""
    parts = [record.getMessage(), repr(record.args), repr(record.msg)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.extend(repr(value) for value in vars(record).values())
    return "\n".join(parts)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def clever_source(server: CleverServer, state: Path, token: str, clock: FakeClock) -> CleverApiSource:
    settings = CleverApiSettings(base_url=server.base_url, api_version="v3.1")
    profile = dataclasses.replace(
        load_profile(EXAMPLE_DISTRICT.parent / "profile.toml"), source="clever_api", clever=settings
    )
    return CleverApiSource.from_profile(
        profile, {"CLEVER_TOKEN": token}, state_dir=state, clock=clock.time, sleep=clock.sleep, page_size=7
    )


def test_no_log_record_of_a_full_pull_with_retries_and_a_delta_holds_the_token(
    tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    faults = [Fault("/v3.1/sections", 500), Fault("/v3.1/terms", 429)]
    with CleverServer(EXAMPLE_DISTRICT, token=TOKEN, faults=faults, clock=clock.time) as server:
        clever_source(server, tmp_path / "state", TOKEN, clock).read_raw()
        server.upsert("schools", server.get("schools", sorted(server.district.schools)[0]))
        delta = clever_source(server, tmp_path / "state", TOKEN, clock)
        delta.read_raw()
    assert delta.last_pull is not None and delta.last_pull.mode == "delta"

    records = debug_logs.records
    assert any(r.name.startswith("httpx") for r in records)  # the HTTP libraries did log
    assert any(r.name.startswith("httpcore") and r.levelno == logging.DEBUG for r in records)
    assert any(r.name.startswith("sync.clever") and "waiting" in r.getMessage() for r in records)
    leaks = [r.name for r in records if TOKEN in everything_in(r)]
    assert leaks == []
    assert TOKEN not in debug_logs.text


def test_no_log_record_of_a_refused_token_holds_it(
    tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    with CleverServer(EXAMPLE_DISTRICT) as server:
        refused = clever_source(server, tmp_path / "state", TOKEN, FakeClock())
        with pytest.raises(SourceError, match="refused the district token") as caught:
            refused.read_raw()

    assert TOKEN not in str(caught.value)
    assert any(r.name.startswith("httpx") for r in debug_logs.records)
    assert [r.name for r in debug_logs.records if TOKEN in everything_in(r)] == []
