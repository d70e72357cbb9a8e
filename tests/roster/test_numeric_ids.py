"""Ids written as plain numbers are looked up on their numbers, with the same positions as the strings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from sync.roster.checks import positions
from sync.roster.numeric_ids import numeric_positions


def _strings(values: list[str | None]) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values, pa.string())])


def _index_in(values: pa.ChunkedArray, targets: pa.ChunkedArray) -> list[int]:
    return pc.fill_null(pc.index_in(values, value_set=targets), -1).to_pylist()


def test_numbers_find_the_first_of_repeated_targets_and_miss_the_rest() -> None:
    targets = _strings(["100", "7", "100", "250"])
    values = _strings(["100", "250", "7", "8", "99999", "1"])
    found = numeric_positions(values, targets)
    assert found is not None
    assert found.tolist() == [0, 3, 1, -1, -1, -1]


def test_numbers_spread_too_thin_for_a_table_give_the_same_positions() -> None:
    targets = _strings(["5", "900000000000000000", "42"])
    values = _strings(["42", "900000000000000000", "6", "5"])
    found = numeric_positions(values, targets)
    assert found is not None
    assert found.tolist() == [2, 1, -1, 0]


@pytest.mark.parametrize(
    "odd",
    ["007", "0x1F", "+5", "-5", "5 ", "1e3", "12a", "٣", "1234567890123456789", ""],
    ids=[
        "leading zero",
        "hex",
        "plus",
        "minus",
        "space",
        "exponent",
        "letter",
        "arabic digit",
        "19 digits",
        "empty",
    ],
)
def test_an_id_that_is_not_a_plain_number_leaves_the_look_up_to_strings(odd: str) -> None:
    plain = _strings(["7", "31", "5"])
    mixed = _strings(["7", odd])
    assert numeric_positions(mixed, plain) is None
    assert numeric_positions(plain, mixed) is None


def test_a_blank_id_leaves_the_look_up_to_strings() -> None:
    assert numeric_positions(_strings(["1", None]), _strings(["1"])) is None


def test_zero_is_a_plain_number() -> None:
    found = numeric_positions(_strings(["0", "10"]), _strings(["10", "0"]))
    assert found is not None
    assert found.tolist() == [1, 0]


def test_no_targets_find_nothing() -> None:
    found = numeric_positions(_strings(["1", "2"]), _strings([]))
    assert found is not None
    assert found.tolist() == [-1, -1]


def test_a_sliced_chunk_is_read_from_its_own_values() -> None:
    whole = pa.array(["x07", "12", "13", "0x"], pa.string())
    found = numeric_positions(pa.chunked_array([whole.slice(1, 2)]), _strings(["13", "12"]))
    assert found is not None
    assert found.tolist() == [1, 0]


def test_positions_on_numbers_match_a_look_up_of_the_strings() -> None:
    rng = np.random.default_rng(7)
    targets = _strings([str(n) for n in rng.integers(1, 400_000, 50_000)])
    wanted = rng.integers(0, 450_000, 300_000)
    values = pa.chunked_array(
        [pa.array([str(n) for n in wanted[:100_000]]), pa.array([str(n) for n in wanted[100_000:]])]
    )
    assert positions(values, targets).tolist() == _index_in(values, targets)


def test_positions_of_ids_with_leading_zeros_match_a_look_up_of_the_strings() -> None:
    targets = _strings(["7", "007", "70"])
    values = _strings(["007", "7", "0070", "70"])
    assert positions(values, targets).tolist() == [1, 0, -1, 2]
