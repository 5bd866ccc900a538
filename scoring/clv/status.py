"""How a model fit ended and how much data it rests on.

Every CLV number carries both, so the owner can tell a fit on 2,000 customers from
a rough fallback on a dozen: a fit never returns NaN or raises on thin data, it
says why it could not be used and the caller falls back to a simpler estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FitStatus(StrEnum):
    """Outcome of a maximum-likelihood fit."""

    FITTED = "fitted"
    WEAKLY_IDENTIFIED = "weakly_identified"  # converged to an edge of the space
    NO_DATA = "no_data"
    NO_REPEAT_BUYERS = "no_repeat_buyers"
    TOO_FEW_REPEAT_BUYERS = "too_few_repeat_buyers"
    NO_OBSERVATION_TIME = "no_observation_time"  # everybody first bought at the cut-off
    NOT_CONVERGED = "not_converged"
    UNUSABLE_PARAMETERS = "unusable_parameters"  # e.g. Gamma-Gamma q <= 1: infinite mean

    @property
    def usable(self) -> bool:
        """Whether predictions from this fit may be used."""
        return self in (FitStatus.FITTED, FitStatus.WEAKLY_IDENTIFIED)


@dataclass(frozen=True)
class DataSupport:
    """How many customers, and how many repeat buyers, a result rests on."""

    n_customers: int
    n_repeat_buyers: int

    def level(self, low_below: int = 30, good_from: int = 200) -> str:
        """A label for the owner: none / low / moderate / good (by repeat buyers)."""
        if self.n_repeat_buyers == 0:
            return "none"
        if self.n_repeat_buyers < low_below:
            return "low"
        if self.n_repeat_buyers < good_from:
            return "moderate"
        return "good"
