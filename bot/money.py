"""Money as integer minor units: the one definition of the conversion.

The database stores money as integers (kopecks, cents) and Python works in ``Decimal``
with two places; every conversion between the two goes through this module.
"""

from __future__ import annotations

from decimal import Decimal

MINOR_PER_UNIT = 100
CENT = Decimal("0.01")


def to_minor(value: Decimal) -> int:
    """``Decimal("12.34")`` -> ``1234``; a value with more than two places is refused."""
    return int((Decimal(value) * MINOR_PER_UNIT).to_integral_exact())


def points_value(points: int, point_value: Decimal) -> Decimal:
    """What ``points`` are worth in money, to the cent."""
    return (point_value * points).quantize(CENT)


def from_minor(value: int) -> Decimal:
    """``1234`` -> ``Decimal("12.34")``."""
    return (Decimal(value) / MINOR_PER_UNIT).quantize(CENT)
