"""The example district synced through the Graph adapter and the local Graph server ends in the same
directory state as synced straight into the embedded local tenant — with and without injected faults."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest

from sync import service
from sync.directory.graph import GraphDirectory, static_token
from sync.directory.graph_batch import RetryPolicy
from sync.directory.local_tenant import LocalTenantDirectory, dump_state
from sync.directory.model import Directory, DirectorySnapshot, Operation, OperationResult, OpKind
from sync.engine.apply import ApplyOutcome, apply_plan
from sync.engine.journal import MemoryJournal
from sync.engine.plan import Plan
from sync.errors import DirectoryUnavailable
from sync.graphserver import FaultPlan, GraphServer
from sync.graphserver.calls import Call
from sync.graphserver.faults import Fault, FaultInjector
from sync.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
FIRST, ROLLOVER = REPO / "examples" / "district", REPO / "examples" / "district-next-term"
TODAY = date(2026, 9, 1)
FAST_RETRY_SCALE = 50
#: Time-outs carry no Retry-After: back off from 50 ms so the faulted run stays short. A batch answer held
#: by one item's time-out fault times out all of its items (with 2.5 % of the calls held, a batch of 20 is
#: held about 40 % of the time); they are retried after jittered delays in batches at most half as big, so
#: a held item soon stops holding the others, but give them the attempts to get through.
QUICK_RETRY = RetryPolicy(attempts=16, backoff_s=0.05, max_backoff_s=1.0)
#: The faulted server's replication delay is 3 s: the adapter need not doubt a 404 on a remove for longer.
FRESH_WINDOW_S = 4.0


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REPO / "examples" / "profile.toml")


def sync_folder(directory: Directory, folder: Path, profile: Profile) -> tuple[Plan, ApplyOutcome]:
    validation = service.validate(service.open_roster_source(str(folder), profile), profile)
    assert validation.roster is not None
    findings = list(validation.findings)
    plan = service.make_plan(validation.roster, profile, directory.snapshot(), TODAY, findings)
    passwords = service.passwords_for(plan, validation.roster, profile)
    return plan, service.apply(plan, directory, MemoryJournal(), passwords=passwords, approved=True)


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """``dump_state`` without ``groupTypes: []``, which Graph's ``POST /groups`` sends for security groups
    and the embedded tenant leaves out (both mean "not a Microsoft 365 group")."""
    for group in state["groups"].values():
        if group.get("groupTypes") == []:
            del group["groupTypes"]
    return state


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory, profile: Profile) -> list[dict[str, Any]]:
    """The state after each of the three runs, applied straight to the embedded tenant."""
    path = tmp_path_factory.mktemp("direct") / "tenant.db"
    states = []
    with LocalTenantDirectory(path) as local:
        for folder in (FIRST, FIRST, ROLLOVER):
            _, outcome = sync_folder(local, folder, profile)
            assert outcome.complete and outcome.failed == 0
            states.append(comparable(dump_state(path)))
    return states


def graph_directory(url: str, cache: Path, **options: Any) -> GraphDirectory:
    return GraphDirectory(
        url, cache_dir=cache, token=static_token("local"), quota_scale=FAST_RETRY_SCALE, **options
    )


def test_first_run_second_run_and_rollover_through_graph_match_the_embedded_tenant(
    tmp_path: Path, profile: Profile, expected: list[dict[str, Any]]
) -> None:
    path = tmp_path / "served.db"
    with (
        GraphServer(path, quota_scale=FAST_RETRY_SCALE) as server,
        graph_directory(server.base_url, tmp_path) as graph,
    ):
        plans = []
        for run, folder in enumerate((FIRST, FIRST, ROLLOVER)):
            plan, outcome = sync_folder(graph, folder, profile)
            assert outcome.complete and outcome.failed == 0, outcome.findings
            assert comparable(dump_state(path)) == expected[run]
            plans.append(plan)
        stats = graph.stats()
    assert plans[0].operations and not plans[1].operations and plans[2].operations
    assert stats.throttled == 0 and stats.retries == 0


#: About a tenth of the calls (each request and each ``$batch`` item draws once) faulted, every kind mixed
#: in. ``applied-timeout`` lands its write, then the client times out: the case where a blind retry of a
#: create would make a duplicate. ``replication`` only hits calls naming an object created less than 3 s
#: ago (a window longer than the 1.5 s an answer is held, so calls after held batches still meet it), so
#: its 0.15 comes to about 2-6 % of all calls (it varies with timing: the sooner the retries, the more).
TENTH = FaultPlan(
    throttle=0.025,
    unavailable=0.025,
    timeout=0.01,
    applied_timeout=0.015,
    replication=0.15,
    timeout_s=1.5,
    replication_ms=3000,
)


def duplicates(state: dict[str, Any]) -> list[str]:
    """Objects the dump had to number (``key#2``: a second object with the same anchor or natural key) and
    membership triples that occur twice."""
    numbered = [
        key for part in ("users", "schools", "classes", "groups") for key in state[part] if "#" in key
    ]
    triples = [tuple(triple) for triple in state["memberships"]]
    return numbered + [repr(triple) for triple in set(triples) if triples.count(triple) > 1]


def test_with_a_tenth_of_requests_faulted_the_final_state_equals_the_fault_free_run_without_duplicates(
    tmp_path: Path, profile: Profile, expected: list[dict[str, Any]]
) -> None:
    path = tmp_path / "served.db"
    with GraphServer(path, quota_scale=FAST_RETRY_SCALE, faults=TENTH, seed=7) as server:
        with graph_directory(
            server.base_url, tmp_path, timeout_s=1.0, retry=QUICK_RETRY, fresh_window_s=FRESH_WINDOW_S
        ) as graph:
            for folder in (FIRST, FIRST, ROLLOVER):
                _, outcome = sync_folder(graph, folder, profile)
                assert outcome.complete and outcome.failed == 0, outcome.findings
                # Runs are hours apart: the next starts after the requests this one gave up on (held by
                # time-out faults, still at work on the server) are over, as they would be on Graph.
                assert server.wait_idle(30.0)
            stats = graph.stats()
        served = server.stats()
    state = comparable(dump_state(path))
    assert state == expected[2]
    assert duplicates(state) == []
    faults = served["faults"]
    assert set(faults) == {"429", "503", "timeout", "replication", "applied-timeout"}, faults
    calls = served["requests"] + served["batch_items"]  # each draws once
    # The kinds drawn at a fixed rate (7.5 % of the calls), within about three standard deviations for the
    # 500-1,000 calls of a run; replication faults apart. They can hit only the calls naming an object
    # created less than 3 s ago, whose number varies with timing (50 to 230 in a run, 1.3 to 3.9 % of the
    # calls): their share of those calls is the planned 15 %, within bounds a run of 30 such calls meets.
    fixed = sum(count for kind, count in faults.items() if kind != "replication")
    assert 0.04 <= fixed / calls <= 0.11, (faults, calls)
    assert faults["replication"] / calls <= 0.1, (faults, calls)
    assert 0.03 <= faults["replication"] / served["fresh_calls"] <= 0.3, (faults, served["fresh_calls"])
    # Writes did land under answers the adapter never saw, and its retries of them made no duplicate.
    assert served["faulted_writes_applied"] > 0
    assert stats.retries > 0


class LoseTheAnswerOfEachFirstCreate(FaultInjector):
    """``applied-timeout`` on the first create of each kind of object — the create lands, its answer is
    held past the client's time-out and replaced by a 504 — and no other fault."""

    KINDS: ClassVar[dict[str, Callable[[Call], bool]]] = {
        "school": lambda call: call.path == "/education/schools",
        "user": lambda call: call.path == "/education/users",
        "class": lambda call: call.path == "/groups" and call.body.get("groupTypes") == ["Unified"],
        "security group": lambda call: call.path == "/groups" and call.body.get("groupTypes") == [],
    }

    def __init__(self) -> None:
        super().__init__(FaultPlan(timeout_s=1.5))
        self.lost: list[str] = []
        self._lock = threading.Lock()

    def draw(self, call: Call | None = None) -> Fault | None:
        if call is None or call.method != "POST" or not isinstance(call.body, dict):
            return None
        with self._lock:
            for kind, matches in self.KINDS.items():
                if kind not in self.lost and matches(call):
                    self.lost.append(kind)
                    return Fault.APPLIED_TIMEOUT
        return None


def test_creates_that_landed_though_their_answers_were_lost_are_taken_as_made_not_made_twice(
    tmp_path: Path, profile: Profile
) -> None:
    roster = one_school(FIRST, "100", tmp_path / "roster")
    direct = tmp_path / "direct.db"
    with LocalTenantDirectory(direct) as local:
        sync_folder(local, roster, profile)
    path = tmp_path / "served.db"
    injector = LoseTheAnswerOfEachFirstCreate()
    with GraphServer(path, quota_scale=FAST_RETRY_SCALE, injector=injector) as server:
        with graph_directory(server.base_url, tmp_path, timeout_s=1.0, retry=QUICK_RETRY) as graph:
            _, outcome = sync_folder(graph, roster, profile)
            retries = graph.stats().retries
        assert server.wait_idle(10.0)
        served = server.stats()
    assert outcome.complete and outcome.failed == 0, outcome.findings
    assert sorted(injector.lost) == ["class", "school", "security group", "user"]
    assert served["faulted_writes_applied"] == 4 and retries > 0
    state = comparable(dump_state(path))
    assert state == comparable(dump_state(direct))
    assert duplicates(state) == []


class CrashAfterWriting:
    """Passes ``apply`` calls to ``inner``; the ``crash_at``-th call writes, then fails as if the process
    died before the journal recorded it."""

    def __init__(self, inner: Directory, crash_at: int) -> None:
        self.inner = inner
        self.max_batch = inner.max_batch
        self.calls = 0
        self.crash_at = crash_at

    def snapshot(self) -> DirectorySnapshot:
        return self.inner.snapshot()

    def apply(self, operations: Sequence[Operation]) -> list[OperationResult]:
        self.calls += 1
        results = self.inner.apply(operations)
        if self.calls == self.crash_at:
            raise DirectoryUnavailable("killed after writing, before the journal")
        return results


def test_a_run_killed_after_writing_resumes_in_a_new_process_without_duplicates(
    tmp_path: Path, profile: Profile, expected: list[dict[str, Any]]
) -> None:
    path = tmp_path / "served.db"
    validation = service.validate(service.open_roster_source(str(FIRST), profile), profile)
    assert validation.roster is not None
    journal = MemoryJournal()
    with GraphServer(path, quota_scale=FAST_RETRY_SCALE) as server:
        with graph_directory(server.base_url, tmp_path, max_batch=40) as graph:
            plan = service.make_plan(validation.roster, profile, graph.snapshot(), TODAY, [])
            passwords = service.passwords_for(plan, validation.roster, profile)
            killed = apply_plan(
                plan, CrashAfterWriting(graph, crash_at=3), journal, passwords=passwords, retry_delays=()
            )
        assert killed.error is not None and 0 < killed.done < killed.total
        with graph_directory(server.base_url, tmp_path, max_batch=40) as graph:
            resumed = apply_plan(plan, graph, journal, passwords=passwords)
            assert resumed.complete and resumed.failed == 0, resumed.findings
            again, _ = sync_folder(graph, FIRST, profile)
    assert again.operations == ()
    assert comparable(dump_state(path)) == expected[0]


def one_school(folder: Path, school_id: str, into: Path) -> Path:
    """``folder``'s CSV files cut down to one school (a quick roster for the command-line test)."""
    into.mkdir()
    for source in folder.glob("*.csv"):
        with source.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        with (into / source.name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(row for row in rows if row["School_id"] == school_id)
    return into


def test_python_m_sync_run_applies_through_a_graph_tenant_spec(tmp_path: Path) -> None:
    roster = one_school(FIRST, "100", tmp_path / "roster")
    path = tmp_path / "served.db"
    with GraphServer(path) as server:
        completed = subprocess.run(
            [
                sys.executable, "-m", "sync", "run", str(roster),
                "--profile", str(REPO / "examples" / "profile.toml"),
                "--tenant", f"graph:{server.base_url}", "--today", TODAY.isoformat(), "--format", "json",
                "--report", str(tmp_path / "report"),
            ],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["status"] == "completed" and summary["changes"]["classes_created"] == 3
    with (roster / "sections.csv").open(newline="", encoding="utf-8") as handle:
        sections = {f"Section_{row['Section_id']}" for row in csv.DictReader(handle)}
    assert set(dump_state(path)["classes"]) == sections
    assert (tmp_path / ".sync" / "graph-cache").is_dir()


def test_a_class_create_never_takes_another_sections_class_on_the_local_server(tmp_path: Path) -> None:
    """A create for section a, sent as if planned before section A's class was made (a race the plan-time
    check cannot see), meets "already exists" (nicknames ignore case) and fails; Section_A's class keeps
    its externalId."""
    teacher = Operation(
        OpKind.CREATE_USER,
        "Teacher_T",
        {
            "userPrincipalName": "t@example.edu",
            "displayName": "T",
            "mailNickname": "t",
            "primaryRole": "teacher",
        },
    )
    first = Operation(
        OpKind.CREATE_CLASS,
        "Section_A",
        {"displayName": "A", "mailNickname": "Section_A"},
        (),
        ("Teacher_T",),
    )
    second = Operation(
        OpKind.CREATE_CLASS,
        "Section_a",
        {"displayName": "a", "mailNickname": "Section_a"},
        (),
        ("Teacher_T",),
    )
    with (
        GraphServer(tmp_path / "served.db") as server,
        graph_directory(server.start(), tmp_path / "c") as graph,
    ):
        graph.snapshot()
        assert [r.ok for r in graph.apply([teacher])] == [True]
        assert [r.ok for r in graph.apply([first])] == [True]
        (result,) = graph.apply([second])
        assert not result.ok and "mailNickname" in (result.message or "")
        classes = graph.snapshot().classes
    assert [(c.anchor, c.mail_nickname) for c in classes] == [("Section_A", "Section_A")]


def test_a_user_create_never_takes_another_sis_users_account_on_the_local_server(tmp_path: Path) -> None:
    """A create for Student_2 whose UPN Student_1's account took after the plan was made meets "already
    exists" and fails; Student_1's account stays Student_1's."""

    def student(anchor: str, upn: str) -> Operation:
        fields = {
            "userPrincipalName": upn,
            "displayName": anchor,
            "mailNickname": anchor,
            "primaryRole": "student",
        }
        return Operation(OpKind.CREATE_USER, anchor, fields)

    with (
        GraphServer(tmp_path / "served.db") as server,
        graph_directory(server.start(), tmp_path / "c") as graph,
    ):
        graph.snapshot()
        assert [r.ok for r in graph.apply([student("Student_1", "ana@example.edu")])] == [True]
        (result,) = graph.apply([student("Student_2", "ana@example.edu")])
        assert not result.ok and "userPrincipalName" in (result.message or "")
        users = graph.snapshot().users
    assert [(u.anchor, u.user_principal_name) for u in users] == [("Student_1", "ana@example.edu")]
