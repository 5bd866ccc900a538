"""Gamma-Gamma model of average purchase value (Fader, Hardie & Lee 2005; note 025).

A customer's purchase values are Gamma(p, nu) with nu ~ Gamma(q, gamma) across
customers. Fitted on repeat buyers (x > 0) from x and their mean value zbar; the
expected average value of a customer shrinks their own mean towards the
population mean, more strongly the fewer purchases we have seen. The model
assumes value and frequency are independent; it needs q > 1 for a finite mean.

Money is handled as float here (statistics on averages); the bot converts from
Decimal at the boundary and back when storing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring.clv._mle import WEAK_REASON, compress_rows, maximise
from scoring.clv.status import DataSupport, Fit, FitStatus


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        """E[value] for a customer we know nothing about: p * gamma / (q - 1)."""
        return self.p * self.gamma / (self.q - 1)


GammaGammaFit = Fit[GammaGammaParams]  # what ``fit_gamma_gamma`` returns


def _as_spend(x: ArrayLike, mean_value: ArrayLike) -> tuple[NDArray, NDArray]:
    xa = np.asarray(x, dtype=np.float64)
    ma = np.asarray(mean_value, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != ma.shape:
        raise ValueError("x and mean_value must be 1-D arrays of equal length")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ma))):
        raise ValueError("x and mean_value must be finite")
    if np.any(xa < 0) or np.any(xa != np.floor(xa)):
        raise ValueError("x must be non-negative integers")
    return xa, ma


def _neg_mean_loglik(log_params: NDArray[np.float64], x: NDArray, m: NDArray, w: NDArray) -> float:
    from scipy.special import gammaln  # loaded with the first fit, not at start-up

    p, q, g = np.exp(log_params)
    px = p * x
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + g)
    )
    return float(-(w * ll).sum() / w.sum())


def gamma_gamma_loglik(params: GammaGammaParams, x: ArrayLike, mean_value: ArrayLike) -> float:
    """Total log-likelihood of repeat buyers' mean values under given parameters."""
    xa, ma = _as_spend(x, mean_value)
    keep = (xa > 0) & (ma > 0)
    log_params = np.log([params.p, params.q, params.gamma])
    w = np.ones(int(keep.sum()))
    return -_neg_mean_loglik(log_params, xa[keep], ma[keep], w) * w.size


def fit_gamma_gamma(
    x: ArrayLike, mean_value: ArrayLike, *, min_repeat_buyers: int = 10
) -> GammaGammaFit:
    """Fit p, q, gamma on customers with x > 0 and a positive mean value."""
    xa, ma = _as_spend(x, mean_value)
    keep = (xa > 0) & (ma > 0)
    support = DataSupport(n_customers=int(xa.size), n_repeat_buyers=int(keep.sum()))

    def refuse(status: FitStatus, reason: str) -> GammaGammaFit:
        return GammaGammaFit(None, None, status, reason, support)

    if xa.size == 0:
        return refuse(FitStatus.NO_DATA, "no customers")
    if support.n_repeat_buyers == 0:
        return refuse(FitStatus.NO_REPEAT_BUYERS, "no repeat buyer with a positive value")
    if support.n_repeat_buyers < min_repeat_buyers:
        return refuse(
            FitStatus.TOO_FEW_REPEAT_BUYERS,
            f"{support.n_repeat_buyers} repeat buyers, fewer than {min_repeat_buyers}",
        )
    (xu, mu), w, _ = compress_rows(xa[keep], ma[keep])

    def objective(log_params: NDArray[np.float64]) -> float:
        return _neg_mean_loglik(log_params, xu, mu, w)

    opt = maximise(objective, np.zeros(3), float(w.sum()))
    if not opt.converged:
        return refuse(FitStatus.NOT_CONVERGED, f"optimiser did not converge: {opt.message}")
    params = GammaGammaParams(*(float(v) for v in opt.params))
    if params.q <= 1:
        return GammaGammaFit(
            params,
            opt.loglik,
            FitStatus.UNUSABLE_PARAMETERS,
            f"q = {params.q:.3g} <= 1: the population mean value is not finite",
            support,
        )
    status = FitStatus.WEAKLY_IDENTIFIED if opt.at_edge else FitStatus.FITTED
    reason = WEAK_REASON if opt.at_edge else "ok"
    return GammaGammaFit(params, opt.loglik, status, reason, support)


def expected_average_value(
    params: GammaGammaParams, x: ArrayLike, mean_value: ArrayLike
) -> NDArray[np.float64]:
    """E[value | x, zbar] (note 025, eq. 5): weighted mix of own mean and population mean.

    Customers with x = 0 (or no positive mean) get the population mean.
    """
    xa, ma = _as_spend(x, mean_value)
    own = (xa > 0) & (ma > 0)
    weight = np.where(own, params.p * xa / (params.p * xa + params.q - 1), 0.0)
    return (1 - weight) * params.population_mean + weight * np.where(own, ma, 0.0)
