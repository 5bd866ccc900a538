"""Pure customer analytics for the loyalty bot, on numpy arrays.

The nightly scoring job in ``bot/services`` aggregates purchases per customer in SQL
and hands the arrays to this package, which returns one score per customer:

- ``rfm``: RFM ("FRM") quintile scores, three-digit code and named segment (seed 002);
- ``rating_scale``: the seed 002 customer rating scale (``B2B_PRESET``); custom presets
  from config dicts in ``rating_scale_config``; ``growth``: its average-monthly-growth input;
- ``lifecycle``: the evolution ladder potential -> ... -> partner, plus lapsed (002);
- ``clv``: modified BG/NBD + Gamma-Gamma fitted by maximum likelihood, probability alive,
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

from __future__ import annotations

from importlib import import_module
from typing import Any

# Where each public name lives. Imported on first use (PEP 562), so that reading one constant
# (the bot's config at start-up) does not load numpy and every model.
_HOMES: dict[str, tuple[str, ...]] = {
    "scoring.clv": (
        "CLVResult",
        "CLVSettings",
        "DataSupport",
        "FitStatus",
        "GammaGammaFit",
        "GammaGammaParams",
        "MBGNBDFit",
        "MBGNBDParams",
        "conditional_expected_purchases",
        "estimate_clv",
        "expected_average_value",
        "expected_purchases",
        "fit_gamma_gamma",
        "fit_mbgnbd",
        "probability_alive",
    ),
    "scoring.customer_scores": (
        "RATING_SCALE_INPUTS",
        "PurchaseHistory",
        "Scores",
        "ScoreSettings",
        "score",
    ),
    "scoring.growth": (
        "GrowthResult",
        "average_monthly_growth_pct",
    ),
    "scoring.kpi": (
        "Csat",
        "CustomerPeriodSummary",
        "PeriodKPI",
        "csat_of",
        "kpis_from_summary",
        "period_kpis",
        "summarise_purchases",
    ),
    "scoring.lifecycle": (
        "STAGE_NAMES",
        "LifecycleResult",
        "LifecycleThresholds",
        "Stage",
        "lifecycle_stages",
    ),
    "scoring.profit": (
        "cost_per_purchase",
        "net_margin",
        "programme_cost",
    ),
    "scoring.rating_scale": (
        "B2B_BENEFIT_TEXT",
        "B2B_PRESET",
        "Band",
        "Category",
        "ChoiceCriterion",
        "NumericCriterion",
        "RatingScaleConfigError",
        "RatingScalePreset",
        "RatingScaleResult",
        "score_rating_scale",
    ),
    "scoring.rating_scale_config": (
        "preset_from_dict",
        "preset_to_dict",
    ),
    "scoring.repeat": (
        "REPEAT_FROM_DAYS",
        "is_repeat_buyer",
        "repeat_purchases",
    ),
    "scoring.rfm": (
        "DEFAULT_SEGMENT_RULES",
        "NO_PURCHASES",
        "RFMResult",
        "SegmentRule",
        "rfm_scores",
        "segment_grid",
    ),
    "scoring.value": (
        "DEFAULT_STRATEGY_TABLE",
        "LONG_TERM_TEXT",
        "QUADRANTS",
        "SERVICE_TEXT",
        "SERVICES",
        "STRATEGIES",
        "STRATEGY_TEXT",
        "VALUE_LEVELS",
        "StrategyResult",
        "ValueResult",
        "relationship_strategies",
        "strategy_table",
        "value_basis",
        "value_tiers",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_HOME_OF)


def __getattr__(name: str) -> Any:
    """Load the module that defines ``name`` when it is first asked for."""
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOME_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
