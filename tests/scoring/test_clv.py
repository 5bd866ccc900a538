"""Modified BG/NBD and Gamma-Gamma formulas, CLV as NPV (seed 003), the fallback for thin
histories, and CLV monotone in purchases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import betaln, hyp2f1
from scipy.stats import beta as beta_dist

from scoring.clv import (
    CLVSettings,
    FitStatus,
    GammaGammaParams,
    MBGNBDParams,
    conditional_expected_purchases,
    estimate_clv,
    expected_average_value,
    expected_purchases,
    fit_gamma_gamma,
    fit_mbgnbd,
    npv_of_purchases,
    prior_params,
    probability_alive,
    purchases_per_period,
)
from scoring.clv.mbgnbd import REFERENCE, REFERENCE_ALPHA_DAYS
from tests.scoring._mbgnbd_sim import simulate_mbgnbd

CDNOW = MBGNBDParams(r=0.525, alpha=6.183, a=0.891, b=1.614)
PARAMS = [
    CDNOW,
    MBGNBDParams(r=1.1, alpha=97.0, a=0.25, b=0.6),  # a + b < 1
    MBGNBDParams(r=0.8, alpha=60.0, a=3.0, b=5.0),
]


def unconditional_by_quadrature(p: MBGNBDParams, t: float) -> float:
    """E[X(t)] straight from the model: a customer stays after the first purchase with
    chance 1 - p and then buys at rate lambda until a purchase after which they drop
    out, so E = (1 - p) (1 - e^{-lambda p t}) / p; averaging over lambda ~ Gamma(r,
    alpha) gives (1 - p) / p * (1 - (alpha / (alpha + p t))^r); then over p ~ Beta(a, b)
    numerically."""

    def integrand(q: float) -> float:
        gap = 1 - (p.alpha / (p.alpha + q * t)) ** p.r
        return (1 - q) / q * gap * beta_dist.pdf(q, p.a, p.b)

    return quad(integrand, 0, 1, limit=200)[0]


def posterior_by_quadrature(
    p: MBGNBDParams, t: float, x: int, t_x: float, T: float
) -> tuple[float, float]:
    """(E[Y(t) | x, t_x, T], P(alive)) by Bayes' rule with the lambda integrals done in
    closed form (gamma moments) and the p integral numerically: the likelihood is
    (1-p)^(x+1) lambda^x e^{-lambda T} [alive] + p (1-p)^x lambda^x e^{-lambda t_x}
    [dropped out at the last purchase, the first one included]."""
    k = p.r + x  # every term below is scaled by (alpha + T)^k to keep it near 1

    def alive_part(q: float) -> float:
        return (1 - q) ** (x + 1) * beta_dist.pdf(q, p.a, p.b)

    alive = quad(alive_part, 0, 1, limit=200, epsabs=0, epsrel=1e-9)[0]
    ratio = ((p.alpha + T) / (p.alpha + t_x)) ** k
    dead = np.exp(betaln(p.a + 1, p.b + x) - betaln(p.a, p.b)) * ratio

    def future(q: float) -> float:
        gap = 1 - ((p.alpha + T) / (p.alpha + T + q * t)) ** k
        return (1 - q) ** (x + 1) * gap / q * beta_dist.pdf(q, p.a, p.b)

    expected = quad(future, 0, 1, limit=200, epsabs=0, epsrel=1e-9)[0] / (alive + dead)
    return expected, alive / (alive + dead)


@pytest.mark.parametrize("params", PARAMS)
def test_unconditional_expectation_matches_the_model_by_quadrature(params: MBGNBDParams) -> None:
    for t in (1.0, 39.0, 365.0):
        assert expected_purchases(params, [t])[0] == pytest.approx(
            unconditional_by_quadrature(params, t), rel=1e-6
        )


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 20.0), (2, 30.43, 38.86), (7, 50.0, 300.0)])
def test_conditional_expectation_and_p_alive_match_bayes_by_quadrature(
    params: MBGNBDParams, x: int, t_x: float, T: float
) -> None:
    expected, alive = posterior_by_quadrature(params, 39.0, x, t_x, T)
    got = conditional_expected_purchases(params, 39.0, [x], [t_x], [T])[0]
    assert got == pytest.approx(expected, rel=1e-5)
    assert probability_alive(params, [x], [t_x], [T])[0] == pytest.approx(alive, rel=1e-6)


def test_p_alive_properties() -> None:
    """A one-time buyer can be gone (the modified model), the more likely the longer the
    silence; so can a repeat buyer."""
    alive = probability_alive(CDNOW, [0, 0, 3, 3, 3], [0, 0, 10.0, 10.0, 10.0], [5, 30, 11, 20, 38])
    assert 1.0 > alive[0] > alive[1] > 0.0
    assert 1.0 > alive[2] > alive[3] > alive[4] > 0.0


def test_heavy_buyer_does_not_overflow() -> None:
    """Past some x the direct 2F1 overflows and Euler's transform takes over; the
    expectation must continue smoothly (equal steps for equal steps in x)."""
    xs = np.arange(1000, 1401, 40)
    z = 39.0 / (CDNOW.alpha + 38.86 + 39.0)
    direct = hyp2f1(CDNOW.r + xs, CDNOW.b + xs + 1, CDNOW.a + CDNOW.b + xs, z)
    assert np.isfinite(direct[0]) and not np.isfinite(direct[-1])  # both branches used
    values = conditional_expected_purchases(CDNOW, 39.0, xs, np.full(11, 38.86), np.full(11, 38.86))
    assert np.all(np.isfinite(values))
    steps = np.diff(values)
    assert np.all(steps > 0)
    assert np.ptp(steps) < 1e-6 * values.mean()


def test_fit_recovers_simulated_parameters() -> None:
    """3,000 customers drawn from the model in days (r 0.8, alpha 40, a 1.5, b 4): the
    fit lands near the truth (sampling error, not a code constant)."""
    x, t_x, T = simulate_mbgnbd(3000, 0.8, 40.0, 1.5, 4.0, 365, seed=11)
    fit = fit_mbgnbd(x, t_x, T)
    assert fit.fitted and fit.params is not None
    assert fit.params.r == pytest.approx(0.8, rel=0.15)
    assert fit.params.alpha == pytest.approx(40.0, rel=0.2)
    assert fit.params.retention == pytest.approx(4.0 / 5.5, rel=0.1)


def test_gamma_gamma_expected_value_shrinks_to_population_mean() -> None:
    """Note 025: E[value | x, zbar] = (1 - w) * p*gamma/(q-1) + w * zbar with
    w = p x / (p x + q - 1). Published CDNOW parameters: population mean =
    6.25 * 15.44 / 2.74 = 35.219; x = 0 -> 35.219; x = 1, zbar = 100:
    w = 6.25 / 8.99 = 0.69522 -> 0.30478 * 35.219 + 0.69522 * 100 = 80.256."""
    params = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    assert params.population_mean == pytest.approx(35.219, rel=1e-4)
    value = expected_average_value(params, [0, 1], [0.0, 100.0])
    assert value == pytest.approx([35.219, 80.256], rel=1e-4)


def test_gamma_gamma_infinite_mean_is_flagged() -> None:
    """Very heavy-tailed values drive q below 1 (infinite mean): flagged, not used."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 4, 40).astype(float)
    values = np.exp(rng.normal(3.0, 2.5, 40))
    fit = fit_gamma_gamma(x, values)
    assert fit.status == FitStatus.UNUSABLE_PARAMETERS and not fit.fitted
    assert fit.converged and fit.params is not None and fit.params.q <= 1
    assert "q =" in fit.reason


def test_npv_with_zero_discount_telescopes_to_horizon_expectation() -> None:
    """Seed 003: "Жизненная ценность покупателя может быть определена как чистая
    приведенная стоимость чистого ожидаемого дохода в долгосрочном периоде". With a
    0% discount rate the per-period increments add up to E[Y(12 months)], so
    CLV = margin * value * E[Y(H)]; with a positive rate it is strictly less."""
    x, t_x, T = np.array([0, 2, 5.0]), np.array([0, 100, 300.0]), np.array([50, 200, 320.0])
    value = np.array([40.0, 60.0, 80.0])
    flat = CLVSettings(margin=0.25, discount_rate=0.0, horizon_periods=12, period_length=30.0)
    per_period = purchases_per_period(CDNOW, x, t_x, T, flat)
    total = conditional_expected_purchases(CDNOW, 360.0, x, t_x, T)
    assert per_period.sum(axis=1) == pytest.approx(total, rel=1e-9)
    assert npv_of_purchases(per_period, value, flat) == pytest.approx(0.25 * value * total)
    discounted = CLVSettings(margin=0.25, discount_rate=0.01, period_length=30.0)
    assert np.all(npv_of_purchases(per_period, value, discounted) < 0.25 * value * total)


def test_npv_hand_computed() -> None:
    """Two periods, 1 purchase each of value 100, margin 40%, cost 5 per purchase,
    10% per period: (0.4 * 100 - 5) * (1 / 1.1 + 1 / 1.21) = 35 * 1.7355 = 60.74."""
    s = CLVSettings(margin=0.4, discount_rate=0.1, horizon_periods=2, cost_per_purchase=5.0)
    got = npv_of_purchases(np.array([[1.0, 1.0]]), np.array([100.0]), s)
    assert got[0] == pytest.approx(35 * (1 / 1.1 + 1 / 1.21))


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="margin"):
        CLVSettings(margin=1.5, discount_rate=0.01)
    with pytest.raises(ValueError, match="discount_rate"):
        CLVSettings(margin=0.3, discount_rate=-0.1)
    with pytest.raises(ValueError, match="horizon"):
        CLVSettings(margin=0.3, discount_rate=0.01, horizon_periods=0)


SETTINGS = CLVSettings(margin=0.3, discount_rate=0.01, horizon_periods=12, period_length=30.0)


def assert_clean(result: object) -> None:
    for name in ("clv", "expected_purchases", "p_alive", "expected_value"):
        values = getattr(result, name)
        assert np.all(np.isfinite(values)), name
        assert np.all(values >= 0), name


def test_empty_history_is_flagged() -> None:
    result = estimate_clv([], [], [], [], SETTINGS)
    assert result.purchases_fit.status == FitStatus.NO_DATA
    assert result.value_fit.status == FitStatus.NO_DATA
    assert result.clv.size == 0 and not result.model_based


def test_prior_is_the_reference_shape_at_the_business_rate_hand_computed() -> None:
    """Too few repeat buyers to fit: the reference fit's r, a, b, and alpha such that
    r / alpha = (sum(x) + r) / (sum(T) + alpha_ref): 3 repeats over 240 days
    -> (3 + 0.525) / (240 + 43.281)."""
    got = prior_params([2, 1, 0, 0], [90.0, 100.0, 30.0, 20.0])
    rate = (3 + 0.525) / (240 + REFERENCE.alpha * 7)
    assert pytest.approx(43.281) == REFERENCE_ALPHA_DAYS
    assert (got.r, got.a, got.b) == (REFERENCE.r, REFERENCE.a, REFERENCE.b)
    assert got.r / got.alpha == pytest.approx(rate)


def test_single_customer_is_flagged_and_gets_the_prior() -> None:
    """One customer who has not bought twice: no repeat buyers, own average check, and
    the prior model (alpha = 0.525 / (0.525 / 83.281) = 83.281 days): a one-time buyer
    silent for 40 days is alive with 1 / (1 + a / b * ((alpha + 40) / alpha)^r), not
    100 % and not exp(-rate * T) (labelled "mbg_nbd_prior")."""
    result = estimate_clv([0], [0.0], [40.0], [250.0], SETTINGS)
    assert result.purchases_fit.status == FitStatus.NO_REPEAT_BUYERS
    assert result.purchases_method == "mbg_nbd_prior" and result.value_method == "own_average"
    assert result.methods.tolist() == ["mbg_nbd_prior"]
    assert result.expected_value.tolist() == [250.0]
    alpha = 40 + REFERENCE.alpha * 7
    odds = REFERENCE.a / REFERENCE.b * ((alpha + 40) / alpha) ** REFERENCE.r
    assert result.p_alive[0] == pytest.approx(1 / (1 + odds))
    assert result.clv[0] == pytest.approx(0.3 * 250 * result.discounted_purchases[0])
    assert result.clv[0] > 0
    assert (result.support.n_customers, result.support.n_repeat_buyers) == (1, 0)


def test_everyone_bought_today_is_flagged() -> None:
    """All on one day (T = 0): no observation time -> flagged; the prior still values
    each customer (a new business's first day), never NaN."""
    result = estimate_clv([0, 1, 0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [10.0, 20.0, 0.0], SETTINGS)
    assert result.purchases_fit.status == FitStatus.NO_OBSERVATION_TIME
    assert result.purchases_method == "mbg_nbd_prior"
    assert_clean(result)


def test_issue_example_one_time_buyer_never_above_a_two_visit_buyer() -> None:
    """Under 10 repeat buyers, a one-time buyer from 10 days ago was worth 1,173.82 and
    a two-visit buyer with the same recency and check 879.42. Now the two-visit buyer is
    worth at least as much, whether their first visit was 20 or 300 days earlier."""
    x = [0, 1, 1, 5, 0]
    t_x = [0.0, 20.0, 300.0, 40.0, 0.0]
    T = [10.0, 30.0, 310.0, 60.0, 200.0]
    check = [1000.0, 1000.0, 1000.0, 300.0, 500.0]
    result = estimate_clv(x, t_x, T, check, SETTINGS)
    assert result.purchases_method == "mbg_nbd_prior"  # 3 repeat buyers: the fallback
    assert result.clv[1] >= result.clv[0] and result.clv[2] >= result.clv[0]
    assert result.p_alive[0] < 1


def assert_monotone(result: object, x: np.ndarray, recency: np.ndarray, check: np.ndarray) -> None:
    clv = result.clv  # type: ignore[attr-defined]
    for i, j in itertools.permutations(range(x.size), 2):
        if recency[i] == recency[j] and check[i] == check[j] and x[i] > x[j]:
            assert clv[i] >= clv[j], (i, j)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 8),  # repeat purchases
            st.integers(0, 3),  # recency: one of a few values, so that customers share it
            st.integers(0, 300),  # days between the first and the last purchase
            st.sampled_from([100.0, 250.0]),  # check, also shared
        ),
        min_size=2,
        max_size=40,
    ),
    st.sampled_from([3, 10]),
)
def test_property_more_purchases_never_lower_clv(
    rows: list[tuple[int, int, int, float]], min_repeat_buyers: int
) -> None:
    """Of two customers with the same recency and check, the one with more purchases never
    gets a lower CLV: with the business's own fit and with the prior."""
    x = np.array([r[0] for r in rows], dtype=float)
    recency = np.array([(1, 10, 60, 200)[r[1]] for r in rows], dtype=float)
    t_x = np.where(x > 0, np.array([max(r[2], 1) for r in rows], dtype=float), 0.0)
    T = t_x + recency
    check = np.array([r[3] for r in rows])
    s = CLVSettings(margin=0.3, discount_rate=0.01, min_repeat_buyers=min_repeat_buyers)
    result = estimate_clv(x, t_x, T, check, s)
    assert_monotone(result, x, recency, check)
    assert_clean(result)


def test_small_business_of_50_customers_gets_a_labelled_answer() -> None:
    """50 customers (a new café's first months): every number finite, and the result
    says which method produced it and how many customers / repeat buyers it rests on."""
    x, t_x, T = simulate_mbgnbd(50, 0.8, 60.0, 0.5, 3.0, 365, seed=4)
    rng = np.random.default_rng(4)
    values = np.where(x > 0, rng.gamma(6.0, 10.0, 50), 0.0)
    result = estimate_clv(x, t_x, T, values, SETTINGS)
    assert_clean(result)
    assert result.support.n_customers == 50
    assert result.support.n_repeat_buyers == int((x > 0).sum())
    assert result.support.level() in {"low", "moderate"}
    assert (result.purchases_method == "mbg_nbd") == result.purchases_fit.fitted
    assert result.purchases_fit.reason


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),
            st.integers(0, 200),
            st.integers(0, 200),
            st.floats(0, 500, allow_nan=False),
        ),
        min_size=0,
        max_size=40,
    )
)
@example(rows=[(1, 0, 0, 0.0), (1, 0, 0, 0.0), (1, 0, 1, 0.0)])  # degenerate fit that overflowed
def test_property_any_small_history_gives_finite_labelled_clv(
    rows: list[tuple[int, int, int, float]],
) -> None:
    """Whatever a small business's history looks like, CLV is finite and non-negative
    and carries a method label — never NaN, never an exception."""
    x = np.array([r[0] for r in rows], dtype=float)
    T = np.array([max(r[1], r[2]) for r in rows], dtype=float)
    t_x = np.where(x > 0, np.array([min(r[1], r[2]) for r in rows], dtype=float), 0.0)
    values = np.array([r[3] for r in rows], dtype=float)
    s = CLVSettings(margin=0.3, discount_rate=0.01, min_repeat_buyers=3)
    result = estimate_clv(x, t_x, T, values, s)
    assert_clean(result)
    assert result.purchases_method in {"mbg_nbd", "mbg_nbd_prior"}
    assert result.value_method in {"gamma_gamma", "own_average"}


def test_invalid_history_raises() -> None:
    with pytest.raises(ValueError, match="t_x <= T"):
        fit_mbgnbd([1], [5.0], [3.0])
    with pytest.raises(ValueError, match="non-negative integers"):
        fit_mbgnbd([1.5], [1.0], [3.0])


def test_monotone_floor_hand_computed() -> None:
    """The floor raises, never lowers: a repeat buyer to their one-time twin's value, and
    to the best value of the same recency and check with fewer purchases; customers with
    another check or recency are not compared."""
    from scoring.clv.monotone import monotone_floor

    clv = np.array([1.0, 7.0, 2.0, 2.0, 9.0, 0.5])
    x = np.array([0, 1, 3, 3, 0, 1.0])
    recency = np.array([10, 10, 10, 10, 10, 40.0])
    check = np.array([100, 100, 100, 100, 200, 100.0])
    twin = np.array([1.0, 1.0, 1.0, 4.0, 9.0, 0.75])
    out, floored = monotone_floor(clv, x, recency, check, twin)
    assert out.tolist() == [1.0, 7.0, 7.0, 7.0, 9.0, 0.75]
    assert floored.tolist() == [False, False, True, True, False, True]
