"""Names derived from SIS ids: anchors and mail nicknames (shared by validation, planning and adapters)."""

from __future__ import annotations

import re

#: Characters allowed in a mail nickname (``clever-csv.md`` §4).
_NICKNAME_BAD = re.compile(r"[^A-Za-z0-9\-_.]")
NICKNAME_MAX = 64


def section_mail_nickname(section_id: str, *, replace_special_characters: bool = False) -> str:
    """``Section_<Section_id>``, with invalid characters replaced by ``_`` when asked. The caller checks
    :func:`nickname_problem` first: without replacement, an invalid id is a record error."""
    nickname = f"Section_{section_id}"
    return _NICKNAME_BAD.sub("_", nickname) if replace_special_characters else nickname


def nickname_problem(nickname: str) -> str | None:
    """Why ``nickname`` is not a valid mail nickname, or ``None``."""
    if _NICKNAME_BAD.search(nickname):
        return "holds characters other than A-Z a-z 0-9 - _ ."
    if len(nickname) > NICKNAME_MAX:
        return f"is longer than {NICKNAME_MAX} characters"
    return None


def school_anchor(school_id: str) -> str:
    return f"School_{school_id}"


def section_anchor(section_id: str) -> str:
    return f"Section_{section_id}"


def student_anchor(student_id: str) -> str:
    return f"Student_{student_id}"


def teacher_anchor(teacher_id: str) -> str:
    return f"Teacher_{teacher_id}"


def staff_anchor(staff_id: str) -> str:
    return f"Staff_{staff_id}"


def group_anchor(mail_nickname: str) -> str:
    return f"Group_{mail_nickname}"


def split_anchor(anchor: str) -> tuple[str, str]:
    """``"Student_10_01"`` → ``("Student", "10_01")``: the kind is before the first underscore."""
    kind, _, key = anchor.partition("_")
    return kind, key
