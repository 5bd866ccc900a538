"""Parsing money amounts and point counts typed by staff, with SPEC's one-answer rules.

A comma or dot followed by 1-2 digits at the end is the decimal separator; spaces (also
no-break and thin spaces, apostrophes) and a comma or dot followed by exactly three digits
are grouping. Anything else (``1,5000``, ``100 5``, ``1.2.3``, ``1e5``, ``NaN``) is
ambiguous or malformed and refused.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from bot.money import CENT

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']+")
# With spaces (or apostrophes) in it, an amount must be grouped by threes: "1 500,50".
_SPACE_GROUPED = re.compile(r"^\d{1,3}(?:[\s\u00a0\u202f\u2009']+\d{3})+(?:[,.]\d{1,2})?$")
_GROUPED = re.compile(r"^[0-9]{1,3}(?:([,.])[0-9]{3})*(?:([,.])[0-9]{1,2})?$")
_PLAIN = re.compile(r"^[0-9]+(?:[,.][0-9]{1,2})?$")
_POINTS = re.compile(r"^[+-]?[0-9]{1,9}$")


class AmountProblem(StrEnum):
    """Why an amount was refused; each value names a template message."""

    EMPTY = "empty"
    MALFORMED = "malformed"
    AMBIGUOUS = "ambiguous"
    NOT_POSITIVE = "not_positive"
    TOO_LARGE = "too_large"


class AmountError(ValueError):
    def __init__(self, problem: AmountProblem, text: str) -> None:
        super().__init__(f"{problem.value}: {text!r}")
        self.problem = problem
        self.text = text


def parse_amount(text: str, maximum: Decimal) -> Decimal:
    """Return the amount as a Decimal with two places, or raise AmountError."""
    raw = text.strip()
    if not raw:
        raise AmountError(AmountProblem.EMPTY, text)
    if raw.startswith("-"):
        raise AmountError(AmountProblem.NOT_POSITIVE, text)
    if any(char.isalpha() for char in raw):  # "3500 oil": words, not a grouping question
        raise AmountError(AmountProblem.MALFORMED, text)
    if _SPACES.search(raw) and not _SPACE_GROUPED.match(raw):
        raise AmountError(AmountProblem.AMBIGUOUS, text)  # "100 5" is two numbers, not 1005
    compact = _SPACES.sub("", raw)
    if not compact or not set(compact) <= set("0123456789,."):
        raise AmountError(AmountProblem.MALFORMED, text)
    normalised = _normalise(compact)
    if normalised is None:
        raise AmountError(AmountProblem.AMBIGUOUS, text)
    try:
        value = Decimal(normalised)
    except InvalidOperation:
        raise AmountError(AmountProblem.MALFORMED, text) from None
    if value <= 0:
        raise AmountError(AmountProblem.NOT_POSITIVE, text)
    if value > maximum:
        raise AmountError(AmountProblem.TOO_LARGE, text)
    return value.quantize(CENT)


def _normalise(compact: str) -> str | None:
    """Digits with a dot as decimal separator, or None when the grouping is ambiguous."""
    match = _GROUPED.match(compact)
    if match:
        group_sep, decimal_sep = match.group(1), match.group(2)
        if group_sep and decimal_sep and group_sep == decimal_sep:
            return None  # 1.500.50: same mark for both roles
        head, _, tail = compact.rpartition(decimal_sep) if decimal_sep else (compact, "", "")
        digits = re.sub(r"[,.]", "", head)
        return f"{digits}.{tail}" if decimal_sep else digits
    if _PLAIN.match(compact):
        return compact.replace(",", ".")
    return None


def parse_points(text: str, *, signed: bool = False, maximum: int = 10**9) -> int:
    """A whole number of points; with ``signed`` a leading + or - is allowed (adjustments)."""
    raw = text.strip()
    if not _POINTS.match(raw) or (not signed and raw[0] in "+-"):
        raise AmountError(AmountProblem.MALFORMED, text)
    value = int(raw)
    if value == 0 or (not signed and value < 0):
        raise AmountError(AmountProblem.NOT_POSITIVE, text)
    if abs(value) > maximum:
        raise AmountError(AmountProblem.TOO_LARGE, text)
    return value
