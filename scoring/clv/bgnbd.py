"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005), fitted by MLE.

Each customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) and,
after each purchase, drops out with probability p ~ Beta(a, b). Inputs per customer:
x = repeat purchases, t_x = time of the last purchase after the first, T = time
since the first purchase (any time unit; predictions come out in the same unit).

The log-likelihood is the paper's equation (6) in the numerically stable form of
Hardie's note 004 (as the ``lifetimes`` package does): gammaln terms plus a
log-sum-exp of the "still alive" and "dropped out after the last purchase" parts.
Parameters are searched in log space with scipy's L-BFGS-B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.clv._mle import WEAK_REASON, as_history, compress_rows, maximise
from scoring.clv.status import DataSupport, Fit, FitStatus


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float


BGNBDFit = Fit[BGNBDParams]  # what ``fit_bgnbd`` returns


def _neg_mean_loglik(
    log_params: NDArray[np.float64],
    x_unique: NDArray[np.float64],
    x_index: NDArray[np.intp],
    x: NDArray[np.float64],
    t_x: NDArray[np.float64],
    T: NDArray[np.float64],
    w: NDArray[np.float64],
) -> float:
    from scipy.special import gammaln  # scipy loads with the first fit, not at start-up

    r, alpha, a, b = np.exp(log_params)
    # Terms that depend on x only are computed once per distinct x.
    a12 = (
        gammaln(r + x_unique)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x_unique)
        - gammaln(b)
        - gammaln(a + b + x_unique)
    )[x_index]
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    ll = a12 + np.logaddexp(a3, a4)
    return float(-(w * ll).sum() / w.sum())


def bgnbd_loglik(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> float:
    """Total log-likelihood of the data under given parameters."""
    xa, ta, Ta = as_history(x, t_x, T)
    x_unique, x_index = np.unique(xa, return_inverse=True)
    log_params = np.log([params.r, params.alpha, params.a, params.b])
    w = np.ones_like(xa)
    return -_neg_mean_loglik(log_params, x_unique, x_index, xa, ta, Ta, w) * xa.size


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    min_repeat_buyers: int = 10,
) -> BGNBDFit:
    """Fit r, alpha, a, b by maximum likelihood; thin or degenerate data are flagged.

    Below ``min_repeat_buyers`` customers with x > 0 the dropout process cannot be
    estimated and the fit is refused (status says why) rather than guessed.
    """
    xa, ta, Ta = as_history(x, t_x, T)
    support = DataSupport(n_customers=int(xa.size), n_repeat_buyers=int((xa > 0).sum()))

    def refuse(status: FitStatus, reason: str) -> BGNBDFit:
        return BGNBDFit(None, None, status, reason, support)

    if xa.size == 0:
        return refuse(FitStatus.NO_DATA, "no customers")
    if not np.any(Ta > 0):
        return refuse(FitStatus.NO_OBSERVATION_TIME, "every customer first bought at the cut-off")
    if support.n_repeat_buyers == 0:
        return refuse(FitStatus.NO_REPEAT_BUYERS, "nobody has bought twice yet")
    if support.n_repeat_buyers < min_repeat_buyers:
        return refuse(
            FitStatus.TOO_FEW_REPEAT_BUYERS,
            f"{support.n_repeat_buyers} repeat buyers, fewer than {min_repeat_buyers}",
        )

    (xu, tu, Tu), w, _ = compress_rows(xa, ta, Ta)
    x_unique, x_index = np.unique(xu, return_inverse=True)

    def objective(log_params: NDArray[np.float64]) -> float:
        return _neg_mean_loglik(log_params, x_unique, x_index, xu, tu, Tu, w)

    best = maximise(objective, np.zeros(4), float(w.sum()))
    if not best.converged or best.at_edge:  # try again from a scale-aware start
        start = np.array([0.0, np.log(max(float(Ta.mean()), 1e-3)), 0.0, 0.0])
        other = maximise(objective, start, float(w.sum()))
        if (other.converged, other.loglik) > (best.converged, best.loglik):
            best = other
    if not best.converged:
        return refuse(FitStatus.NOT_CONVERGED, f"optimiser did not converge: {best.message}")
    params = BGNBDParams(*(float(v) for v in best.params))
    status = FitStatus.WEAKLY_IDENTIFIED if best.at_edge else FitStatus.FITTED
    reason = WEAK_REASON if best.at_edge else "ok"
    return BGNBDFit(params, best.loglik, status, reason, support)


def _hyp2f1_scaled(
    a: NDArray, b: NDArray, c: NDArray, z: NDArray, log_scale: NDArray
) -> NDArray[np.float64]:
    """2F1(a, b; c; z) * exp(log_scale) for 0 <= z < 1, without overflow.

    The sign is kept (2F1 is negative for some c < 0, e.g. when a + b < 1 and x = 0),
    and Euler's transform 2F1 = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z) takes
    over where the direct series overflows for heavy buyers.
    """
    from scipy.special import hyp2f1

    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        direct = hyp2f1(a, b, c, z)
        out = np.sign(direct) * np.exp(np.log(np.abs(direct)) + log_scale)
        bad = ~np.isfinite(direct)
        if np.any(bad):
            a, b, c, z, s = (np.broadcast_to(v, direct.shape)[bad] for v in (a, b, c, z, log_scale))
            euler = hyp2f1(c - a, c - b, c, z)
            out[bad] = np.sign(euler) * np.exp(
                np.log(np.abs(euler)) + (c - a - b) * np.log1p(-z) + s
            )
    return out


def _a_away_from_one(a: float) -> float:
    """The closed forms divide by a - 1; at a == 1 exactly we step off by 1e-9."""
    return a if abs(a - 1.0) > 1e-9 else 1.0 + 1e-9


def expected_purchases(params: BGNBDParams, t: ArrayLike) -> NDArray[np.float64]:
    """E[X(t)]: purchases in (0, t] by a newly acquired customer (paper eq. 7)."""
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    ta = np.asarray(t, dtype=np.float64)
    z = ta / (alpha + ta)
    ones = np.ones_like(ta)
    scaled = _hyp2f1_scaled(
        r * ones, b * ones, (a + b - 1) * ones, z, r * np.log(alpha / (alpha + ta))
    )
    return (a + b - 1) / (a - 1) * (1 - scaled)


def conditional_expected_purchases(
    params: BGNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """E[Y(t) | x, t_x, T]: purchases in the next t time units (paper eq. 10)."""
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    xa, ta, Ta = as_history(x, t_x, T)
    tt = np.broadcast_to(np.asarray(t, dtype=np.float64), xa.shape)
    z = tt / (alpha + Ta + tt)
    log_scale = (r + xa) * np.log((alpha + Ta) / (alpha + Ta + tt))
    bracket = 1 - _hyp2f1_scaled(r + xa, b + xa, a + b + xa - 1, z, log_scale)
    numerator = (a + b + xa - 1) / (a - 1) * bracket
    return numerator * probability_alive(params, xa, ta, Ta)


def probability_alive(
    params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """P(still a customer | x, t_x, T) (Fader, Hardie & Lee, note 021); 1 when x = 0."""
    from scipy.special import expit

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    xa, ta, Ta = as_history(x, t_x, T)
    log_odds_dead = (r + xa) * np.log((alpha + Ta) / (alpha + ta)) + np.log(
        a / (b + np.maximum(xa, 1) - 1)
    )
    return np.where(xa > 0, expit(-log_odds_dead), 1.0)
