"""Pure customer analytics for the loyalty bot, on numpy arrays.

The nightly scoring job in ``bot/services`` aggregates purchases per customer in SQL
and hands the arrays to this package, which returns one score per customer:

- ``rfm``: RFM ("FRM") quintile scores, three-digit code and named segment (seed 002);
- ``rating_scale``: the seed 002 customer rating scale (``B2B_PRESET``); custom presets
  from config dicts in ``rating_scale_config``; ``growth``: its average-monthly-growth input;
- ``lifecycle``: the evolution ladder potential -> ... -> partner, plus lapsed (002);
- ``clv``: BG/NBD + Gamma-Gamma fitted by maximum likelihood, probability alive,
  and lifetime value as Heskett's NPV of expected net income (003), with labelled
  fallbacks when the history is too thin;
- ``value``: value low / medium / high and the strategy it calls for (000, 001);
- ``profit``: a customer's profit after the programme's own costs (003);
- ``kpi``: CRR (004), churn, repeat rate, frequency, average check, referrals, CSAT;
- ``repeat``: who is a repeat buyer (bought on two different days), for all of them;
- ``calendar``: calendar-month arithmetic and the one average month length;
- ``customer_scores``: ``score()``, all of the above for every customer at once, the
  pure part of the nightly job (whose storage side stays in ``bot/services``).

Rules: no aiogram, no ``bot``/``handlers`` imports, no pandas at run time, no
module-level configuration — thresholds, bands, margin, discount rate and dates are
arguments or small frozen dataclasses. Money is float inside these statistics; the
services convert from and to Decimal at the boundary. Every function is vectorised
(no Python loop over customers). Results use integer codes plus name tuples so a
million customers stay cheap; ``*_labels()`` helpers give the names.
"""

from scoring.clv import (
    BGNBDFit,
    BGNBDParams,
    CLVResult,
    CLVSettings,
    DataSupport,
    FitStatus,
    GammaGammaFit,
    GammaGammaParams,
    conditional_expected_purchases,
    estimate_clv,
    expected_average_value,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from scoring.customer_scores import (
    RATING_SCALE_INPUTS,
    PurchaseHistory,
    Scores,
    ScoreSettings,
    score,
)
from scoring.growth import GrowthResult, average_monthly_growth_pct
from scoring.kpi import (
    Csat,
    CustomerPeriodSummary,
    PeriodKPI,
    csat_of,
    kpis_from_summary,
    period_kpis,
    summarise_purchases,
)
from scoring.lifecycle import (
    STAGE_NAMES,
    LifecycleResult,
    LifecycleThresholds,
    Stage,
    lifecycle_stages,
)
from scoring.profit import cost_per_purchase, net_margin, programme_cost
from scoring.rating_scale import (
    B2B_BENEFIT_TEXT,
    B2B_PRESET,
    Band,
    Category,
    ChoiceCriterion,
    NumericCriterion,
    RatingScaleConfigError,
    RatingScalePreset,
    RatingScaleResult,
    score_rating_scale,
)
from scoring.rating_scale_config import preset_from_dict, preset_to_dict
from scoring.repeat import REPEAT_FROM_DAYS, is_repeat_buyer, repeat_purchases
from scoring.rfm import (
    DEFAULT_SEGMENT_RULES,
    NO_PURCHASES,
    RFMResult,
    SegmentRule,
    rfm_scores,
    segment_grid,
)
from scoring.value import (
    DEFAULT_STRATEGY_TABLE,
    LONG_TERM_TEXT,
    QUADRANTS,
    SERVICE_TEXT,
    SERVICES,
    STRATEGIES,
    STRATEGY_TEXT,
    VALUE_LEVELS,
    StrategyResult,
    ValueResult,
    relationship_strategies,
    strategy_table,
    value_basis,
    value_tiers,
)

__all__ = [
    "B2B_BENEFIT_TEXT",
    "B2B_PRESET",
    "DEFAULT_SEGMENT_RULES",
    "DEFAULT_STRATEGY_TABLE",
    "LONG_TERM_TEXT",
    "NO_PURCHASES",
    "QUADRANTS",
    "RATING_SCALE_INPUTS",
    "REPEAT_FROM_DAYS",
    "SERVICES",
    "SERVICE_TEXT",
    "STAGE_NAMES",
    "STRATEGIES",
    "STRATEGY_TEXT",
    "VALUE_LEVELS",
    "BGNBDFit",
    "BGNBDParams",
    "Band",
    "CLVResult",
    "CLVSettings",
    "Category",
    "ChoiceCriterion",
    "Csat",
    "CustomerPeriodSummary",
    "DataSupport",
    "FitStatus",
    "GammaGammaFit",
    "GammaGammaParams",
    "GrowthResult",
    "LifecycleResult",
    "LifecycleThresholds",
    "NumericCriterion",
    "PeriodKPI",
    "PurchaseHistory",
    "RFMResult",
    "RatingScaleConfigError",
    "RatingScalePreset",
    "RatingScaleResult",
    "ScoreSettings",
    "Scores",
    "SegmentRule",
    "Stage",
    "StrategyResult",
    "ValueResult",
    "average_monthly_growth_pct",
    "conditional_expected_purchases",
    "cost_per_purchase",
    "csat_of",
    "estimate_clv",
    "expected_average_value",
    "expected_purchases",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "is_repeat_buyer",
    "kpis_from_summary",
    "lifecycle_stages",
    "net_margin",
    "period_kpis",
    "preset_from_dict",
    "preset_to_dict",
    "probability_alive",
    "programme_cost",
    "relationship_strategies",
    "repeat_purchases",
    "rfm_scores",
    "score",
    "score_rating_scale",
    "segment_grid",
    "strategy_table",
    "summarise_purchases",
    "value_basis",
    "value_tiers",
]
