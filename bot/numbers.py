"""Whole numbers typed by people, and the range the database can hold."""

from __future__ import annotations

import re

MAX_DB_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL

ASCII_DIGITS = re.compile(r"[0-9]+")


def is_ascii_number(token: str) -> bool:
    """Digits 0-9 only: ``str.isdigit`` also accepts "²", which ``int`` then rejects."""
    return ASCII_DIGITS.fullmatch(token) is not None
