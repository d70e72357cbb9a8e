"""Initial passwords: strong, random, of the asked length."""

from __future__ import annotations

import string

import pytest

from sync.directory.passwords import generate_password


@pytest.mark.parametrize("length", [8, 20, 64])
def test_a_password_has_the_length_and_all_four_character_classes(length: int) -> None:
    password = generate_password(length)

    assert len(password) == length
    assert any(c in string.ascii_uppercase for c in password)
    assert any(c in string.ascii_lowercase for c in password)
    assert any(c in string.digits for c in password)
    assert any(not c.isalnum() for c in password)


def test_passwords_do_not_repeat() -> None:
    assert len({generate_password() for _ in range(200)}) == 200


@pytest.mark.parametrize("length", [7, 257])
def test_a_length_entra_refuses_is_an_error(length: int) -> None:
    with pytest.raises(ValueError, match="between 8 and 256"):
        generate_password(length)
