"""The validation benchmark script: cache, fresh-process measurements, table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_validate
from bench.district import DistrictSize, generate_district

TINY = DistrictSize(schools=2, students=60, teachers=6, sections=8, enrollments=80)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    generate_district(folder, TINY)
    return folder


def test_a_plain_read_in_a_child_counts_every_row_and_reports_its_peak_memory(district: Path) -> None:
    figures = bench_validate.measure("read", district)
    lines = sum(len((district / f"{k}.csv").read_text().splitlines()) - 1 for k in bench_validate.FILES)
    assert figures["rows"] == lines
    assert figures["seconds"] > 0
    assert figures["peak_mb"] > 10


def test_validation_in_a_child_reports_the_findings_of_the_set(district: Path) -> None:
    figures = bench_validate.measure("validate", district)
    assert (figures["findings"], figures["status"]) == (0, "completed")


def test_a_failing_child_is_reported_not_raised(tmp_path: Path) -> None:
    figures = bench_validate.measure("read", tmp_path / "nowhere")
    assert figures["error"].startswith("read failed: ")


def test_a_cached_district_is_reused_only_when_complete_and_of_the_same_seed(tmp_path: Path) -> None:
    folder, generated = bench_validate.ensure_district(tmp_path, "S", seed=1)
    assert generated is not None and (folder / "students.csv").exists()
    assert bench_validate.ensure_district(tmp_path, "S", seed=1)[1] is None
    assert bench_validate.ensure_district(tmp_path, "S", seed=2)[1] is not None
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{k}.csv" for k in bench_validate.FILES)


def test_the_table_shows_missing_figures_as_dashes_and_lists_errors() -> None:
    result = {
        "size": "S", "order": "id", "megabytes": 3.4, "rows": 49050, "generate_s": None, "read_s": 0.2,
        "validate_s": None, "ratio": None, "read_peak_mb": 97.0, "validate_peak_mb": None, "findings": None,
        "status": None,
        "errors": ["validate failed: ModuleNotFoundError"],
    }  # fmt: skip
    text = bench_validate.table([result])
    assert "49,050" in text
    assert text.splitlines()[2].split()[5] == "-"
    assert text.splitlines()[-1] == "S (id): validate failed: ModuleNotFoundError"


def test_an_unknown_size_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_validate.main(["--sizes", "S,HUGE"]) == 2
    assert "unknown size HUGE: use S, M, XL" in capsys.readouterr().err


def test_the_last_line_is_json_with_one_result_per_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_validate.main(["--sizes", "s", "--data", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert document["bench"] == "validate"
    assert [r["size"] for r in document["results"]] == ["S"]
    assert document["results"][0]["findings"] == 0


def test_repeated_runs_alternate_and_report_the_best_of_each_with_cpu_times(tmp_path: Path) -> None:
    generate_district(tmp_path / "S", TINY)
    (tmp_path / "S.complete").write_text("seed=1\n")  # the cache marker: the tiny set stands in for S
    (result,) = bench_validate.run(["S"], tmp_path, seed=1, repeat=2)
    assert result["runs"] == 2 and result["errors"] is None
    assert result["read_cpu_s"] > 0 and result["validate_cpu_s"] > 0
    # The CPU seconds are reported to the millisecond and the ratio from the unrounded ones: on a tiny set
    # the rounding alone moves the ratio by several per cent, so it is checked against the rounding bounds.
    half = 0.0005
    validate, read = result["validate_cpu_s"], result["read_cpu_s"]
    lowest, highest = (validate - half) / (read + half), (validate + half) / (read - half)
    assert lowest - 0.01 <= result["cpu_ratio"] <= highest + 0.01  # the ratio itself has two decimals
    assert result["median_pair_ratio"] > 0
    assert result["rows"] == sum(
        len((tmp_path / "S" / f"{k}.csv").read_text().splitlines()) - 1 for k in bench_validate.FILES
    )


def test_the_reader_side_times_the_validators_reader_alone_beside_the_plain_read(tmp_path: Path) -> None:
    generate_district(tmp_path / "S", TINY)
    (tmp_path / "S.complete").write_text("seed=1\n")
    (result,) = bench_validate.run(["S"], tmp_path, seed=1, repeat=2, reader=True)
    assert result["errors"] is None and result["reader_s"] is not None  # times round to 0.0 on a tiny set
    assert result["reader_cpu_s"] > 0 and result["reader_ratio"] > 0
    assert result["median_pair_ratio"] > 0  # the pairs stay read/validate with a third side in between
    header = bench_validate.table([result]).splitlines()[0]
    assert "reader s" in header and "reader ratio" in header
    without = {k: v for k, v in result.items() if not k.startswith("reader_")}
    assert "reader" not in bench_validate.table([without]).splitlines()[0]  # only when measured


def test_the_reader_child_counts_the_rows_the_plain_read_counts(district: Path) -> None:
    plain = bench_validate.measure("read", district)
    ours = bench_validate.measure("reader", district)
    assert ours["rows"] == plain["rows"] and ours["findings"] == 0 and ours["peak_mb"] > 0


def test_a_repeat_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_validate.main(["--sizes", "S", "--repeat", "0"]) == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err


def test_the_name_order_is_measured_on_a_cached_copy_beside_the_id_order(tmp_path: Path) -> None:
    generate_district(tmp_path / "S", TINY)
    (tmp_path / "S.complete").write_text("seed=1\n")
    results = bench_validate.run(["S"], tmp_path, seed=1, orders=("id", "name"))
    assert [(r["order"], r["findings"], r["status"]) for r in results] == [
        ("id", 0, "completed"),
        ("name", 0, "completed"),
    ]
    assert results[0]["rows"] == results[1]["rows"]
    assert results[1]["generate_s"] is not None  # the copy was made now ...
    assert bench_validate.ensure_district(tmp_path, "S", seed=1, order="name")[1] is None  # ... and is kept


def test_an_unknown_order_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_validate.main(["--sizes", "S", "--orders", "id,random"]) == 2
    assert "--orders takes id, name" in capsys.readouterr().err
