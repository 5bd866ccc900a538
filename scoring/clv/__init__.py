"""CLV: BG/NBD (purchases, alive) + Gamma-Gamma (value) + NPV, with labelled fallbacks."""

from scoring.clv.bgnbd import (
    BGNBDFit,
    BGNBDParams,
    bgnbd_loglik,
    conditional_expected_purchases,
    expected_purchases,
    fit_bgnbd,
    probability_alive,
)
from scoring.clv.gamma_gamma import (
    GammaGammaFit,
    GammaGammaParams,
    expected_average_value,
    fit_gamma_gamma,
    gamma_gamma_loglik,
)
from scoring.clv.lifetime_value import (
    DAYS_PER_MONTH,
    CLVResult,
    CLVSettings,
    bgnbd_purchases_per_period,
    discount_factors,
    estimate_clv,
    npv_of_purchases,
    own_interval_rates,
)
from scoring.clv.status import DataSupport, FitStatus

__all__ = [
    "DAYS_PER_MONTH",
    "BGNBDFit",
    "BGNBDParams",
    "CLVResult",
    "CLVSettings",
    "DataSupport",
    "FitStatus",
    "GammaGammaFit",
    "GammaGammaParams",
    "bgnbd_loglik",
    "bgnbd_purchases_per_period",
    "conditional_expected_purchases",
    "discount_factors",
    "estimate_clv",
    "expected_average_value",
    "expected_purchases",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_loglik",
    "npv_of_purchases",
    "own_interval_rates",
    "probability_alive",
]
