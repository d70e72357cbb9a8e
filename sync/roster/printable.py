"""Text from the files made safe to print: control characters written as escapes.

A header may hold NUL bytes, escape sequences or other control characters; printed raw they corrupt the
admin's terminal and the report's cells. They are written as Python writes them in ``repr`` (``\\x00``,
``\\t``, ``\\x1b``); every other character is kept as it is.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character (C0, DEL, C1) replaced by its escape, e.g. ``\\x00``."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)
