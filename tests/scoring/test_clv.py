"""BG/NBD and Gamma-Gamma formulas, CLV as NPV (seed 003), and degenerate histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import betaln, hyp2f1
from scipy.stats import beta as beta_dist

from scoring.clv import (
    BGNBDParams,
    CLVSettings,
    FitStatus,
    GammaGammaParams,
    bgnbd_purchases_per_period,
    conditional_expected_purchases,
    estimate_clv,
    expected_average_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    npv_of_purchases,
    probability_alive,
)
from tests.scoring._bgnbd_sim import simulate_bgnbd

CDNOW = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PARAMS = [
    CDNOW,
    BGNBDParams(r=1.1, alpha=97.0, a=0.25, b=0.6),  # a + b < 1: 2F1 goes negative
    BGNBDParams(r=0.8, alpha=60.0, a=3.0, b=5.0),
]


def unconditional_by_quadrature(p: BGNBDParams, t: float) -> float:
    """E[X(t)] straight from the model: given lambda and p, E = (1 - e^{-lambda p t}) / p;
    averaging over lambda ~ Gamma(r, alpha) gives 1 - (alpha / (alpha + p t))^r;
    then integrate over p ~ Beta(a, b) numerically."""

    def integrand(q: float) -> float:
        return (1 - (p.alpha / (p.alpha + q * t)) ** p.r) / q * beta_dist.pdf(q, p.a, p.b)

    return quad(integrand, 0, 1, limit=200)[0]


def posterior_by_quadrature(
    p: BGNBDParams, t: float, x: int, t_x: float, T: float
) -> tuple[float, float]:
    """(E[Y(t) | x, t_x, T], P(alive)) by Bayes' rule with the lambda integrals done in
    closed form (gamma moments) and the p integral numerically: the likelihood is
    (1-p)^x lambda^x e^{-lambda T} [alive] + [x>0] p (1-p)^{x-1} lambda^x e^{-lambda t_x}."""
    k = p.r + x  # every term below is scaled by (alpha + T)^k to keep it near 1

    def alive_part(q: float) -> float:
        return (1 - q) ** x * beta_dist.pdf(q, p.a, p.b)

    alive = quad(alive_part, 0, 1, limit=200, epsabs=0, epsrel=1e-9)[0]
    dead = 0.0
    if x > 0:
        ratio = ((p.alpha + T) / (p.alpha + t_x)) ** k
        dead = np.exp(betaln(p.a + 1, p.b + x - 1) - betaln(p.a, p.b)) * ratio

    def future(q: float) -> float:
        gap = 1 - ((p.alpha + T) / (p.alpha + T + q * t)) ** k
        return (1 - q) ** x * gap / q * beta_dist.pdf(q, p.a, p.b)

    expected = quad(future, 0, 1, limit=200, epsabs=0, epsrel=1e-9)[0] / (alive + dead)
    return expected, alive / (alive + dead)


@pytest.mark.parametrize("params", PARAMS)
def test_unconditional_expectation_matches_the_model_by_quadrature(params: BGNBDParams) -> None:
    for t in (1.0, 39.0, 365.0):
        assert expected_purchases(params, [t])[0] == pytest.approx(
            unconditional_by_quadrature(params, t), rel=1e-6
        )


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 20.0), (2, 30.43, 38.86), (7, 50.0, 300.0)])
def test_conditional_expectation_and_p_alive_match_bayes_by_quadrature(
    params: BGNBDParams, x: int, t_x: float, T: float
) -> None:
    expected, alive = posterior_by_quadrature(params, 39.0, x, t_x, T)
    got = conditional_expected_purchases(params, 39.0, [x], [t_x], [T])[0]
    assert got == pytest.approx(expected, rel=1e-5)
    assert probability_alive(params, [x], [t_x], [T])[0] == pytest.approx(alive, rel=1e-6)


def test_p_alive_properties() -> None:
    """No repeat purchase -> alive for sure (BG/NBD drops out only after a purchase);
    a longer silence after the last purchase lowers the chance."""
    alive = probability_alive(CDNOW, [0, 3, 3, 3], [0.0, 10.0, 10.0, 10.0], [30.0, 11, 20, 38])
    assert alive[0] == 1.0
    assert 1.0 > alive[1] > alive[2] > alive[3] > 0.0


def test_heavy_buyer_does_not_overflow() -> None:
    """Past x ~ 1,170 the direct 2F1 overflows and Euler's transform takes over; the
    expectation must continue smoothly (equal steps for equal steps in x)."""
    xs = np.arange(1100, 1301, 20)
    z = 39.0 / (CDNOW.alpha + 38.86 + 39.0)
    direct = hyp2f1(CDNOW.r + xs, CDNOW.b + xs, CDNOW.a + CDNOW.b + xs - 1, z)
    assert np.isfinite(direct[0]) and not np.isfinite(direct[-1])  # both branches used
    values = conditional_expected_purchases(CDNOW, 39.0, xs, np.full(11, 38.86), np.full(11, 38.86))
    assert np.all(np.isfinite(values))
    steps = np.diff(values)
    assert np.all(steps > 0)
    assert np.ptp(steps) < 1e-6 * values.mean()


def test_fit_recovers_simulated_parameters() -> None:
    """3,000 customers drawn from the model in days (r 0.8, alpha 40, a 1.5, b 4): the
    fit lands near the truth (sampling error, not a code constant)."""
    x, t_x, T = simulate_bgnbd(3000, 0.8, 40.0, 1.5, 4.0, 365, seed=11)
    fit = fit_bgnbd(x, t_x, T)
    assert fit.fitted and fit.params is not None
    assert fit.params.r == pytest.approx(0.8, rel=0.15)
    assert fit.params.alpha == pytest.approx(40.0, rel=0.2)
    assert fit.params.a / (fit.params.a + fit.params.b) == pytest.approx(1.5 / 5.5, rel=0.2)


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
    per_period = bgnbd_purchases_per_period(CDNOW, x, t_x, T, flat)
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


def test_single_customer_is_flagged_and_gets_a_fallback() -> None:
    """One customer who has not bought twice: no repeat buyers, own average check, and
    the population's purchase rate (all purchases over all observed time: 1 / 40 a day)
    for both the chance still active, e^{-40/40}, and the expected purchases: a one-time
    buyer is neither "100 % active" nor worth 0 (labelled "population_rate")."""
    result = estimate_clv([0], [0.0], [40.0], [250.0], SETTINGS)
    assert result.purchases_fit.status == FitStatus.NO_REPEAT_BUYERS
    assert result.purchases_method == "own_interval" and result.value_method == "own_average"
    assert result.methods.tolist() == ["population_rate"]
    assert result.expected_value.tolist() == [250.0]
    assert result.p_alive.tolist() == [pytest.approx(np.exp(-1))]
    annuity = sum(1.01**-k for k in range(1, 13))
    assert result.clv[0] == pytest.approx(0.3 * 250 * (30 / 40) * np.exp(-1) * annuity)
    assert (result.support.n_customers, result.support.n_repeat_buyers) == (1, 0)


def test_everyone_bought_today_is_flagged() -> None:
    """All on one day (T = 0): no observation time -> flagged, CLV 0, never NaN."""
    result = estimate_clv([0, 1, 0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [10.0, 20.0, 0.0], SETTINGS)
    assert result.purchases_fit.status == FitStatus.NO_OBSERVATION_TIME
    assert_clean(result)
    assert result.clv.tolist() == [0.0, 0.0, 0.0]


def test_few_repeat_buyers_use_own_interval_hand_computed() -> None:
    """Two repeat buyers (< 10): fallback. Customer 0: 2 repeats by day 60 -> rate
    2/60 a day; silent for T - t_x = 30 days -> alive heuristic e^{-1}; per 30-day
    period 1 * e^{-1} purchases; value 50 (own average); margin 0.3, 1%/period:
    CLV = 0.3 * 50 * e^{-1} * sum_{k=1..12} 1.01^{-k}."""
    x = [2, 1, 0, 0]
    t_x = [60.0, 10.0, 0.0, 0.0]
    T = [90.0, 100.0, 30.0, 20.0]
    values = [50.0, 30.0, 0.0, 0.0]
    result = estimate_clv(x, t_x, T, values, SETTINGS)
    assert result.purchases_fit.status == FitStatus.TOO_FEW_REPEAT_BUYERS
    assert result.value_fit.status == FitStatus.TOO_FEW_REPEAT_BUYERS
    annuity = sum(1.01**-k for k in range(1, 13))
    assert result.p_alive[0] == pytest.approx(np.exp(-1))
    assert result.clv[0] == pytest.approx(0.3 * 50 * np.exp(-1) * annuity)
    # one-time buyers: the population's rate, every purchase over all observed time,
    # (sum(x) + n) / sum(T) = (3 + 4) / 240; population check (50+30)/2
    assert result.expected_value[2] == pytest.approx(40.0)
    pooled = 7 / 240
    assert result.clv[3] == pytest.approx(0.3 * 40 * pooled * 30 * np.exp(-pooled * 20) * annuity)
    assert result.p_alive[3] == pytest.approx(np.exp(-pooled * 20))
    assert result.methods.tolist() == [
        "own_interval",
        "own_interval",
        "population_rate",
        "population_rate",
    ]
    assert_clean(result)


def test_small_business_of_50_customers_gets_a_labelled_answer() -> None:
    """50 customers (a new café's first months): every number finite, and the result
    says which method produced it and how many customers / repeat buyers it rests on."""
    x, t_x, T = simulate_bgnbd(50, 0.8, 60.0, 0.5, 3.0, 365, seed=4)
    rng = np.random.default_rng(4)
    values = np.where(x > 0, rng.gamma(6.0, 10.0, 50), 0.0)
    result = estimate_clv(x, t_x, T, values, SETTINGS)
    assert_clean(result)
    assert result.support.n_customers == 50
    assert result.support.n_repeat_buyers == int((x > 0).sum())
    assert result.support.level() in {"low", "moderate"}
    assert (result.purchases_method == "bg_nbd") == result.purchases_fit.fitted
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
    assert result.purchases_method in {"bg_nbd", "own_interval"}
    assert result.value_method in {"gamma_gamma", "own_average"}


def test_invalid_history_raises() -> None:
    with pytest.raises(ValueError, match="t_x <= T"):
        fit_bgnbd([1], [5.0], [3.0])
    with pytest.raises(ValueError, match="non-negative integers"):
        fit_bgnbd([1.5], [1.0], [3.0])
