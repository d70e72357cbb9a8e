"""The pure helpers the orchestrators use: chunking, batches, waves, pacing, the run input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.app.orchestration import (
    RunInput,
    RunOptions,
    apply_batches,
    chunk_ranges,
    next_queue_poll,
    pause_after_wave,
    waves,
)
from sync.app.uploads import SetRef


def test_chunks_cover_each_phase_exactly_and_never_cross_a_phase_boundary() -> None:
    phases = chunk_ranges([[0, 450], [450, 460], [460, 1000]], 200)

    assert phases == [[(0, 200), (200, 400), (400, 450)], [(450, 460)], [(460, 660), (660, 860), (860, 1000)]]


def test_batches_hold_at_most_the_configured_chunks_and_stay_within_a_phase() -> None:
    options = RunOptions(chunk_operations=10, chunks_per_batch=3)
    batches = apply_batches([[0, 70], [70, 80]], options)

    assert [len(batch) for batch in batches] == [3, 3, 1, 1]
    assert batches[2] == [(60, 70)] and batches[3] == [(70, 80)]


def test_waves_run_chunks_a_few_at_a_time_in_order() -> None:
    assert waves([[0, 1], [1, 2], [2, 3]], 2) == [[(0, 1), (1, 2)], [(2, 3)]]


def test_a_wave_faster_than_the_quota_waits_for_the_rest_and_a_slow_one_does_not() -> None:
    assert pause_after_wave(800, timedelta(seconds=10), 20.0) == timedelta(seconds=30)
    assert pause_after_wave(800, timedelta(seconds=50), 20.0) == timedelta(0)


def test_options_from_settings_scale_the_graph_write_quota() -> None:
    options = RunOptions.from_settings(chunk_operations=100, quota_scale=0.5, approval_timeout_hours=24)

    assert options.writes_per_second == 10.0 and options.chunk_operations == 100


def test_the_run_input_round_trips_through_json() -> None:
    run = RunInput("upload-1", "upload", SetRef("uploads", "term", {"students.csv": '"0x1"'}), RunOptions())

    assert RunInput.from_json(run.to_json()) == run


def test_the_input_of_a_run_started_before_the_sync_slot_existed_still_reads_with_default_queue_options() -> (
    None
):
    old = RunOptions(queue_poll_seconds=5.0, queue_max_hours=1.0).to_json()
    del old["queue_poll_seconds"], old["queue_max_hours"]

    options = RunOptions.from_json(old)

    assert (options.queue_poll_seconds, options.queue_max_hours) == (60.0, 6.0)


def test_the_queue_options_come_from_the_settings_and_survive_the_run_input() -> None:
    options = RunOptions.from_settings(
        chunk_operations=100,
        quota_scale=1.0,
        approval_timeout_hours=72.0,
        queue_poll_seconds=30.0,
        queue_max_hours=2.0,
    )

    assert RunOptions.from_json(options.to_json()) == options
    assert (options.queue_poll_seconds, options.queue_max_hours) == (30.0, 2.0)


def test_a_queued_run_polls_every_interval_then_once_at_the_deadline_then_gives_up() -> None:
    since = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    options = RunOptions(queue_poll_seconds=600.0, queue_max_hours=0.25)

    assert next_queue_poll(since, since, options) == since + timedelta(minutes=10)
    assert next_queue_poll(since + timedelta(minutes=10), since, options) == since + timedelta(minutes=15)
    assert next_queue_poll(since + timedelta(minutes=15), since, options) is None
