"""Initial passwords for created accounts. A password is never logged, stored in a report or returned."""

from __future__ import annotations

import secrets
import string

_GROUPS = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#$%&*+-=?@^_")
_ALPHABET = "".join(_GROUPS)


def generate_password(length: int = 20) -> str:
    """A random password meeting Entra's complexity rule (all four character classes, 8–256 chars)."""
    if not 8 <= length <= 256:
        raise ValueError("password length must be between 8 and 256")
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if all(any(c in group for c in password) for group in _GROUPS):
            return password
