"""The delta state on disk and in blob storage."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync.clever.records import PulledDistrict
from sync.clever.source import CleverApiSource
from sync.clever.state import DeltaState, StateStore, default_state_dir
from sync.clever.state_blob import download_state, state_blob_path, upload_state
from sync.cleverserver import DEFAULT_TOKEN, CleverServer
from sync.profile import CleverApiSettings, Profile
from tests.clever.builders import school, student


def state(last_event_id: str | None = "ev7") -> DeltaState:
    district = PulledDistrict(
        schools={"c-s1": school("c-s1", "100")}, users={"c-st1": student("c-st1", "S1", "c-s1", grade="9")}
    )
    return DeltaState(
        "https://api.clever.com", "v3.1", last_event_id, 1_800_000_000.0, district, ("student",)
    )


@dataclass
class MemoryBlobs:
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def exists(self, container: str, path: str) -> bool:
        return (container, path) in self.blobs

    def read_bytes(self, container: str, path: str, *, etag: str | None = None) -> bytes:
        return self.blobs[(container, path)]

    def write_bytes(self, container: str, path: str, data: bytes, *, content_type: str) -> str:
        self.blobs[(container, path)] = data
        return "etag"


def test_a_saved_state_loads_back_the_same(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(state())
    assert store.load() == state()


def test_saving_again_replaces_the_previous_pull_folder(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(state("ev1"))
    store.save(state("ev2"))
    loaded = store.load()
    assert loaded is not None and loaded.last_event_id == "ev2"
    assert [p.name for p in tmp_path.glob("pull-*")] == ["pull-2"]


def test_a_state_whose_pull_folder_is_gone_is_treated_as_absent(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(state())
    (tmp_path / "pull-1" / "users.parquet").unlink()
    assert store.load() is None


def test_the_default_state_folder_is_file_safe_and_per_profile() -> None:
    assert default_state_dir("Contoso USD / North") == Path(".sync/clever/Contoso_USD_North")


def test_a_state_that_cannot_be_saved_still_gives_the_roster_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with CleverServer(Path(__file__).resolve().parents[2] / "examples" / "district") as server:
        profile = Profile(name="p", source="clever_api", clever=CleverApiSettings(base_url=server.base_url))
        source = CleverApiSource.from_profile(
            profile, {"CLEVER_TOKEN": DEFAULT_TOKEN}, state_dir=blocked / "x"
        )
        files, _ = source.read_raw()
    assert files["students"].table.num_rows == 40
    assert "cannot save the delta state" in caplog.text
    assert "SYNC_CLEVER_STATE_DIR" in caplog.text


def test_the_state_travels_through_one_blob_and_comes_back_whole(tmp_path: Path) -> None:
    StateStore(tmp_path / "before").save(state())
    blobs = MemoryBlobs()
    path = state_blob_path("Contoso USD")

    assert upload_state(blobs, "reports", path, tmp_path / "before")
    assert download_state(blobs, "reports", path, tmp_path / "after")
    assert StateStore(tmp_path / "after").load() == state()
    assert list(blobs.blobs) == [("reports", "clever-state/Contoso_USD.zip")]


def test_no_state_blob_means_nothing_is_downloaded(tmp_path: Path) -> None:
    assert not download_state(MemoryBlobs(), "reports", "clever-state/x.zip", tmp_path / "after")
    assert not (tmp_path / "after").exists()


def test_an_empty_state_folder_is_not_uploaded(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    assert not upload_state(blobs, "reports", "clever-state/x.zip", tmp_path)
    assert blobs.blobs == {}


def test_a_state_blob_with_paths_outside_the_folder_is_ignored(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.txt", "x")
    blobs = MemoryBlobs({("reports", "clever-state/x.zip"): buffer.getvalue()})
    assert not download_state(blobs, "reports", "clever-state/x.zip", tmp_path / "after")
    assert not (tmp_path / "escape.txt").exists()
