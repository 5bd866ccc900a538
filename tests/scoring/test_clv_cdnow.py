"""Reproduce the published CDNOW results for Gamma-Gamma (within 1%), and lifetime value on
CDNOW through the modified BG/NBD (whose own reference fit is in test_mbgnbd_cdnow.py).

Data: tests/data/cdnow_customers_summary_with_transactions.csv (see README there):
2,357 customers, 39-week calibration, 946 repeat buyers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring.clv import (
    CLVSettings,
    GammaGammaParams,
    estimate_clv,
    fit_gamma_gamma,
    gamma_gamma_loglik,
    probability_alive,
)

DATA = (
    Path(__file__).resolve().parents[1] / "data" / "cdnow_customers_summary_with_transactions.csv"
)
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    table = np.genfromtxt(DATA, delimiter=",", names=True)
    return {name: np.asarray(table[name], dtype=float) for name in ("x", "t_x", "T", "zbar")}


def test_dataset_is_the_published_cohort(cdnow: dict[str, np.ndarray]) -> None:
    """2,357 customers, of whom 946 made a repeat purchase; calibration 39 weeks."""
    assert cdnow["x"].size == 2357
    assert int((cdnow["x"] > 0).sum()) == 946
    assert cdnow["T"].max() <= 39.0


def test_gamma_gamma_parameters_within_1_percent(cdnow: dict[str, np.ndarray]) -> None:
    """Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note 025), on
    the 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44."""
    fit = fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert fit.fitted and fit.params is not None
    assert fit.support.n_repeat_buyers == 946
    for name, published in PUBLISHED_GG.items():
        assert getattr(fit.params, name) == pytest.approx(published, rel=0.01), name
    # the fit is at least as likely as the published (rounded) parameters
    published_ll = gamma_gamma_loglik(GammaGammaParams(**PUBLISHED_GG), cdnow["x"], cdnow["zbar"])
    assert fit.loglik is not None and fit.loglik >= published_ll - 1e-6


def test_one_time_buyers_chance_active_is_the_models(cdnow: dict[str, np.ndarray]) -> None:
    """Lifetime value on CDNOW uses the modified BG/NBD fitted on the data: a one-time
    buyer's chance still active is the model's posterior (below 1, lower the longer the
    silence), not a population rule; every customer is labelled "mbg_nbd"."""
    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    result = estimate_clv(x, t_x, T, cdnow["zbar"], CLVSettings(margin=0.3, discount_rate=0.01))
    assert result.purchases_method == "mbg_nbd" and result.model_based
    assert result.purchases_fit.params == result.purchases_params
    assert result.p_alive == pytest.approx(probability_alive(result.purchases_params, x, t_x, T))
    one_time = x == 0
    assert (result.p_alive[one_time] < 1).all()
    longest = one_time & (T[one_time].max() == T)
    shortest = one_time & (T[one_time].min() == T)
    assert result.p_alive[longest].max() < result.p_alive[shortest].min()
    assert set(result.methods.tolist()) == {"mbg_nbd"}
