"""``CleverApiSource`` against the local Clever server: same roster and plan as the CSV path, deltas through
the Events API, fallbacks to a full pull, and the errors an admin sees."""

from __future__ import annotations

import csv
import dataclasses
import math
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from bench.district import DistrictSize, generate_district
from sync import service
from sync.clever.source import EVENTS_WINDOW_S, CleverApiSource
from sync.cleverserver import DEFAULT_TOKEN, CleverServer, Fault
from sync.directory.factory import journal_path, open_directory
from sync.directory.model import Operation, OpKind
from sync.engine.journal import SqliteJournal
from sync.errors import SettingsError, SourceError
from sync.profile import CleverApiSettings, Profile, ProfileError, load_profile
from sync.roster.model import Roster, ValidationResult
from sync.roster.validate import validate_folder, validate_raw
from tests.clever.conftest import EXAMPLE_DISTRICT
from tests.clever.fakes import FakeClock, ScriptedClever

TODAY = date(2026, 9, 1)
ENV = {"CLEVER_TOKEN": DEFAULT_TOKEN}
#: Roster tables the Clever API fills (contacts are not pulled).
COMPARED = (
    "schools",
    "students",
    "teachers",
    "teacher_schools",
    "sections",
    "section_teachers",
    "enrollments",
)


def clever_profile(server: CleverServer, **clever: object) -> Profile:
    clever.setdefault("api_version", "v3.1")
    settings = CleverApiSettings(base_url=server.base_url, **clever)  # type: ignore[arg-type]
    return dataclasses.replace(
        load_profile(EXAMPLE_DISTRICT.parent / "profile.toml"), source="clever_api", clever=settings
    )


def source(server: CleverServer, state: Path, **options: object) -> CleverApiSource:
    profile = options.pop("profile", None) or clever_profile(server)
    return CleverApiSource.from_profile(profile, ENV, state_dir=state, **options)  # type: ignore[arg-type]


def without_course_description(folder: Path, target: Path) -> Path:
    """The district as Clever can carry it: the API has no course description."""
    target.mkdir()
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        keep = [i for i, name in enumerate(rows[0]) if name != "Course_description"]
        with (target / path.name).open("w", encoding="utf-8", newline="") as file:
            csv.writer(file).writerows([[row[i] for i in keep] for row in rows])
    return target


def canonical(roster: Roster, name: str) -> pa.Table:
    table = getattr(roster, name)
    columns = [c for c in table.column_names if c != "_line"]
    return table.select(columns).sort_by([(c, "ascending") for c in columns])


def without_lines(operations: tuple[Operation, ...]) -> list[Operation]:
    """Operations name their roster record; API records have no file line."""
    return [
        dataclasses.replace(op, record=dataclasses.replace(op.record, line=None)) if op.record else op
        for op in operations
    ]


def test_the_same_district_from_the_clever_server_and_from_csv_gives_the_same_roster_and_plan(
    tmp_path: Path,
) -> None:
    folder = without_course_description(EXAMPLE_DISTRICT, tmp_path / "csv")
    with CleverServer(folder) as server:
        profile = clever_profile(server)
        api = service.validate(source(server, tmp_path / "state"), profile)
    csv_result = validate_folder(folder, profile)
    assert api.roster is not None and csv_result.roster is not None
    for name in COMPARED:
        assert canonical(api.roster, name).equals(canonical(csv_result.roster, name)), name
    assert [(f.code, f.record_id) for f in api.findings] == [
        (f.code, f.record_id) for f in csv_result.findings
    ]

    directory = open_directory(str(tmp_path / "tenant.db"))
    from_api = service.make_plan(api.roster, profile, directory.snapshot(), TODAY, [])
    from_csv = service.make_plan(csv_result.roster, profile, directory.snapshot(), TODAY, [])
    assert without_lines(from_api.operations) == without_lines(from_csv.operations)
    assert from_api.changes == from_csv.changes
    assert len(from_api.operations) > 0


def generated_both_ways(
    tmp_path: Path, size: DistrictSize, *, seed: int, sync_staff: bool = False
) -> tuple[ValidationResult, ValidationResult, Profile, dict[str, int]]:
    """A generated district validated from the local Clever server and from its CSV files: ``(from the
    API, from CSV, the profile, the server's request counts)``."""
    folder = tmp_path / "generated"
    generate_district(folder, size, seed=seed)
    folder = without_course_description(folder, tmp_path / "csv")
    with CleverServer(folder) as server:
        profile = dataclasses.replace(clever_profile(server), sync_staff=sync_staff)
        api = service.validate(source(server, tmp_path / "state", profile=profile), profile)
        stats = server.stats()
    return api, validate_folder(folder, profile), profile, stats


def test_a_generated_district_with_co_teachers_multi_school_teachers_and_guardians_maps_the_same(
    tmp_path: Path,
) -> None:
    size = DistrictSize(
        schools=4,
        students=300,
        teachers=30,
        sections=60,
        enrollments=900,
        multi_school_teacher_share=0.3,
        co_teacher_share=0.3,
    )
    api, csv_result, profile, _ = generated_both_ways(tmp_path, size, seed=3)
    assert api.roster is not None and csv_result.roster is not None
    assert csv_result.roster.teacher_schools.num_rows > csv_result.roster.teachers.num_rows
    assert csv_result.roster.section_teachers.num_rows > csv_result.roster.sections.num_rows
    for name in COMPARED:
        assert canonical(api.roster, name).equals(canonical(csv_result.roster, name)), name
    directory = open_directory(str(tmp_path / "tenant.db"))
    from_api = service.make_plan(api.roster, profile, directory.snapshot(), TODAY, [])
    from_csv = service.make_plan(csv_result.roster, profile, directory.snapshot(), TODAY, [])
    assert without_lines(from_api.operations) == without_lines(from_csv.operations)


def test_a_generated_district_with_staff_synced_maps_the_same_staff_and_plans_the_same_staff_users(
    tmp_path: Path,
) -> None:
    size = DistrictSize(
        schools=3,
        students=90,
        teachers=12,
        sections=18,
        enrollments=180,
        staff=15,
        multi_school_staff_share=0.3,
    )
    api, csv_result, profile, stats = generated_both_ways(tmp_path, size, seed=5, sync_staff=True)
    staff_requests = stats.get("v3.1/users", 0)
    assert api.roster is not None and csv_result.roster is not None
    assert csv_result.findings == [] and api.findings == []
    assert csv_result.roster.staff.num_rows == 15
    assert csv_result.roster.staff_schools.num_rows > csv_result.roster.staff.num_rows
    for name in (*COMPARED, "staff", "staff_schools"):
        assert canonical(api.roster, name).equals(canonical(csv_result.roster, name)), name
    assert staff_requests == 3  # students, teachers and staff: one page each

    directory = open_directory(str(tmp_path / "tenant.db"))
    from_api = service.make_plan(api.roster, profile, directory.snapshot(), TODAY, [])
    from_csv = service.make_plan(csv_result.roster, profile, directory.snapshot(), TODAY, [])
    assert without_lines(from_api.operations) == without_lines(from_csv.operations)
    assert from_api.changes == from_csv.changes
    staff = csv_result.roster.staff_schools.to_pylist()
    created = {op.target for op in from_api.operations if op.kind is OpKind.CREATE_USER}
    assert {f"Staff_{row['Staff_id']}" for row in staff} <= created
    linked = {
        (op.target, ref)
        for op in from_api.operations
        if op.kind is OpKind.ADD_SCHOOL_USERS
        for ref in op.refs
        if ref.startswith("Staff_")
    }
    assert linked == {(f"School_{row['School_id']}", f"Staff_{row['Staff_id']}") for row in staff}


def test_with_api_version_v3_0_the_fields_only_v3_1_has_are_empty(
    tmp_path: Path, server: CleverServer
) -> None:
    profile = clever_profile(server, api_version="v3.0")
    files, _ = source(server, tmp_path / "state", profile=profile).read_raw()
    students = files["students"].table
    assert students.column("Frl_status").null_count == students.num_rows
    assert students.column("Grade").null_count == 0


def test_after_a_csv_sync_the_same_district_from_clever_plans_nothing(tmp_path: Path) -> None:
    folder = without_course_description(EXAMPLE_DISTRICT, tmp_path / "csv")
    tenant = str(tmp_path / "tenant.db")
    directory = open_directory(tenant)
    with CleverServer(folder) as server:
        profile = clever_profile(server)
        csv_result = validate_folder(folder, profile)
        assert csv_result.roster is not None
        plan = service.make_plan(csv_result.roster, profile, directory.snapshot(), TODAY, [])
        journal = SqliteJournal(journal_path(tenant))
        try:
            service.apply(plan, directory, journal, passwords={})
        finally:
            journal.close()
        api = service.validate(source(server, tmp_path / "state"), profile)
    assert api.roster is not None
    again = service.make_plan(api.roster, profile, open_directory(tenant).snapshot(), TODAY, [])
    assert again.operations == ()


def test_a_full_pull_takes_the_fewest_requests_paging_allows(tmp_path: Path, server: CleverServer) -> None:
    pulled = source(server, tmp_path / "state", page_size=7)
    pulled.read_raw()
    counts = {"schools": 3, "student": 40, "teacher": 8, "sections": 10, "terms": 2, "courses": 10}
    minimum = 1 + sum(max(1, math.ceil(n / 7)) for n in counts.values())  # + the newest event id
    assert pulled.last_pull is not None
    assert pulled.last_pull.mode == "full"
    assert pulled.last_pull.requests == minimum == server.stats()["requests"]


def test_users_are_pulled_by_the_roles_synced_and_district_admins_never(tmp_path: Path) -> None:
    """SDS rejects admins.csv, so district admins are not synced and their records are not fetched."""
    script = ScriptedClever()
    settings = CleverApiSettings(base_url="https://api.clever.test")
    for include_staff, expected in ((False, ["student", "teacher"]), (True, ["student", "teacher", "staff"])):
        script.requests.clear()
        pulled = CleverApiSource(
            settings,
            "t",
            state_dir=tmp_path / str(include_staff),
            include_staff=include_staff,
            transport=script.transport(),
        )
        pulled.read_raw()
        paths = [(r.url.path, r.url.params.get("role")) for r in script.requests]
        assert [role for path, role in paths if path.endswith("/users")] == expected
        assert not any(role == "district_admin" for _, role in paths)


def test_a_second_run_reads_only_the_events_and_applies_creates_updates_and_deletes(
    tmp_path: Path, server: CleverServer
) -> None:
    source(server, tmp_path / "state").read_raw()
    users = server.district.users
    leaver = next(u for u in sorted(users) if "student" in users[u]["roles"])
    mover = next(u for u in sorted(users, reverse=True) if "student" in users[u]["roles"])
    newcomer = server.get("users", mover)
    newcomer["id"] = "f" * 24
    newcomer["roles"]["student"]["sis_id"] = "S09999"
    newcomer["roles"]["student"]["credentials"] = {"district_username": "new.student"}
    server.upsert("users", newcomer)
    moved = server.get("users", mover)
    moved["roles"]["student"]["grade"] = "12"
    server.upsert("users", moved)
    server.delete("users", leaver)
    server.reset_stats()

    second = source(server, tmp_path / "state")
    files, _ = second.read_raw()

    assert second.last_pull is not None and second.last_pull.mode == "delta"
    assert {k: v for k, v in server.stats().items() if v} == {"requests": 1, "v3.1/events": 1}
    students = {row["Student_id"]: row for row in files["students"].table.to_pylist()}
    assert "S09999" in students
    assert students[users[mover]["roles"]["student"]["sis_id"]]["Grade"] == "12"
    assert len(students) == 40  # one created, one deleted
    assert second.last_pull.events == {"users.created": 1, "users.updated": 1, "users.deleted": 1}


def test_the_delta_roster_equals_a_fresh_full_pull_of_the_changed_district(
    tmp_path: Path, server: CleverServer
) -> None:
    source(server, tmp_path / "state").read_raw()
    section = server.get("sections", sorted(server.district.sections)[0])
    section["students"] = section["students"][:-1]
    server.upsert("sections", section)
    school = server.get("schools", sorted(server.district.schools)[0])
    school["name"] = "Renamed School"
    server.upsert("schools", school)

    delta_files, _ = source(server, tmp_path / "state").read_raw()
    full_files, _ = source(server, tmp_path / "fresh").read_raw()
    for kind in full_files:
        assert delta_files[kind].table.equals(full_files[kind].table), kind


def test_terms_re_created_with_new_ids_leave_the_roster_and_the_plan_unchanged(
    tmp_path: Path, server: CleverServer
) -> None:
    """Clever synthesises terms and their ids are unstable: a term deleted and re-created with a new id, and
    its sections updated to point at the new one, is no change to the sync."""
    profile = clever_profile(server)
    before = service.validate(source(server, tmp_path / "state"), profile)
    assert before.roster is not None and before.findings == []
    tenant = str(tmp_path / "tenant.db")
    plan = service.make_plan(before.roster, profile, open_directory(tenant).snapshot(), TODAY, [])
    journal = SqliteJournal(journal_path(tenant))
    try:
        outcome = service.apply(plan, open_directory(tenant), journal, passwords={})
    finally:
        journal.close()
    assert outcome.complete and outcome.failed == 0 and len(plan.operations) > 0
    renamed: dict[str, str] = {}
    for old_id in sorted(server.district.terms):
        term = server.get("terms", old_id)
        term["id"] = renamed[old_id] = f"{int(old_id, 16) ^ 1:024x}"
        server.delete("terms", old_id)
        server.upsert("terms", term)
    for section_id in sorted(server.district.sections):
        section = server.get("sections", section_id)
        section["term_id"] = renamed[section["term_id"]]
        server.upsert("sections", section)
    server.reset_stats()

    delta = source(server, tmp_path / "state")
    after = service.validate(delta, profile)

    assert delta.last_pull is not None and delta.last_pull.mode == "delta"
    assert delta.last_pull.events == {"terms.deleted": 2, "terms.created": 2, "sections.updated": 10}
    state = delta.store.load()
    assert state is not None and set(state.district.terms) == set(renamed.values())
    assert after.roster is not None and after.findings == []
    for name in COMPARED:
        assert canonical(after.roster, name).equals(canonical(before.roster, name)), name
    again = service.make_plan(after.roster, profile, open_directory(tenant).snapshot(), TODAY, [])
    assert again.operations == ()


def test_a_section_left_pointing_at_a_deleted_term_keeps_empty_term_values_and_is_a_warning(
    tmp_path: Path, server: CleverServer
) -> None:
    """The term's deletion arrived but not (yet) the section's update: the section is synced without term."""
    source(server, tmp_path / "state").read_raw()
    gone = sorted(server.district.terms)[0]
    server.delete("terms", gone)
    pointing = sorted(str(s["sis_id"]) for s in server.district.sections.values() if s["term_id"] == gone)

    files, findings = source(server, tmp_path / "state").read_raw()

    assert pointing and sorted((f.code, f.level, f.column, f.record_id) for f in findings) == [
        ("unknown_reference", "warning", "Term_name", key) for key in pointing
    ]
    rows = {row["Section_id"]: row for row in files["sections"].table.to_pylist()}
    assert len(rows) == 10 and {rows[key]["Term_name"] for key in pointing} == {None}


def test_a_missed_events_window_falls_back_to_a_full_pull(tmp_path: Path, server: CleverServer) -> None:
    server.emit_event("schools.updated", server.get("schools", sorted(server.district.schools)[0]))
    source(server, tmp_path / "state").read_raw()
    server.forget_events()

    again = source(server, tmp_path / "state")
    again.read_raw()
    assert again.last_pull is not None
    assert (again.last_pull.mode, again.last_pull.reason) == (
        "full",
        "the last event is no longer in the events window",
    )


def test_a_state_older_than_the_events_window_is_not_continued(tmp_path: Path, server: CleverServer) -> None:
    clock = FakeClock()
    source(server, tmp_path / "state", clock=clock.time).read_raw()
    clock.now += EVENTS_WINDOW_S + 1
    server.reset_stats()

    later = source(server, tmp_path / "state", clock=clock.time)
    later.read_raw()
    assert later.last_pull is not None and later.last_pull.mode == "full"
    assert server.stats()["v3.1/events"] == 1  # only the newest event id, no starting_after


def test_an_unreadable_state_means_a_full_pull(tmp_path: Path, server: CleverServer) -> None:
    source(server, tmp_path / "state").read_raw()
    (tmp_path / "state" / "state.json").write_text("{not json", encoding="utf-8")
    again = source(server, tmp_path / "state")
    again.read_raw()
    assert again.last_pull is not None and again.last_pull.reason == "no delta state"


def test_without_use_events_every_run_is_a_full_pull_and_nothing_is_saved(
    tmp_path: Path, server: CleverServer
) -> None:
    profile = clever_profile(server, use_events=False)
    first = source(server, tmp_path / "state", profile=profile)
    first.read_raw()
    assert first.last_pull is not None and first.last_pull.mode == "full"
    assert "v3.1/events" not in server.stats()
    assert not (tmp_path / "state").exists()


def test_the_school_filter_of_the_profile_applies_to_the_pull(tmp_path: Path, server: CleverServer) -> None:
    profile = clever_profile(server, school_filter_mode="allow", school_filter=("300",))
    result = service.validate(source(server, tmp_path / "state", profile=profile), profile)
    assert result.roster is not None
    assert result.roster.schools.column("School_id").to_pylist() == ["300"]
    assert set(result.roster.sections.column("School_id").to_pylist()) == {"300"}
    assert result.findings == []


def test_a_mistyped_school_in_the_filter_is_a_warning_finding_of_the_run(
    tmp_path: Path, server: CleverServer
) -> None:
    profile = clever_profile(server, school_filter_mode="allow", school_filter=("300", "30O"))
    result = service.validate(source(server, tmp_path / "state", profile=profile), profile)

    assert result.roster is not None
    assert result.roster.schools.column("School_id").to_pylist() == ["300"]
    assert [(f.code, f.level, f.column, f.record_id) for f in result.findings] == [
        ("unknown_school_filter", "warning", "clever.school_filter", "30O")
    ]
    assert result.status.value == "completed_with_warnings"


def test_an_allow_list_that_keeps_no_school_fails_the_pull_naming_the_profile_key(
    tmp_path: Path, server: CleverServer
) -> None:
    profile = clever_profile(server, school_filter_mode="allow", school_filter=("30O", "3OO"))
    with pytest.raises(ProfileError, match=r"clever\.school_filter: the allow-list keeps none of the 3"):
        source(server, tmp_path / "state", profile=profile).read_raw()
    routes = {route for route, count in server.stats().items() if count and route.startswith("v3")}
    assert "v3.1/schools" in routes  # the pull stopped right after the schools: no user, section, term read
    assert not routes & {"v3.1/users", "v3.1/sections", "v3.1/terms", "v3.1/courses"}


def test_the_pull_keeps_under_the_rate_limit_waits_out_a_429_and_retries_a_500(tmp_path: Path) -> None:
    clock = FakeClock()
    faults = [Fault("/v3.1/sections", 500), Fault("/v3.1/terms", 429)]
    with CleverServer(EXAMPLE_DISTRICT, rate_limit_per_min=3, faults=faults, clock=clock.time) as server:
        pulled = source(server, tmp_path / "state", clock=clock.time, sleep=clock.sleep)
        files, _ = pulled.read_raw()
        stats = server.stats()
    assert files["sections"].table.num_rows == 10
    assert stats["faults"] == 2
    assert stats["rate_limited"] == 0  # the client waited for each reset instead of exceeding the limit
    assert stats["requests"] == 9  # 7 pages + the 500 and the 429, each retried once
    assert pulled.last_pull is not None and pulled.last_pull.waited_s == sum(clock.sleeps) > 0


def test_an_app_without_events_gets_full_pulls_and_saves_no_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with CleverServer(EXAMPLE_DISTRICT, faults=[Fault("/v3.1/events", 403, times=9)]) as server:
        pulled = source(server, tmp_path / "state")
        files, _ = pulled.read_raw()
    assert files["students"].table.num_rows == 40
    assert not (tmp_path / "state").exists()
    assert "events endpoint is not available" in caplog.text


def test_a_refused_token_is_a_source_error_after_a_single_request(
    tmp_path: Path, server: CleverServer
) -> None:
    profile = clever_profile(server)
    refused = CleverApiSource.from_profile(profile, {"CLEVER_TOKEN": "stale"}, state_dir=tmp_path / "state")
    with pytest.raises(SourceError, match="refused the district token"):
        refused.read_raw()
    assert server.stats()["requests"] == 1


def test_a_missing_token_setting_is_a_settings_error_naming_the_setting(
    tmp_path: Path, server: CleverServer
) -> None:
    profile = clever_profile(server, token_setting="CONTOSO_CLEVER_TOKEN")
    with pytest.raises(SettingsError, match="CONTOSO_CLEVER_TOKEN: is not set"):
        CleverApiSource.from_profile(profile, {"CLEVER_TOKEN": "x"}, state_dir=tmp_path)


def test_an_unresolved_key_vault_reference_is_a_settings_error(tmp_path: Path, server: CleverServer) -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/clever/)"
    with pytest.raises(SettingsError, match="Key Vault reference the host did not resolve"):
        CleverApiSource.from_profile(clever_profile(server), {"CLEVER_TOKEN": reference}, state_dir=tmp_path)


def test_the_token_is_not_shown_by_the_source(tmp_path: Path, server: CleverServer) -> None:
    shown = repr(source(server, tmp_path / "state"))
    assert DEFAULT_TOKEN not in shown and server.base_url in shown


def test_the_service_opens_the_clever_source_for_a_clever_api_profile_without_a_folder(
    tmp_path: Path, server: CleverServer
) -> None:
    env = {**ENV, "SYNC_CLEVER_STATE_DIR": str(tmp_path / "states")}
    opened = service.open_roster_source(None, clever_profile(server), env)
    assert isinstance(opened, CleverApiSource)
    assert opened.store.directory.parent == tmp_path / "states"
    result = validate_raw(*opened.read_raw())
    assert result.roster is not None and result.roster.students.num_rows == 40
