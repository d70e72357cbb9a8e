"""The states the app's runs must reach: each set synced straight into an embedded tenant."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sync import service
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.engine.journal import MemoryJournal
from sync.engine.plan import CHANGE_KEYS
from sync.profile import load_profile


def direct_sync_states(
    profile_path: Path, tmp_path: Path, runs: list[tuple[Path, date]]
) -> list[tuple[dict[str, Any], dict[str, int]]]:
    """Each folder synced through the CSV path into one embedded tenant (held plans applied): the tenant's
    state and the run's change counts after each."""
    profile = load_profile(profile_path)
    path = tmp_path / "direct.db"
    states = []
    with LocalTenantDirectory(path) as local:
        for folder, today in runs:
            validation = service.validate(service.open_roster_source(str(folder), profile), profile)
            assert validation.roster is not None
            findings = list(validation.findings)
            plan = service.make_plan(validation.roster, profile, local.snapshot(), today, findings)
            passwords = service.passwords_for(plan, validation.roster, profile)
            outcome = service.apply(plan, local, MemoryJournal(), passwords=passwords, approved=True)
            assert outcome.complete and outcome.failed == 0
            counts = {key: int(outcome.applied.get(key, 0)) for key in CHANGE_KEYS}
            states.append((comparable(dump_state(path)), counts))
    return states


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """Graph's ``POST /groups`` sends ``groupTypes: []`` for security groups; the embedded tenant omits it."""
    for group in state["groups"].values():
        if group.get("groupTypes") == []:
            del group["groupTypes"]
    return state
