"""Modified BG/NBD (Batislam, Denizel & Filiztekin 2007), fitted by MLE.

As BG/NBD (``scoring.clv.bgnbd``: purchases at a Poisson rate lambda ~ Gamma(r, alpha),
dropout with probability p ~ Beta(a, b)), except that a customer may also drop out right
after the first purchase, before any repeat one. So a one-time buyer silent for long is
probably gone (BG/NBD's P(alive) is 1 for every one-time buyer however long ago).

Per customer (x repeat purchases, t_x time of the last after the first, T time since the
first), with B the Beta function:

    L = B(a, b + x + 1) / B(a, b) * Gamma(r + x) alpha^r / Gamma(r) / (alpha + T)^(r + x)
        * [1 + a / (b + x) * ((alpha + T) / (alpha + t_x))^(r + x)]

    P(alive) = 1 / [1 + a / (b + x) * ((alpha + T) / (alpha + t_x))^(r + x)]

    E[Y(t) | x, t_x, T] = (a + b + x) / (a - 1)
        * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
               * 2F1(r + x, b + x + 1; a + b + x; t / (alpha + T + t))] * P(alive)

The reference fit on CDNOW (2,357 customers, 39 weeks; BTYDplus ``mbgnbd``, the same
numbers in ``lifetimes``' tests): r = 0.525, alpha = 6.183, a = 0.891, b = 1.614.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, gammaln

from scoring.clv._mle import WEAK_REASON, as_history, compress_rows, maximise
from scoring.clv.bgnbd import BGNBDFit, BGNBDParams, _a_away_from_one, _hyp2f1_scaled
from scoring.clv.status import DataSupport, FitStatus

MBGNBDParams = BGNBDParams  # the same four parameters, read by the modified model


def _neg_mean_loglik(
    log_params: NDArray[np.float64],
    x: NDArray[np.float64],
    t_x: NDArray[np.float64],
    T: NDArray[np.float64],
    w: NDArray[np.float64],
) -> float:
    r, alpha, a, b = np.exp(log_params)
    head = (
        gammaln(a + b)
        + gammaln(b + x + 1)
        - gammaln(b)
        - gammaln(a + b + x + 1)
        + gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        - (r + x) * np.log(alpha + T)
    )
    dropped = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    ll = head + np.logaddexp(0.0, dropped)
    return float(-(w * ll).sum() / w.sum())


def mbgnbd_loglik(params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> float:
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
) -> BGNBDFit:
    """Fit r, alpha, a, b by maximum likelihood (the same refusals as ``fit_bgnbd``)."""
    xa, ta, Ta = as_history(x, t_x, T)
    support = DataSupport(n_customers=int(xa.size), n_repeat_buyers=int((xa > 0).sum()))
    refused = _refusal(xa, Ta, support, min_repeat_buyers)
    if refused is not None:
        return BGNBDFit(None, None, refused[0], refused[1], support)
    (xu, tu, Tu), w, _ = compress_rows(xa, ta, Ta)

    def objective(log_params: NDArray[np.float64]) -> float:
        return _neg_mean_loglik(log_params, xu, tu, Tu, w)

    best = maximise(objective, np.zeros(4), float(w.sum()))
    if not best.converged or best.at_edge:  # try again from a scale-aware start
        start = np.array([0.0, np.log(max(float(Ta.mean()), 1e-3)), 0.0, 0.0])
        other = maximise(objective, start, float(w.sum()))
        if (other.converged, other.loglik) > (best.converged, best.loglik):
            best = other
    if not best.converged:
        status, reason = FitStatus.NOT_CONVERGED, f"optimiser did not converge: {best.message}"
        return BGNBDFit(None, None, status, reason, support)
    params = BGNBDParams(*(float(v) for v in best.params))
    status = FitStatus.WEAKLY_IDENTIFIED if best.at_edge else FitStatus.FITTED
    return BGNBDFit(params, best.loglik, status, WEAK_REASON if best.at_edge else "ok", support)


def mbgnbd_probability_alive(
    params: BGNBDParams, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """P(still a customer | x, t_x, T), one-time buyers included (module doc)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    xa, ta, Ta = as_history(x, t_x, T)
    log_odds_dead = np.log(a / (b + xa)) + (r + xa) * np.log((alpha + Ta) / (alpha + ta))
    return expit(-log_odds_dead)


def mbgnbd_conditional_expected_purchases(
    params: BGNBDParams, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> NDArray[np.float64]:
    """E[Y(t) | x, t_x, T]: purchases in the next t time units (module doc)."""
    r, alpha, b = params.r, params.alpha, params.b
    a = _a_away_from_one(params.a)
    xa, ta, Ta = as_history(x, t_x, T)
    tt = np.broadcast_to(np.asarray(t, dtype=np.float64), xa.shape)
    z = tt / (alpha + Ta + tt)
    log_scale = (r + xa) * np.log((alpha + Ta) / (alpha + Ta + tt))
    bracket = 1 - _hyp2f1_scaled(r + xa, b + xa + 1, a + b + xa, z, log_scale)
    return (a + b + xa) / (a - 1) * bracket * mbgnbd_probability_alive(params, xa, ta, Ta)
