"""The personal values of the example district's students, to look for in logs (none may show above DEBUG)."""

from __future__ import annotations

import csv
from pathlib import Path

STUDENTS = Path(__file__).resolve().parents[2] / "examples" / "district" / "students.csv"
_COLUMNS = (
    "Student_id",
    "Student_number",
    "State_id",
    "First_name",
    "Last_name",
    "Student_email",
    "Username",
)


def student_values(*, upn_domain: str = "students.contoso.edu") -> set[str]:
    """Ids, names, usernames and emails of every student, also as UPNs and as a URL quotes them."""
    with open(STUDENTS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    values = {row[column] for row in rows for column in _COLUMNS if row[column]}
    values |= {f"{row['Username']}@{upn_domain}" for row in rows}
    return values | {value.replace("@", "%40") for value in values if "@" in value}


def shown_in(text: str) -> list[str]:
    """The student values that ``text`` holds, sorted (``[]`` when none)."""
    return sorted(value for value in student_values() if value in text)
