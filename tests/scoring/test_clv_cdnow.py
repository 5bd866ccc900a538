"""Reproduce the published CDNOW results for BG/NBD and Gamma-Gamma (within 1%).

Data: tests/data/cdnow_customers_summary_with_transactions.csv (see README there):
2,357 customers, 39-week calibration, 946 repeat buyers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring.clv import (
    BGNBDParams,
    CLVSettings,
    GammaGammaParams,
    bgnbd_loglik,
    conditional_expected_purchases,
    estimate_clv,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_loglik,
    probability_alive,
)

DATA = (
    Path(__file__).resolve().parents[1] / "data" / "cdnow_customers_summary_with_transactions.csv"
)
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
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


def test_bgnbd_parameters_within_1_percent(cdnow: dict[str, np.ndarray]) -> None:
    """Fader, Hardie & Lee (2005), Marketing Science 24(2): r = 0.243, alpha = 4.414,
    a = 0.793, b = 2.426, LL = -9582.4. Seed 003 asks for lifetime value ("Компания
    обязательно должна уметь оценивать жизненную ценность клиентов"); this is the
    purchase model under it."""
    fit = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert fit.fitted and fit.status == "fitted" and fit.params is not None
    for name, published in PUBLISHED_BGNBD.items():
        assert getattr(fit.params, name) == pytest.approx(published, rel=0.01), name
    assert fit.loglik == pytest.approx(-9582.4, rel=0.01)
    assert fit.loglik == pytest.approx(-9582.4, abs=0.5)  # in fact much closer
    assert (fit.support.n_customers, fit.support.n_repeat_buyers) == (2357, 946)


def test_loglik_at_published_parameters(cdnow: dict[str, np.ndarray]) -> None:
    """An independent check of the likelihood formula: at the paper's parameters the
    log-likelihood is the paper's -9582.4 (to the rounding of the parameters)."""
    ll = bgnbd_loglik(BGNBDParams(**PUBLISHED_BGNBD), cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert ll == pytest.approx(-9582.4, abs=0.5)


def test_conditional_expectation_1_226(cdnow: dict[str, np.ndarray]) -> None:
    """The paper's worked example: a customer with x = 2, t_x = 30.43, T = 38.86 is
    expected to make 1.226 purchases in the next 39 weeks."""
    fit = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert fit.params is not None
    for params in (fit.params, BGNBDParams(**PUBLISHED_BGNBD)):
        value = conditional_expected_purchases(params, 39.0, [2], [30.43], [38.86])
        assert value[0] == pytest.approx(1.226, rel=0.01)


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


def test_one_time_buyers_chance_active_is_the_populations(cdnow: dict[str, np.ndarray]) -> None:
    """BG/NBD lets customers drop out only after a repeat purchase, so its P(alive) is 1
    for every one-time buyer, however long ago. The fitted model keeps its expected
    purchases, but their chance still active is the population estimate exp(-rate * T),
    rate = every purchase (first ones included) over all observed weeks, and is labelled
    "bg_nbd+population"; repeat buyers keep the model's P(alive) ("bg_nbd")."""
    x, t_x, T = cdnow["x"], cdnow["t_x"], cdnow["T"]
    result = estimate_clv(x, t_x, T, cdnow["zbar"], CLVSettings(margin=0.3, discount_rate=0.01))
    assert result.purchases_method == "bg_nbd"
    one_time = x == 0
    rate = (x.sum() + x.size) / T.sum()
    assert np.allclose(result.p_alive[one_time], np.exp(-rate * T[one_time]))
    assert (result.p_alive[one_time] < 1).all()
    assert set(result.methods[one_time].tolist()) == {"bg_nbd+population"}
    assert set(result.methods[~one_time].tolist()) == {"bg_nbd"}
    assert result.p_alive[~one_time] == pytest.approx(
        probability_alive(result.purchases_fit.params, x[~one_time], t_x[~one_time], T[~one_time])
    )
