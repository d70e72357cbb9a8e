"""Whatever bytes a file holds, validation gives a ValidationResult or a SyncError, never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.errors import SyncError
from sync.roster.model import ValidationResult
from sync.roster.reader import parse_csv_bytes
from sync.roster.validate import validate_folder
from tests.roster.csvset import CLEAN, write_set

FILES = sorted(CLEAN)
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

csv_text = st.text(alphabet=st.sampled_from(list('abS1,"\n\r \t;é\u00a0\x00')), max_size=300)


@st.composite
def damaged_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """One file of the set, damaged in one of several ways."""
    name = draw(st.sampled_from(FILES))
    clean = CLEAN[name]
    how = draw(st.sampled_from(["bytes", "truncated", "huge", "encoded", "text", "spliced"]))
    if how == "bytes":
        return name, draw(st.binary(max_size=400))
    if how == "truncated":
        data = clean.encode()
        return name, data[: draw(st.integers(0, len(data)))]
    if how == "huge":
        size = draw(st.sampled_from([1_000, 100_000, 2_000_000]))
        header, _, rest = clean.partition("\n")
        quote = draw(st.booleans())
        value = ('"' + "x," * (size // 2) + '"') if quote else "y" * size
        return name, f"{header}\n{value}\n{rest}".encode()
    if how == "encoded":
        encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "latin-1", "cp1252", "utf-32"]))
        return name, clean.replace("North", "Nörth").replace("Ann", "Ånn").encode(encoding)
    if how == "spliced":
        data = clean.encode()
        at = draw(st.integers(0, len(data)))
        return name, data[:at] + draw(st.binary(max_size=20)) + data[at:]
    header = clean.partition("\n")[0]
    return name, (header + "\n" + draw(csv_text)).encode()


@FUZZ
@given(damaged_file())
def test_a_damaged_file_gives_a_result_or_a_clean_error(damaged: tuple[str, bytes]) -> None:
    name, data = damaged
    with tempfile.TemporaryDirectory() as folder:
        write_set(Path(folder), {name: data})
        try:
            result = validate_folder(folder)
        except SyncError as err:
            assert str(err) and "\n" not in str(err)
            return
    assert isinstance(result, ValidationResult)
    assert (result.roster is None) == (result.status.value == "failed")
    for finding in result.findings:
        assert finding.line is None or finding.line >= 1


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_parse_to_a_table_or_file_findings(data: bytes) -> None:
    try:
        raw, findings = parse_csv_bytes(data, "students", "students.csv")
    except SyncError:
        return
    assert raw is not None or findings
    if raw is not None:
        lines = [raw.line_of(row) for row in range(raw.table.num_rows)]
        assert lines == sorted(lines)
        assert all(line >= 2 for line in lines)
