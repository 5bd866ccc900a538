"""How a model fit ended and how much data it rests on.

Every CLV number carries both, so the owner can tell a fit on 2,000 customers from
a rough fallback on a dozen: a fit never returns NaN or raises on thin data, it
says why it could not be used and the caller falls back to a simpler estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

P = TypeVar("P")


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


@dataclass(frozen=True)
class Fit(Generic[P]):
    """A model's maximum-likelihood fit (BG/NBD, Gamma-Gamma): the parameters are None
    unless ``status.usable``."""

    params: P | None
    loglik: float | None
    status: FitStatus
    reason: str
    support: DataSupport

    @property
    def fitted(self) -> bool:
        """Parameters exist and may be used for predictions."""
        return self.status.usable and self.params is not None

    @property
    def converged(self) -> bool:
        """The optimiser converged (the estimate may still be unusable, see status)."""
        return self.params is not None
