"""Value rules of ``clever-csv.md`` §3, vectorised over Arrow string arrays.

Each ``normalise_*`` function takes a (chunked) string array and returns the normalised values (``null``
where the value was blank or is invalid) and a boolean mask of the invalid values. Normalised forms are those
of :mod:`sync.roster.model`: emails lower-cased, dates ``YYYY-MM-DD``, grades canonical, Y/N ``Y``/``N``.
Also here: :func:`clean`, which trims values and turns blanks into nulls without rewriting a column that
needs neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.roster.columns import Kind

ArrayLike: TypeAlias = "pa.Array | pa.ChunkedArray"
Normaliser: TypeAlias = Callable[[ArrayLike], tuple[ArrayLike, ArrayLike]]

_GRADES = {
    **{
        name.lower(): name
        for name in (
            "InfantToddler",
            "Preschool",
            "PreKindergarten",
            "TransitionalKindergarten",
            "Kindergarten",
            "PostGraduate",
            "Ungraded",
            "Other",
        )
    },
    **{str(n): str(n) for n in range(1, 14)},
    **{f"{n:02d}": str(n) for n in range(1, 13)},
    "pk": "PreKindergarten",
    "tk": "TransitionalKindergarten",
    "k": "Kindergarten",
    "kg": "Kindergarten",
}
_YES_NO = {"y": "Y", "yes": "Y", "true": "Y", "n": "N", "no": "N", "false": "N"}
_GENDERS = {"m": "M", "f": "F", "x": "X"}
_FRL = {"free": "Free", "reduced": "Reduced", "paid": "Paid", "other": "Other"}

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_YEAR = r"^\d{4}$"

#: What each kind accepts, for messages.
ACCEPTED: dict[Kind, str] = {
    Kind.EMAIL: "an address of the form name@domain.tld",
    Kind.DATE: "YYYY-MM-DD, YYYYMMDD or M/D/YYYY",
    Kind.GRADE: "InfantToddler, Preschool, PreKindergarten (PK), TransitionalKindergarten (TK), "
    "Kindergarten (K, KG), 1-13, PostGraduate, Ungraded or Other",
    Kind.YES_NO: "Y or N",
    Kind.GENDER: "M, F or X",
    Kind.FRL: "Free, Reduced, Paid or Other",
    Kind.YEAR: "a four-digit year",
}
#: The finding code for a bad value of each kind.
CODES: dict[Kind, str] = {
    Kind.EMAIL: "invalid_email",
    Kind.DATE: "invalid_date",
    Kind.GRADE: "invalid_grade",
    Kind.YES_NO: "invalid_value",
    Kind.GENDER: "invalid_value",
    Kind.FRL: "invalid_value",
    Kind.YEAR: "invalid_value",
}


def _invalid(original: ArrayLike, normalised: ArrayLike) -> ArrayLike:
    return pc.and_(pc.is_valid(original), pc.is_null(normalised))


def _none_invalid(array: ArrayLike) -> ArrayLike:
    """The mask of invalid values of a column whose every value is valid (all false)."""
    return _invalid(array, array)


def _on_dictionary(normalise_values: Normaliser) -> Normaliser:
    """Apply a normaliser to the distinct values only (dates, grades and flags repeat a lot), then expand."""

    def normalise(array: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        encoded = pc.dictionary_encode(array)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.unify_dictionaries()
            if encoded.num_chunks == 0:
                return array, pc.is_valid(array)
            dictionary = encoded.chunk(0).dictionary
        else:
            dictionary = encoded.dictionary
        mapped, _ = normalise_values(dictionary)
        result = _decode(encoded, mapped)
        return result, _invalid(array, result)

    return normalise


def _lookup(mapping: dict[str, str]) -> Normaliser:
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    canonical = pa.array(sorted(set(mapping.values())), pa.string())

    def normalise(array: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        result = pc.take(values, pc.index_in(pc.utf8_lower(array), value_set=keys))
        return result, _invalid(array, result)

    on_dictionary = _on_dictionary(normalise)

    def normalise_column(array: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
        # Most columns are written canonically already: one cheap membership test, nothing rewritten.
        present = len(array) - array.null_count
        if pc.sum(pc.is_in(array, value_set=canonical)).as_py() == present:
            return array, _none_invalid(array)
        return on_dictionary(array)

    return normalise_column


def _decode(encoded: ArrayLike, dictionary: pa.Array) -> ArrayLike:
    """Replace the dictionary of a dictionary-encoded array and decode it to plain strings."""
    if isinstance(encoded, pa.ChunkedArray):
        return pa.chunked_array(
            [pc.take(dictionary, chunk.indices) for chunk in encoded.chunks], type=pa.string()
        )
    return pc.take(dictionary, encoded.indices)


def normalise_email(array: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    # Addresses already lower-case ASCII (as most exports write them) need no lower-casing copy.
    lowered = array if all(_lower_ascii(chunk) for chunk in _chunks(array)) else pc.utf8_lower(array)
    # And when every one is plainly an address, none needs the regex.
    if all(_plain_addresses(chunk) for chunk in _chunks(lowered)):
        return lowered, _none_invalid(array)
    ok = pc.match_substring_regex(lowered, _EMAIL)
    # Every address valid (as in most files): the lowered column as it is, not copied once more.
    result = (
        lowered if pc.all(ok).as_py() is not False else pc.if_else(ok, lowered, pa.scalar(None, pa.string()))
    )
    return result, _invalid(array, result)


_AT, _DOT, _CAPITAL_A, _CAPITAL_Z, _ASCII_END = 64, 46, 65, 90, 128
#: The bytes of the ASCII digits 0 and 9.
ZERO, NINE = 48, 57


def _chunks(array: ArrayLike) -> list[pa.Array]:
    return array.chunks if isinstance(array, pa.ChunkedArray) else [array]


def value_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bytes a string chunk's values use (a view, no copy), and each value's start and end in them."""
    _, offsets_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    used = data[offsets[0] : offsets[-1]]
    return used, offsets[:-1] - offsets[0], offsets[1:] - offsets[0]


def _present(chunk: pa.Array) -> np.ndarray:
    """Which values of the chunk are not null."""
    if not chunk.null_count:
        return np.ones(len(chunk), dtype=bool)
    return np.asarray(pc.is_valid(chunk).to_numpy(zero_copy_only=False), dtype=bool)


def _lower_ascii(chunk: pa.Array) -> bool:
    """Whether every byte of the chunk's values is ASCII and none is a capital letter (lower-casing would
    change nothing)."""
    if not pa.types.is_string(chunk.type):
        return False
    if not len(chunk):
        return True
    used, _, _ = value_bytes(chunk)
    if not len(used):
        return True
    return int(used.max()) < _ASCII_END and not bool(np.any((used >= _CAPITAL_A) & (used <= _CAPITAL_Z)))


def _plain_addresses(chunk: pa.Array) -> bool:
    """True only when every value of the chunk surely matches :data:`_EMAIL`: printable ASCII, one ``@``
    after the first byte, and a last dot with a byte between it and the ``@`` and a byte after it. False
    says nothing: the values are then matched one by one."""
    if not pa.types.is_string(chunk.type):
        return False
    if not len(chunk):
        return True
    used, starts, ends = value_bytes(chunk)
    present = _present(chunk)
    if not len(used):
        return not bool(present.any())
    if int(used.min()) <= 32 or int(used.max()) >= 127:  # white space, control bytes or non-ASCII
        return False
    at = np.flatnonzero(used == _AT)
    ats = np.searchsorted(at, ends) - np.searchsorted(at, starts)
    if np.any(ats[present] != 1) or np.any(ats[~present] != 0):
        return False
    start, end = starts[present], ends[present]
    at_of = at[np.searchsorted(at, start)]  # each value's one "@"
    dots = np.flatnonzero(used == _DOT)
    last = np.searchsorted(dots, end) - 1  # the last dot before the value's end (maybe an earlier value's)
    if np.any(last < 0):
        return False
    last_dot = dots[last]
    return bool(np.all((at_of > start) & (last_dot > at_of + 1) & (last_dot < end - 1)))


def _four_digits(chunk: pa.Array) -> bool:
    """Whether every value of a string chunk is four ASCII digits (as :data:`_YEAR` requires)."""
    if not pa.types.is_string(chunk.type):
        return False
    if not len(chunk):
        return True
    used, starts, ends = value_bytes(chunk)
    lengths = (ends - starts)[_present(chunk)]
    if np.any(lengths != 4) or len(used) != 4 * len(lengths):  # a null that holds bytes: ask the regex
        return False
    return not len(used) or (int(used.min()) >= ZERO and int(used.max()) <= NINE)


def _normalise_date(array: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    candidate = array
    if not pc.all(pc.match_substring_regex(array, _ISO_DATE)).as_py():
        candidate = pc.replace_substring_regex(candidate, r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")
        candidate = pc.replace_substring_regex(candidate, r"^(\d)/", r"0\1/")
        candidate = pc.replace_substring_regex(candidate, r"/(\d)/", r"/0\1/")
        candidate = pc.replace_substring_regex(candidate, r"^(\d{2})/(\d{2})/(\d{4})$", r"\3-\1-\2")
    shaped = pc.if_else(
        pc.match_substring_regex(candidate, _ISO_DATE), candidate, pa.scalar(None, pa.string())
    )
    parsed = pc.strptime(shaped, format="%Y-%m-%d", unit="s", error_is_null=True)
    back = pc.strftime(parsed, format="%Y-%m-%d")
    result = pc.if_else(pc.equal(back, shaped), shaped, pa.scalar(None, pa.string()))
    return result, _invalid(array, result)


def normalise_year(array: ArrayLike) -> tuple[ArrayLike, ArrayLike]:
    if all(_four_digits(chunk) for chunk in _chunks(array)):
        return array, _none_invalid(array)
    result = pc.if_else(pc.match_substring_regex(array, _YEAR), array, pa.scalar(None, pa.string()))
    return result, _invalid(array, result)


NORMALISERS: dict[Kind, Normaliser] = {
    Kind.EMAIL: normalise_email,
    Kind.DATE: _on_dictionary(_normalise_date),
    Kind.GRADE: _lookup(_GRADES),
    Kind.YES_NO: _lookup(_YES_NO),
    Kind.GENDER: _lookup(_GENDERS),
    Kind.FRL: _lookup(_FRL),
    Kind.YEAR: normalise_year,
}


def clean(array: ArrayLike) -> pa.ChunkedArray:
    """Values as strings, trimmed, blanks as nulls. A chunk that has no value to trim or blank is kept as is
    (checked on its bytes, or on the first and last byte of each value, without a regex)."""
    if isinstance(array, pa.Array):
        array = pa.chunked_array([array], type=array.type)
    if not pa.types.is_string(array.type):
        array = pc.cast(array, pa.string())
    chunks = []
    whole = True
    for chunk in array.chunks:
        cleaned, whole = _clean_chunk(chunk, whole_bytes=whole)
        chunks.append(cleaned)
    return pa.chunked_array(chunks, type=pa.string())


#: A first or last byte that may need trimming is ASCII white space or a control byte (< 33), or any
#: non-ASCII byte (Unicode white space such as a no-break space; a value that merely ends in "é" is trimmed
#: for nothing). With unsigned bytes, ``byte - 33`` wraps so that exactly those are ``>= _PRINTABLE``.
_PRINTABLE = np.uint8(128 - 33)


def _clean_chunk(chunk: pa.Array, *, whole_bytes: bool) -> tuple[pa.Array, bool]:
    """The chunk cleaned, and whether the next chunk of the column is worth testing byte by byte.

    ``whole_bytes``: first test all the chunk's bytes at once (two reductions, no gather): when none could
    need trimming, neither can a first or last byte. A column with a space inside its values (names,
    addresses) fails that test, and its later chunks go straight to the first and last bytes."""
    if len(chunk) == 0 or chunk.null_count == len(chunk):
        return chunk, whole_bytes
    validity = chunk.buffers()[0]
    used, starts, ends = value_bytes(chunk)
    filled = ends > starts
    needs_trim = False
    # No bytes at all: every value is empty, nothing to trim.
    if len(used) and not (whole_bytes and int(used.min()) >= 33 and int(used.max()) < 128):
        whole_bytes = False
        first = np.take(used, starts, mode="clip")
        last = np.take(used, ends - 1, mode="clip")
        edge = (first - np.uint8(33) >= _PRINTABLE) | (last - np.uint8(33) >= _PRINTABLE)
        needs_trim = bool(np.any(edge & filled))
    if not needs_trim and not _has_blank(chunk, validity, filled):
        return chunk, whole_bytes
    trimmed = pc.utf8_trim_whitespace(chunk) if needs_trim else chunk
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed), whole_bytes


def _has_blank(chunk: pa.Array, validity: pa.Buffer | None, filled: np.ndarray) -> bool:
    """Whether a value of ``chunk`` is the empty string (not null)."""
    empty = len(filled) - int(np.count_nonzero(filled))
    if empty == 0:
        return False
    if empty > chunk.null_count or validity is None:
        return True
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    valid = bits[chunk.offset : chunk.offset + len(chunk)].view(bool)
    return bool(np.any(valid & ~filled))
