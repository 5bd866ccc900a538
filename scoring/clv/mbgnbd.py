"""Modified BG/NBD (Batislam, Denizel & Filiztekin 2007), fitted by MLE: the purchase model.

Each customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) and, at the
first purchase and after each later one, drops out with probability p ~ Beta(a, b).
(BG/NBD, Fader, Hardie & Lee 2005, lets a customer drop out only after a *repeat*
purchase, so its P(alive) is 1 for every one-time buyer however long ago; this model
does not.) Inputs per customer: x = repeat purchases, t_x = time of the last purchase
after the first, T = time since the first purchase (any unit; predictions come out in
the same unit). With B the Beta function:

    L = B(a, b + x + 1) / B(a, b) * Gamma(r + x) alpha^r / Gamma(r) / (alpha + T)^(r + x)
        * [1 + a / (b + x) * ((alpha + T) / (alpha + t_x))^(r + x)]

    P(alive) = 1 / [1 + a / (b + x) * ((alpha + T) / (alpha + t_x))^(r + x)]

    E[Y(t) | x, t_x, T] = (a + b + x) / (a - 1)
        * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
               * 2F1(r + x, b + x + 1; a + b + x; t / (alpha + T + t))] * P(alive)

A new customer (x = t_x = T = 0) is expected to make E[X(t)] = b / (a - 1) * [1 -
(alpha / (alpha + t))^r 2F1(r, b + 1; a + b; t / (alpha + t))] more purchases.

The reference fit on CDNOW (2,357 customers, 39 weeks; BTYDplus ``mbgnbd``, the same
numbers in ``lifetimes``' tests): r = 0.525, alpha = 6.183, a = 0.891, b = 1.614.
Parameters are searched in log space with scipy's L-BFGS-B (``scoring.clv._mle``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.clv._mle import WEAK_REASON, as_history, compress_rows, maximise
from scoring.clv.status import DataSupport, Fit, FitStatus


@dataclass(frozen=True)
class MBGNBDParams:
    r: float
    alpha: float
    a: float
    b: float

    @property
    def retention(self) -> float:
        """The mean chance of staying after a purchase, 1 - E[p] = b / (a + b)."""
        return self.b / (self.a + self.b)


MBGNBDFit = Fit[MBGNBDParams]  # what ``fit_mbgnbd`` returns

# The reference fit on CDNOW in weeks (module doc); its shape (r, a, b) and its rate per
# day are the fallback's prior when a business has too few repeat buyers to fit its own.
REFERENCE = MBGNBDParams(r=0.525, alpha=6.183, a=0.891, b=1.614)
REFERENCE_ALPHA_DAYS = REFERENCE.alpha * 7.0


def _neg_mean_loglik(
    log_params: NDArray[np.float64],
    x: NDArray[np.float64],
    t_x: NDArray[np.float64],
    T: NDArray[np.float64],
    w: NDArray[np.float64],
    by_x: tuple[NDArray[np.float64], NDArray[np.intp]] | None = None,
) -> float:
    """Minus the mean log-likelihood; ``by_x`` (distinct x, each row's index into them)
    lets the terms that depend on x alone be computed once per distinct x."""
    from scipy.special import gammaln  # scipy loads with the first fit, not at start-up

    r, alpha, a, b = np.exp(log_params)
    x_unique, x_index = by_x if by_x is not None else (x, np.arange(x.size))
    per_x = (gammaln(b + x_unique + 1) - gammaln(a + b + x_unique + 1) + gammaln(r + x_unique))[
        x_index
    ]
    head = (
        gammaln(a + b) - gammaln(b) - gammaln(r) + r * np.log(alpha)
        + per_x - (r + x) * np.log(alpha + T)
    )  # fmt: skip
    dropped = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    ll = head + np.logaddexp(0.0, dropped)
    return float(-(w * ll).sum() / w.sum())


def _neg_mean_gradient(
    log_params: NDArray[np.float64],
    x: NDArray[np.float64],
    t_x: NDArray[np.float64],
    T: NDArray[np.float64],
    w: NDArray[np.float64],
    by_x: tuple[NDArray[np.float64], NDArray[np.intp]],
) -> NDArray[np.float64]:
    """The gradient of ``_neg_mean_loglik`` in the log-parameters (psi: digamma; s: the
    chance the customer dropped out at the last purchase, given the data)."""
    from scipy.special import digamma, expit

    r, alpha, a, b = np.exp(log_params)
    x_unique, x_index = by_x
    log_T, log_tx = np.log(alpha + T), np.log(alpha + t_x)
    s = expit(np.log(a) - np.log(b + x) + (r + x) * (log_T - log_tx))
    psi_ab_x = digamma(a + b + x_unique + 1)[x_index]
    d_r = (
        digamma(r + x_unique)[x_index] - digamma(r) + np.log(alpha) - log_T
        + s * (log_T - log_tx)
    )  # fmt: skip
    d_alpha = (
        r / alpha - (r + x) / (alpha + T) + s * (r + x) * (1 / (alpha + T) - 1 / (alpha + t_x))
    )
    d_a = digamma(a + b) - psi_ab_x + s / a
    d_b = digamma(a + b) - digamma(b) + digamma(b + x_unique + 1)[x_index] - psi_ab_x - s / (b + x)
    per_row = np.stack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return -(per_row @ w) / w.sum()


def mbgnbd_loglik(params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> float:
    """Total log-likelihood of the data under given parameters."""
    xa, ta, Ta = as_history(x, t_x, T)
    log_params = np.log([params.r, params.alpha, params.a, params.b])
    return -_neg_mean_loglik(log_params, xa, ta, Ta, np.ones_like(xa)) * xa.size


def _refusal(
    xa: NDArray[np.float64], Ta: NDArray[np.float64], support: DataSupport, min_repeat_buyers: int
) -> tuple[FitStatus, str] | None:
    if xa.size == 0:
        return FitStatus.NO_DATA, "no customers"
    if not np.any(Ta > 0):
        return FitStatus.NO_OBSERVATION_TIME, "every customer first bought at the cut-off"
    if support.n_repeat_buyers == 0:
        return FitStatus.NO_REPEAT_BUYERS, "nobody has bought twice yet"
    if support.n_repeat_buyers < min_repeat_buyers:
        return (
            FitStatus.TOO_FEW_REPEAT_BUYERS,
            f"{support.n_repeat_buyers} repeat buyers, fewer than {min_repeat_buyers}",
        )
    return None


def fit_mbgnbd(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, min_repeat_buyers: int = 10
) -> MBGNBDFit:
    """Fit r, alpha, a, b by maximum likelihood; thin or degenerate data are flagged.

    Below ``min_repeat_buyers`` customers with x > 0 the dropout process cannot be
    estimated and the fit is refused (status says why) rather than guessed.
    """
    xa, ta, Ta = as_history(x, t_x, T)
    support = DataSupport(n_customers=int(xa.size), n_repeat_buyers=int((xa > 0).sum()))
    refused = _refusal(xa, Ta, support, min_repeat_buyers)
    if refused is not None:
        return MBGNBDFit(None, None, refused[0], refused[1], support)
    (xu, tu, Tu), w, _ = compress_rows(xa, ta, Ta)
    by_x = np.unique(xu, return_inverse=True)

    def objective(log_params: NDArray[np.float64]) -> float:
        return _neg_mean_loglik(log_params, xu, tu, Tu, w, by_x)

    def gradient(log_params: NDArray[np.float64]) -> NDArray[np.float64]:
        return _neg_mean_gradient(log_params, xu, tu, Tu, w, by_x)

    best = maximise(objective, np.zeros(4), float(w.sum()), gradient)
    if not best.converged or best.at_edge:  # try again from a scale-aware start
        start = np.array([0.0, np.log(max(float(Ta.mean()), 1e-3)), 0.0, 0.0])
        other = maximise(objective, start, float(w.sum()), gradient)
        if (other.converged, other.loglik) > (best.converged, best.loglik):
            best = other
    if not best.converged:
        status, reason = FitStatus.NOT_CONVERGED, f"optimiser did not converge: {best.message}"
        return MBGNBDFit(None, None, status, reason, support)
    params = MBGNBDParams(*(float(v) for v in best.params))
    status = FitStatus.WEAKLY_IDENTIFIED if best.at_edge else FitStatus.FITTED
    return MBGNBDFit(params, best.loglik, status, WEAK_REASON if best.at_edge else "ok", support)


def prior_params(x: ArrayLike, T: ArrayLike) -> MBGNBDParams:
    """The fallback when the business's own fit is refused: the reference fit's shape
    (r, a, b) with the time scale alpha (days) set so the mean purchase rate r / alpha is
    the business's pooled repeat rate, shrunk to the reference's rate per day:

        r / alpha = (sum(x) + r) / (sum(T) + alpha_ref)

    (a Gamma prior of the reference's rate updated with all repeat purchases over all
    days observed). A new business starts near the reference; one whose customers have
    been watched for long without repeating drifts towards zero."""
    xa = np.asarray(x, dtype=np.float64)
    Ta = np.asarray(T, dtype=np.float64)
    r = REFERENCE.r
    rate = (float(xa.sum()) + r) / (float(Ta.sum()) + REFERENCE_ALPHA_DAYS)
    return MBGNBDParams(r=r, alpha=r / rate, a=REFERENCE.a, b=REFERENCE.b)


def _hyp2f1_scaled(
    a: NDArray, b: NDArray, c: NDArray, z: NDArray, log_scale: NDArray
) -> NDArray[np.float64]:
    """2F1(a, b; c; z) * exp(log_scale) for 0 <= z < 1, without overflow.

    The sign is kept (2F1 can be negative for c < 0), and Euler's transform 2F1 =
    (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z) takes over where the direct series
    overflows for heavy buyers.
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


def probability_alive(
    params: MBGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """P(still a customer | x, t_x, T), one-time buyers included (module doc)."""
    from scipy.special import expit

    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    xa, ta, Ta = as_history(x, t_x, T)
    log_odds_dead = np.log(a / (b + xa)) + (r + xa) * np.log((alpha + Ta) / (alpha + ta))
    return expit(-log_odds_dead)


def conditional_expected_purchases(
    params: MBGNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """E[Y(t) | x, t_x, T]: purchases in the next t time units (module doc)."""
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    xa, ta, Ta = as_history(x, t_x, T)
    tt = np.broadcast_to(np.asarray(t, dtype=np.float64), xa.shape)
    z = tt / (alpha + Ta + tt)
    log_scale = (r + xa) * np.log((alpha + Ta) / (alpha + Ta + tt))
    bracket = 1 - _hyp2f1_scaled(r + xa, b + xa + 1, a + b + xa, z, log_scale)
    return (a + b + xa) / (a - 1) * bracket * probability_alive(params, xa, ta, Ta)


def expected_purchases(params: MBGNBDParams, t: ArrayLike) -> NDArray[np.float64]:
    """E[X(t)]: further purchases in (0, t] by a customer who just made their first."""
    ta = np.atleast_1d(np.asarray(t, dtype=np.float64))
    zeros = np.zeros(ta.shape)
    return conditional_expected_purchases(params, ta, zeros, zeros, zeros)
