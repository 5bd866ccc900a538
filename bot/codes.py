"""Short codes people read aloud at the counter: no 0/O or 1/I/L confusion."""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CARD_CODE_LENGTH = 6


def new_card_code(length: int = CARD_CODE_LENGTH) -> str:
    """A code with at least one letter, so it can never be mistaken for phone digits or an id."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if not code.isdigit():
            return code


def looks_like_card_code(token: str) -> bool:
    upper = token.upper()
    return (
        len(upper) == CARD_CODE_LENGTH
        and not upper.isdigit()
        and all(ch in ALPHABET for ch in upper)
    )


def new_invite_token() -> str:
    return secrets.token_urlsafe(18)
