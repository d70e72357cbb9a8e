"""The pure helpers the orchestrators use: phases, batches, chunks, waves, pacing, the run input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.app.orchestration import (
    ApplyPhase,
    RunInput,
    RunOptions,
    apply_batch_id,
    apply_phase_id,
    apply_phases,
    next_queue_poll,
    pause_after_wave,
    waves,
)
from sync.app.uploads import SetRef

PLAN = {"blob": "reports/runs/r/plan.json", "plan_id": "p"}


def generations_of(phase: ApplyPhase) -> list[list[list[tuple[int, int]]]]:
    """Every generation of ``phase``'s sub-orchestration: per batch it runs, the batch's chunks."""
    generations = []
    current: ApplyPhase | None = phase
    while current is not None:
        generations.append([current.chunks(batch) for batch in current.generation()])
        current = current.continued({})
    return generations


def test_each_non_empty_plan_phase_gets_its_own_apply_phase_in_plan_order() -> None:
    phases = apply_phases("r", PLAN, [[0, 450], [450, 460], [460, 1000]], RunOptions())

    assert [(phase.index, phase.start, phase.end) for phase in phases] == [
        (0, 0, 450),
        (1, 450, 460),
        (2, 460, 1000),
    ]
    assert all(phase.next_batch == 0 and phase.totals == {} for phase in phases)


def test_a_phases_generations_cover_it_exactly_in_bounded_batches_of_bounded_chunks() -> None:
    options = RunOptions(chunk_operations=10, chunks_per_batch=3, batches_per_generation=2)
    [phase] = apply_phases("r", PLAN, [[5, 178]], options)

    generations = generations_of(phase)

    # 173 operations = 18 chunks = 6 batches of 3 chunks = 3 generations of 2 batches.
    assert phase.batch_count == 6
    assert [len(generation) for generation in generations] == [2, 2, 2]
    assert all(len(batch) <= 3 for generation in generations for batch in generation)
    chunks = [chunk for generation in generations for batch in generation for chunk in batch]
    assert chunks[0] == (5, 15) and chunks[-1] == (175, 178)
    assert [index for start, end in chunks for index in range(start, end)] == list(range(5, 178))


def test_no_batch_and_no_chunk_crosses_a_phase_boundary() -> None:
    options = RunOptions(chunk_operations=200, chunks_per_batch=2)
    first, second = apply_phases("r", PLAN, [[0, 450], [450, 460]], options)

    assert generations_of(first) == [[[(0, 200), (200, 400)], [(400, 450)]]]
    assert generations_of(second) == [[[(450, 460)]]]


def test_the_next_generation_starts_at_the_next_batch_and_carries_the_totals() -> None:
    options = RunOptions(chunk_operations=10, chunks_per_batch=1, batches_per_generation=4)
    [phase] = apply_phases("r", PLAN, [[0, 100]], options)

    following = phase.continued({"applied": 40, "writes": 40})

    assert following is not None
    assert following.generation() == range(4, 8)
    assert following.totals == {"applied": 40, "writes": 40}
    last = following.continued({"applied": 80})
    assert last is not None and last.generation() == range(8, 10)
    assert last.continued({"applied": 100}) is None


def test_a_generation_round_trips_through_json_and_builds_the_batch_input() -> None:
    options = RunOptions(chunk_operations=10, chunks_per_batch=2)
    phase = ApplyPhase("r", PLAN, 1, 100, 135, options, next_batch=1, totals={"applied": 20})

    assert ApplyPhase.from_json(phase.to_json()) == phase
    assert phase.batch_input(1) == {
        "run_id": "r",
        "plan": PLAN,
        "chunks": [[120, 130], [130, 135]],
        "options": options.to_json(),
    }


def test_sub_orchestration_ids_name_the_run_the_phase_and_the_batch() -> None:
    assert apply_phase_id("upload-1", 3) == "upload-1:apply:3"
    assert apply_batch_id("upload-1", 3, 12) == "upload-1:apply:3:00012"
    ids = {apply_batch_id("upload-1", phase, batch) for phase in range(6) for batch in range(100)}
    assert len(ids | {apply_phase_id("upload-1", phase) for phase in range(6)}) == 606


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


def test_the_input_of_a_run_started_before_phases_and_priorities_reads_with_their_defaults() -> None:
    old = RunOptions(batches_per_generation=7, low_priority=True).to_json()
    del old["batches_per_generation"], old["low_priority"]

    options = RunOptions.from_json(old)

    assert (options.batches_per_generation, options.low_priority) == (50, False)


def test_a_low_priority_run_keeps_its_priority_through_the_run_input() -> None:
    run = RunInput("nightly-2026-09-01", "nightly", None, RunOptions(low_priority=True))

    assert RunInput.from_json(run.to_json()).options.low_priority is True


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
