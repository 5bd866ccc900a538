"""Modified BG/NBD (Batislam, Denizel & Filiztekin 2007) on CDNOW: customers may drop out
before a repeat purchase, so a one-time buyer's P(alive) is below 1 (issue 21, item 10).

Reference fit: BTYDplus ``mbgnbd`` on the 2,357 CDNOW customers (the numbers ``lifetimes``
tests against): r = 0.525, alpha = 6.183, a = 0.891, b = 1.614.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring.clv.mbgnbd import REFERENCE as REFERENCE_PARAMS
from scoring.clv.mbgnbd import (
    MBGNBDParams,
    conditional_expected_purchases,
    expected_purchases,
    fit_mbgnbd,
    mbgnbd_loglik,
    probability_alive,
)

DATA = (
    Path(__file__).resolve().parents[1] / "data" / "cdnow_customers_summary_with_transactions.csv"
)
REFERENCE = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    table = np.genfromtxt(DATA, delimiter=",", names=True)
    return {name: np.asarray(table[name], dtype=float) for name in ("x", "t_x", "T")}


def test_mbgnbd_reproduces_the_reference_fit_within_1_percent(cdnow: dict) -> None:
    """Seed 003: «неприбыльные сегодня клиенты могут стать прибыльными завтра. Необходимо
    выявить … вероятность изменения ситуации в будущем»: the chance a customer is still
    active, from a model fitted on the business's own history."""
    fit = fit_mbgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert fit.fitted and fit.params is not None
    for name, reference in REFERENCE.items():
        assert getattr(fit.params, name) == pytest.approx(reference, rel=0.01), name
    at_reference = mbgnbd_loglik(MBGNBDParams(**REFERENCE), cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert fit.loglik is not None and fit.loglik >= at_reference - 1e-6


def test_one_time_buyers_can_be_gone() -> None:
    """BG/NBD's P(alive) is 1 for every one-time buyer; here it falls with the silence,
    and at T = 0 it is b / (a + b) (the chance of not dropping out after the first)."""
    p = MBGNBDParams(**REFERENCE)
    alive = probability_alive(p, [0, 0, 0], [0, 0, 0], [0.0, 10.0, 39.0])
    assert alive[0] == pytest.approx(REFERENCE["b"] / (REFERENCE["a"] + REFERENCE["b"]))
    assert alive[0] > alive[1] > alive[2] > 0


def test_new_customer_expectation_is_the_unconditional_one() -> None:
    """At x = t_x = T = 0 the conditional expectation is Batislam's E[X(t)] =
    b / (a - 1) * [1 - (alpha / (alpha + t))^r 2F1(r, b + 1; a + b; t / (alpha + t))]."""
    from scipy.special import hyp2f1

    r, alpha, a, b = REFERENCE.values()
    t = np.array([1.0, 13.0, 39.0, 78.0])
    expected = (
        b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b + 1, a + b, t / (alpha + t)))
    )
    got = conditional_expected_purchases(MBGNBDParams(**REFERENCE), t, *np.zeros((3, 4)))
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_allclose(expected_purchases(MBGNBDParams(**REFERENCE), t), expected)


def test_the_fallback_prior_is_the_reference_fit() -> None:
    """The constants the fallback borrows are the reference fit this file reproduces."""
    assert MBGNBDParams(**REFERENCE) == REFERENCE_PARAMS


@pytest.mark.parametrize(
    "log_params", [np.log(list(REFERENCE.values())), np.zeros(4), np.array([1.0, -1.0, 0.5, 2.0])]
)
def test_the_fits_gradient_is_the_likelihoods(cdnow: dict, log_params: np.ndarray) -> None:
    """The analytic gradient the optimiser uses agrees with finite differences."""
    from scipy.optimize import approx_fprime

    from scoring.clv._mle import compress_rows
    from scoring.clv.mbgnbd import _neg_mean_gradient, _neg_mean_loglik

    (x, t_x, T), w, _ = compress_rows(cdnow["x"], cdnow["t_x"], cdnow["T"])
    by_x = np.unique(x, return_inverse=True)
    numeric = approx_fprime(log_params, lambda p: _neg_mean_loglik(p, x, t_x, T, w, by_x), 1e-7)
    exact = _neg_mean_gradient(log_params, x, t_x, T, w, by_x)
    np.testing.assert_allclose(exact, numeric, rtol=1e-3, atol=1e-7)
