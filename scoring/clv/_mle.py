"""Shared plumbing for the CLV fits: input checks, data compression, the optimiser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Parameters are searched as log(theta) within +-LOG_BOUND: exp(12) ~ 1.6e5 is far
# outside any sensible value, so an estimate pinned there means "not identified";
# so does one that shrinks below WEAK_BELOW (e.g. Beta(a, b) with a, b -> 0).
LOG_BOUND = 12.0
WEAK_BELOW = 1e-4
WEAK_REASON = "a parameter ran to the edge of the search space: too little data to pin it down"


def as_history(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Check (repeat purchases, time of last repeat, time observed) arrays.

    Invalid data is a programming error (ValueError), unlike thin data, which the
    fits report through ``FitStatus``.
    """
    xa = np.asarray(x, dtype=np.float64)
    ta = np.asarray(t_x, dtype=np.float64)
    Ta = np.asarray(T, dtype=np.float64)
    if not (xa.ndim == ta.ndim == Ta.ndim == 1 and xa.shape == ta.shape == Ta.shape):
        raise ValueError("x, t_x and T must be 1-D arrays of equal length")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ta)) and np.all(np.isfinite(Ta))):
        raise ValueError("x, t_x and T must be finite")
    if np.any(xa < 0) or np.any(xa != np.floor(xa)):
        raise ValueError("x (repeat purchases) must be non-negative integers")
    if np.any(ta < 0) or np.any(ta > Ta):
        raise ValueError("need 0 <= t_x <= T for every customer")
    return xa, ta, Ta


def compress_rows(
    *columns: NDArray[np.float64],
) -> tuple[list[NDArray[np.float64]], NDArray[np.float64], NDArray[np.intp]]:
    """Unique rows of the columns, their counts (weights) and each input row's index.

    Customers with identical histories contribute identical likelihood terms and get
    identical predictions; with day-level data this shrinks a million customers to
    far fewer rows. (A lexsort is much faster than ``np.unique(axis=0)``.)
    """
    n = columns[0].size
    if n == 0:
        return [c[:0] for c in columns], np.zeros(0), np.zeros(0, dtype=np.intp)
    order = np.lexsort(columns[::-1])
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    for column in columns:
        ordered = column[order]
        changed[1:] |= ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(changed)
    counts = np.diff(np.append(starts, n)).astype(np.float64)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(changed) - 1
    return [c[order][starts] for c in columns], counts, inverse


@dataclass(frozen=True)
class Optimum:
    params: NDArray[np.float64]
    loglik: float
    converged: bool
    at_edge: bool
    message: str


def maximise(
    neg_mean_loglik: Callable[[NDArray[np.float64]], float],
    initial_log: NDArray[np.float64],
    total_weight: float,
    gradient: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> Optimum:
    """Maximise a log-likelihood over log-parameters (L-BFGS-B, bounded); ``gradient``,
    if given, is that of ``neg_mean_loglik`` (else it is taken by finite differences)."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * initial_log.size

    def objective(log_params: NDArray[np.float64]) -> float:
        value = neg_mean_loglik(log_params)
        return float(value) if np.isfinite(value) else 1e300

    def jacobian(log_params: NDArray[np.float64]) -> NDArray[np.float64]:
        assert gradient is not None
        slope = gradient(log_params)
        return slope if np.all(np.isfinite(slope)) else np.zeros_like(log_params)

    from scipy.optimize import minimize  # loaded with the first fit, not at start-up

    jac = jacobian if gradient is not None else None
    res = minimize(objective, initial_log, method="L-BFGS-B", jac=jac, bounds=bounds)
    loglik = -float(res.fun) * total_weight
    finite = bool(np.all(np.isfinite(res.x))) and np.isfinite(loglik) and res.fun < 1e299
    at_edge = bool(np.any(np.abs(res.x) > LOG_BOUND - 1e-3) or np.any(np.exp(res.x) < WEAK_BELOW))
    return Optimum(
        params=np.exp(res.x),
        loglik=loglik,
        converged=bool(res.success) and finite,
        at_edge=at_edge,
        message=str(res.message),
    )
