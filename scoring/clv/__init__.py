"""CLV: modified BG/NBD (purchases, alive) + Gamma-Gamma (value) + NPV, with labelled
fallbacks, a floor that keeps it monotone in purchases, and the retention what-if."""

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
    discount_factors,
    estimate_clv,
    npv_of_purchases,
    purchases_per_period,
)
from scoring.clv.mbgnbd import (
    MBGNBDFit,
    MBGNBDParams,
    conditional_expected_purchases,
    expected_purchases,
    fit_mbgnbd,
    mbgnbd_loglik,
    prior_params,
    probability_alive,
)
from scoring.clv.status import DataSupport, FitStatus

__all__ = [
    "DAYS_PER_MONTH",
    "CLVResult",
    "CLVSettings",
    "DataSupport",
    "FitStatus",
    "GammaGammaFit",
    "GammaGammaParams",
    "MBGNBDFit",
    "MBGNBDParams",
    "conditional_expected_purchases",
    "discount_factors",
    "estimate_clv",
    "expected_average_value",
    "expected_purchases",
    "fit_gamma_gamma",
    "fit_mbgnbd",
    "gamma_gamma_loglik",
    "mbgnbd_loglik",
    "npv_of_purchases",
    "prior_params",
    "probability_alive",
    "purchases_per_period",
]
