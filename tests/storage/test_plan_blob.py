"""The plan step's blob: made and uploaded a block at a time, byte for byte the plan's canonical JSON, and
named by the same id as :attr:`Plan.plan_id` (on Azurite)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date

from azure.storage.blob import BlobServiceClient

from sync.app.activities import _store_plan
from sync.directory.model import Operation, OpKind
from sync.engine.plan import CHANGE_KEYS, GuardVerdict, Plan
from sync.storage.blob_store import BlobStore
from tests.storage.app_runtime import azurite_runtime

#: Enough operations that the JSON is written in several pieces (the writer flushes about every 1 MB).
BIG = Plan(
    profile_name="Contoso USD — Ω",
    today=date(2027, 1, 20),
    operations=tuple(
        Operation(OpKind.CREATE_SCHOOL, f"School_{i}", {"displayName": f'École n° {i} "Nord"'})
        for i in range(40_000)
    ),
    changes={**dict.fromkeys(CHANGE_KEYS, 0), "schools_created": 40_000},
    guard=GuardVerdict(False, ()),
)


def test_the_stored_plan_is_its_canonical_json_and_its_id_is_the_plans(azurite: str) -> None:
    built, _, _ = azurite_runtime(azurite)
    # Small single-put and block sizes: the plan goes up in staged blocks, as a large district's does.
    service = BlobServiceClient.from_connection_string(
        azurite, max_single_put_size=512 * 1024, max_block_size=256 * 1024
    )
    runtime = replace(built, blobs=BlobStore(service))
    reports = runtime.settings.reports_container

    plan_id, size = _store_plan(runtime, reports, "runs/r1/plan.json", BIG)

    stored = runtime.blobs.read_bytes(reports, "runs/r1/plan.json")
    assert size == len(stored)
    assert len(stored) > 3 << 20  # several of the writer's pieces
    assert stored == BIG.dumps().encode("utf-8")
    assert plan_id == BIG.plan_id
    assert Plan.from_json(runtime.blobs.read_json(reports, "runs/r1/plan.json")) == BIG
    assert len(service.get_blob_client(reports, "runs/r1/plan.json").get_block_list()[0]) > 1


def test_chunks_or_a_file_larger_than_one_put_go_up_in_blocks_and_read_back_whole(azurite: str) -> None:
    # Small single-put and block sizes, so that 3 MB takes the staged-block path a large plan takes.
    service = BlobServiceClient.from_connection_string(
        azurite, max_single_put_size=512 * 1024, max_block_size=256 * 1024
    )
    blobs = BlobStore(service)
    data = bytes(range(256)) * (3 * 4096)
    source = io.BytesIO(b"skipped" + data)
    source.seek(len(b"skipped"))  # read from the current position

    blobs.write_stream("reports", "runs/r2/blocks.bin", source, content_type="application/octet-stream")
    chunks = (data[start : start + 100_000] for start in range(0, len(data), 100_000))
    blobs.write_stream("reports", "runs/r2/chunks.bin", chunks, content_type="application/octet-stream")

    assert blobs.read_bytes("reports", "runs/r2/blocks.bin") == data
    assert blobs.read_bytes("reports", "runs/r2/chunks.bin") == data
    assert len(service.get_blob_client("reports", "runs/r2/chunks.bin").get_block_list()[0]) > 1
    properties = service.get_blob_client("reports", "runs/r2/blocks.bin").get_blob_properties()
    assert properties.content_settings.content_type == "application/octet-stream"
    assert len(service.get_blob_client("reports", "runs/r2/blocks.bin").get_block_list()[0]) > 1
