"""Initial passwords for created accounts. A password is never logged, stored in a report or returned."""

from __future__ import annotations

import secrets
import string

_GROUPS = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#$%&*+-=?@^_")
_ALPHABET = "".join(_GROUPS)
#: Random bytes below this bound map evenly onto the alphabet (rejection sampling, no modulo bias).
_BOUND = 256 - 256 % len(_ALPHABET)


def generate_password(length: int = 20) -> str:
    """A random password meeting Entra's complexity rule (all four character classes, 8–256 chars)."""
    if not 8 <= length <= 256:
        raise ValueError("password length must be between 8 and 256")
    while True:
        chars = [_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(length * 2) if b < _BOUND]
        if len(chars) < length:
            continue
        password = "".join(chars[:length])
        if all(any(c in group for c in password) for group in _GROUPS):
            return password
