"""What a Graph error answer means to the adapter: "already exists", "not there (yet)", its code, and a
failure result whose message carries no personal data."""

from __future__ import annotations

import re

from sync.directory.graph_http import SubResponse
from sync.directory.model import OperationResult


def _error_text(answer: SubResponse) -> str:
    return answer.message.lower()


def already_exists(answer: SubResponse) -> bool:
    return answer.status in (400, 409) and "already exist" in _error_text(answer)


def not_there(answer: SubResponse) -> bool:
    """``404``, or ``400 … do not exist``: a missing object (or one not replicated yet)."""
    return answer.status == 404 or (answer.status == 400 and "not exist" in _error_text(answer))


def error_code(answer: SubResponse) -> str:
    """The Graph code; licence errors sent as ``Request_BadRequest`` are recognised by their message."""
    text = _error_text(answer)
    if "usage location" in text:
        return "InvalidUserUsageLocation"
    if "valid company license" in text:
        return "InvalidLicense"
    return answer.code


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_EMAIL = re.compile(r"[^\s@'\"]+@[^\s@'\"]+")


def safe_message(message: str) -> str:
    """Graph's message with quoted values and e-mail addresses masked: results become findings and run
    reports, which must not carry names, UPNs or ids."""
    return _EMAIL.sub("<address>", _QUOTED.sub("'…'", message))


def failed(answer: SubResponse) -> OperationResult:
    return OperationResult(ok=False, code=error_code(answer), message=safe_message(answer.message))


def missing_anchor(anchor: str) -> OperationResult:
    kind = anchor.partition("_")[0]
    return OperationResult(
        ok=False,
        code="AnchorNotFound",
        message=f"no {kind} object with this record's anchor is in the directory; it may not be created yet",
    )
