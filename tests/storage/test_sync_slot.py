"""The tenant's sync slot on Azurite: storage picks one holder, however many runs ask at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sync.storage.blob_store import BlobStore
from sync.storage.sync_slot import SLOT_PATH, BlobSyncSlot, Claim, SlotHolder
from tests.storage.app_runtime import blob_store

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
STALE = timedelta(hours=96)


def running(run_id: str) -> bool:
    return False


def finished(run_id: str) -> bool:
    return True


@pytest.fixture
def store(azurite: str) -> BlobStore:
    return blob_store(azurite)


@pytest.fixture
def container() -> str:
    return f"state-{uuid.uuid4().hex[:10]}"


def slot_in(store: BlobStore, container: str) -> BlobSyncSlot:
    return BlobSyncSlot(store, container, stale_after=STALE)


def test_a_free_slot_goes_to_the_first_run_that_claims_it(store: BlobStore, container: str) -> None:
    slot = slot_in(store, container)
    claim = slot.claim("upload-a", now=NOW, is_finished=running)

    assert claim == Claim(True, SlotHolder("upload-a", NOW))
    assert slot.holder() == SlotHolder("upload-a", NOW)
    assert store.exists(container, SLOT_PATH)


def test_the_holder_claiming_again_is_granted_again_and_keeps_its_time(
    store: BlobStore, container: str
) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-a", now=NOW, is_finished=running)
    again = slot.claim("upload-a", now=NOW + timedelta(minutes=5), is_finished=running)

    assert again.granted and again.holder == SlotHolder("upload-a", NOW) and again.took_over is None


def test_another_run_is_refused_and_told_who_holds_the_slot(store: BlobStore, container: str) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-a", now=NOW, is_finished=running)
    asked: list[str] = []

    def still_running(run_id: str) -> bool:
        asked.append(run_id)
        return False

    claim = slot.claim("nightly-b", now=NOW + timedelta(minutes=1), is_finished=still_running)

    assert claim == Claim(False, SlotHolder("upload-a", NOW))
    assert asked == ["upload-a"]
    assert slot.holder() == SlotHolder("upload-a", NOW)


def test_a_holder_whose_run_has_finished_is_taken_over(store: BlobStore, container: str) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-a", now=NOW, is_finished=running)
    later = NOW + timedelta(minutes=1)
    claim = slot.claim("nightly-b", now=later, is_finished=finished)

    assert claim == Claim(True, SlotHolder("nightly-b", later), took_over=SlotHolder("upload-a", NOW))
    assert slot.holder() == SlotHolder("nightly-b", later)


def test_a_holder_older_than_the_stale_limit_is_taken_over_even_if_its_run_never_finished(
    store: BlobStore, container: str
) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-a", now=NOW, is_finished=running)
    just_before = slot.claim("nightly-b", now=NOW + STALE, is_finished=running)
    after = slot.claim("nightly-b", now=NOW + STALE + timedelta(seconds=1), is_finished=running)

    assert not just_before.granted
    assert after.granted and after.took_over == SlotHolder("upload-a", NOW)


def test_a_slot_blob_that_is_not_a_slot_is_taken_over(store: BlobStore, container: str) -> None:
    store.write_text(container, SLOT_PATH, "{not json")
    claim = slot_in(store, container).claim("upload-a", now=NOW, is_finished=running)

    assert claim.granted and claim.took_over is None
    assert slot_in(store, container).holder() == SlotHolder("upload-a", NOW)


def test_only_the_holder_releases_the_slot(store: BlobStore, container: str) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-a", now=NOW, is_finished=running)

    assert slot.release("nightly-b") is False
    assert slot.holder() == SlotHolder("upload-a", NOW)
    assert slot.release("upload-a") is True
    assert slot.holder() is None
    assert slot.release("upload-a") is False  # a retried release changes nothing
    assert slot.claim("nightly-b", now=NOW, is_finished=running).granted


def test_a_holder_taken_over_cannot_release_the_new_holders_slot(store: BlobStore, container: str) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-a", now=NOW, is_finished=running)
    slot.claim("nightly-b", now=NOW + STALE * 2, is_finished=running)

    assert slot.release("upload-a") is False
    assert slot.holder() == SlotHolder("nightly-b", NOW + STALE * 2)


def race(claimers: int, claim: Callable[[str], Claim]) -> dict[str, Claim]:
    barrier = threading.Barrier(claimers)
    results: dict[str, Claim] = {}
    errors: list[BaseException] = []

    def one(run_id: str) -> None:
        try:
            barrier.wait()
            results[run_id] = claim(run_id)
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=one, args=(f"run-{index}",)) for index in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    return results


@pytest.mark.parametrize("claimers", [2, 6])
def test_of_runs_claiming_a_free_slot_at_once_exactly_one_wins(
    store: BlobStore, container: str, claimers: int
) -> None:
    store.ensure_container(container)
    slot = slot_in(store, container)
    results = race(claimers, lambda run_id: slot.claim(run_id, now=NOW, is_finished=running))

    winners = [run_id for run_id, claim in results.items() if claim.granted]
    assert len(results) == claimers and len(winners) == 1
    assert {claim.holder.run_id for claim in results.values()} == set(winners)
    holder = slot.holder()
    assert holder is not None and holder.run_id == winners[0]


def test_of_runs_taking_over_a_finished_holder_at_once_exactly_one_wins(
    store: BlobStore, container: str
) -> None:
    slot = slot_in(store, container)
    slot.claim("upload-old", now=NOW, is_finished=running)

    def only_old_finished(run_id: str) -> bool:
        return run_id == "upload-old"

    later = NOW + timedelta(hours=1)
    results = race(4, lambda run_id: slot.claim(run_id, now=later, is_finished=only_old_finished))

    winners = [run_id for run_id, claim in results.items() if claim.granted]
    assert len(winners) == 1
    assert all(claim.holder.run_id == winners[0] for claim in results.values())
