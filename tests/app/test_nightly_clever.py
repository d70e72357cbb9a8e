"""The nightly Clever API path end to end, in process: Azurite for storage, the local Clever server as the
roster source, the local Graph server as the directory, and the app's own orchestrator and activities.

The directory the app builds from the Clever API must be the one the CSV path builds from the same
district written as Clever CSV files, on the first night (a full pull) and on the second (an events delta).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import function_app
from sync.app import nightly_run
from sync.app.runtime import Runtime
from sync.clever.state_blob import state_blob_path
from sync.cleverserver import DEFAULT_TOKEN, CleverServer
from sync.cleverserver.district import clever_id
from sync.directory.local_tenant import dump_state
from sync.engine.plan import CHANGE_KEYS
from sync.profile import load_profile
from tests.app.app_functions import orchestrators, user_functions
from tests.app.conftest import GRAPH_QUOTA_SCALE
from tests.app.direct_sync import comparable, direct_sync_states
from tests.app.durable_host import DurableHost
from tests.storage.app_runtime import EXAMPLE_SET, ROOT, azurite_runtime

FIRST_NIGHT = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
SECOND_NIGHT = datetime(2026, 9, 2, 2, 0, tzinfo=UTC)
TOKEN_SETTING = "CLEVER_TOKEN"  # what examples/profile-clever.toml names
#: The enrollment the district loses between the two nights.
LEAVING_SECTION, LEAVING_STUDENT = "Y26-101", "S01008"


def run_activity(name: str, payload: Any, attempt: int) -> Any:
    return user_functions()[name](payload)


def as_clever_carries_it(
    source: Path, target: Path, *, drop_enrollment: tuple[str, str] | None = None
) -> Path:
    """The CSV set as the Clever API can carry it (no ``Course_description``), less one enrollment."""
    target.mkdir()
    for path in source.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        keep = [i for i, name in enumerate(rows[0]) if name != "Course_description"]
        kept = [[row[i] for i in keep] for row in rows]
        if path.name == "enrollments.csv" and drop_enrollment is not None:
            section, student = drop_enrollment
            kept = [row for row in kept if (row[1], row[2]) != (section, student)]
        with (target / path.name).open("w", encoding="utf-8", newline="") as file:
            csv.writer(file).writerows(kept)
    return target


def clever_profile_text(server: CleverServer) -> str:
    text = (ROOT / "examples" / "profile-clever.toml").read_text(encoding="utf-8")
    return text.replace("http://127.0.0.1:8765", server.base_url)


@pytest.fixture
def district(tmp_path: Path) -> Path:
    return as_clever_carries_it(EXAMPLE_SET, tmp_path / "district")


@pytest.fixture
def clever(district: Path) -> Iterator[CleverServer]:
    with CleverServer(district) as server:
        yield server


@pytest.fixture
def app(
    azurite: str,
    graph: tuple[str, Path],
    clever: CleverServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    """The app's runtime on Azurite and the local Graph server, with the Clever profile uploaded and the
    district token in the app's environment (as the host puts app settings there)."""
    url, _ = graph
    built, _, _ = azurite_runtime(
        azurite, real_directory=True, SYNC_TENANT=f"graph:{url}", GRAPH_QUOTA_SCALE=GRAPH_QUOTA_SCALE
    )
    runtime = dataclasses.replace(built, environ={TOKEN_SETTING: DEFAULT_TOKEN})
    container, path = runtime.settings.profile_blob
    runtime.blobs.write_bytes(
        container, path, clever_profile_text(clever).encode("utf-8"), content_type="text/plain"
    )
    monkeypatch.setattr(function_app, "runtime", lambda: runtime)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the delta state's and Graph cache's folders
    yield runtime
    directory = runtime.cache.get("directory")
    if directory is not None:
        directory.close()


def run_night(runtime: Runtime, night: datetime) -> tuple[str, dict[str, Any]]:
    """Start the night's run as the timer does and carry it out; its id and output."""
    start = nightly_run.start_for_night(runtime, now=night, options=function_app.run_options())
    assert start is not None and start.input["set"] is None
    result = DurableHost(orchestrators(), run_activity, clock=night).run(
        start.orchestrator, start.instance_id, start.input
    )
    assert result.error is None
    output: dict[str, Any] = result.output
    return start.instance_id, output


def test_the_nightly_clever_run_pulls_everything_first_then_only_the_events_and_syncs_like_the_csv_path(
    app: Runtime, clever: CleverServer, graph: tuple[str, Path], district: Path, tmp_path: Path
) -> None:
    runtime = app
    _, tenant_path = graph
    reports = runtime.settings.reports_container
    profile_path = tmp_path / "profile.toml"
    profile_path.write_text(clever_profile_text(clever), encoding="utf-8")
    state_blob = state_blob_path(load_profile(profile_path).name)
    changed = as_clever_carries_it(
        EXAMPLE_SET, tmp_path / "changed", drop_enrollment=(LEAVING_SECTION, LEAVING_STUDENT)
    )
    (first_state, _), (second_state, _) = direct_sync_states(
        profile_path, tmp_path, [(district, FIRST_NIGHT.date()), (changed, SECOND_NIGHT.date())]
    )
    assert first_state != second_state
    assert not runtime.blobs.exists(reports, state_blob)

    # First night: no delta state, so a full pull of every collection; the directory is built.
    first_id, first = run_night(runtime, FIRST_NIGHT)

    assert first["status"] == "completed"
    assert comparable(dump_state(tenant_path)) == first_state
    assert first["counts"]["users_created"] == 48 and first["counts"]["classes_created"] == 10
    assert first["counts"]["schools_created"] == 3 and first["counts"]["failed"] == 0
    record = runtime.runs.get_run(first_id)
    assert (record.status, record.trigger, record.source) == ("completed", "nightly", "clever_api")
    pulled = clever.stats()
    for route in ("schools", "users", "sections", "terms", "courses"):
        assert pulled[f"v3.1/{route}"] >= 1, route
    assert runtime.blobs.exists(reports, state_blob)
    assert state_blob.startswith("clever-state/") and state_blob.endswith(".zip")

    # Between the nights Clever reports one change: a student left a section.
    section = clever.get("sections", clever_id("section", LEAVING_SECTION))
    section["students"].remove(clever_id("student", LEAVING_STUDENT))
    clever.upsert("sections", section)
    clever.reset_stats()

    # Second night: the state blob is continued with the events alone (one page of them).
    _, second = run_night(runtime, SECOND_NIGHT)

    assert {route: n for route, n in clever.stats().items() if n} == {"requests": 1, "v3.1/events": 1}
    assert second["status"] == "completed"
    assert comparable(dump_state(tenant_path)) == second_state
    changes = {key: second["counts"][key] for key in CHANGE_KEYS if second["counts"][key]}
    assert changes == {"members_removed": 1}


def test_a_nightly_clever_run_whose_school_filter_keeps_no_school_fails_and_writes_nothing(
    app: Runtime, clever: CleverServer, graph: tuple[str, Path]
) -> None:
    runtime = app
    _, tenant_path = graph
    text = clever_profile_text(clever).replace(
        '# school_filter_mode = "deny"     # allow | deny\n# school_filter = ["300"]',
        'school_filter_mode = "allow"\nschool_filter = ["3O0"]',
    )
    assert 'school_filter = ["3O0"]' in text
    container, path = runtime.settings.profile_blob
    runtime.blobs.write_bytes(container, path, text.encode("utf-8"), content_type="text/plain")

    run_id, output = run_night(runtime, FIRST_NIGHT)

    assert output["status"] == "failed"
    record = runtime.runs.get_run(run_id)
    assert record.status == "failed" and record.message is not None
    assert "clever.school_filter: the allow-list keeps none of the 3 schools" in record.message
    assert clever.stats()["v3.1/schools"] == 1  # the pull ran; the filter stopped it
    state = dump_state(tenant_path)
    assert (state["users"], state["classes"], state["memberships"]) == ({}, {}, [])
