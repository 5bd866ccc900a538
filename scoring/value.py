"""Customer value (low / medium / high) and the relationship strategy it calls for.

Seed 000 (customer profile card): value is judged from profitability and
prospectiveness and decides the service strategy — high: retain and improve
service; medium: standardised service; low: minimise the cost of serving.
Seed 001 (table 1) names the per-customer choices: reward and invest, manage,
collect, release. The wording of both sources (Russian original + English) is in
``SERVICE_TEXT`` and ``STRATEGY_TEXT`` so the owner can be shown why.

Choices:
- Value = terciles of CLV, or of average monthly spend when CLV could not be fitted
  (house rule). Terciles use the same midpoint-rank rule as RFM: equal values get
  equal tiers. Customers not rated (mask, or NaN basis) get tier -1 and no strategy.
- Strategy (seed 001, table 1, from two axes, issue 21). Profitable now = the net
  margin over the trailing 12 months after the programme's own costs (``scoring.profit``)
  is above zero: the seed's «не приносят сейчас прибыли» is absolute, so a business whose
  customers all make money has nobody to collect or release. Profitable in future = CLV
  (net of the programme's costs) at or above the owner's expectation ``future_min``
  (config ``scoring.future_profit_min``; by default one average purchase's margin: a
  customer worth investing in is expected to bring at least one more ordinary purchase's
  profit over the horizon), and above zero. ``DEFAULT_STRATEGY_TABLE`` maps the quadrants:
  now and future -> reward_and_invest ("могут оказаться прибыльными в будущем"; its
  customer types «лучшие клиенты», «постоянные заказчики», «адвокаты» already pay);
  now only -> manage ("приносят прибыль на данный момент, но в будущем могут
  оказаться менее прибыльными"); future only -> collect ("не приносят сейчас прибыли,
  но их можно сделать прибыльными"; its type «потенциальные заказчики»); neither ->
  release ("не составляют никакого интереса … не приносит ожидаемой прибыли", «худшие»).
  Value is judged "from profitability and prospectiveness" (seed 000), so a customer who
  is neither profitable now nor in future is low value whatever the CLV terciles say:
  high value never comes with release (``StrategyResult.value_tier``).
  Long-term marketing ("все типы клиентов, за исключением «худших клиентов»") applies to
  every rated customer not released (``StrategyResult.long_term``). A dict
  {quadrant: strategy} (config ``scoring.strategy``) overrides entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring._ranking import equal_groups
from scoring.clv.lifetime_value import MODEL_METHODS

VALUE_LEVELS: tuple[str, ...] = ("low", "medium", "high")
STRATEGIES: tuple[str, ...] = ("reward_and_invest", "manage", "collect", "release")
SERVICES: tuple[str, ...] = ("minimise_cost", "standardise", "retain_and_improve")


@dataclass(frozen=True)
class SourceText:
    """A strategy as the seed words it, with an English rendering."""

    key: str
    source: str
    title_ru: str
    title_en: str
    essence_ru: str = ""
    essence_en: str = ""
    customer_types_ru: tuple[str, ...] = ()
    customer_types_en: tuple[str, ...] = ()


SERVICE_TEXT: Mapping[str, SourceText] = {
    "retain_and_improve": SourceText(
        "retain_and_improve",
        "000",
        "Удерживать клиента и улучшать его обслуживание",
        "Retain the customer and improve their service",
    ),
    "standardise": SourceText(
        "standardise",
        "000",
        "Стандартизированное обслуживание",
        "Standardised service",
    ),
    "minimise_cost": SourceText(
        "minimise_cost",
        "000",
        "Минимизировать затраты на обслуживание",
        "Minimise the cost of serving the customer",
    ),
}

STRATEGY_TEXT: Mapping[str, SourceText] = {
    "reward_and_invest": SourceText(
        "reward_and_invest",
        "001 table 1",
        "Вознаграждать и вкладывать",
        "Reward and invest",
        "Для тех потребителей, которые по всем признакам могут оказаться прибыльными в "
        "будущем. Имеет место в том случае, если предприятие заинтересованно в "
        "сотрудничества с определенными клиентами и принимает меры по налаживанию "
        "отношений с ними.",
        "For customers who by every sign may become profitable in future: the business "
        "wants to work with them and builds the relationship.",
        ("«лучшие клиенты»", "шопперы", "постоянные заказчики", "«адвокаты»"),
        ("best customers", "shoppers", "regular customers", "advocates"),
    ),
    "manage": SourceText(
        "manage",
        "001 table 1",
        "Управлять",
        "Manage",
        "Направлена на тех покупателей, которые приносят прибыль на данный момент, но в "
        "будущем могут оказаться менее прибыльными.",
        "For customers who are profitable now but may be less so in future: keep creating "
        "mutual value with them.",
        ("шопперы", "потенциальные заказчики", "«средние» клиенты"),
        ("shoppers", "potential customers", "average customers"),
    ),
    "collect": SourceText(
        "collect",
        "001 table 1",
        "«Взыскивать»",
        "Collect",
        "Применяется в том случае, если предприятие определило, что некоторые клиенты не "
        "приносят сейчас прибыли, но их можно сделать прибыльными за счет употребления "
        "штрафных санкций",
        "For customers who bring no profit now but can be made profitable, the source "
        "says through penalty sanctions (in a loyalty programme: fewer free perks).",
        ("потенциальные заказчики",),
        ("potential customers",),
    ),
    "release": SourceText(
        "release",
        "001 table 1",
        "«Освобождать»",
        "Release",
        "Отказ от клиентов, которые не составляют никакого интереса предприятию, "
        "сотрудничество с которыми не приносит ожидаемой прибыли, клиент не оказывал "
        "содействие возрастанию предприятия и не оправдал его надежд",
        "Letting go of customers of no interest to the business, who bring no expected "
        "profit and did not meet its hopes.",
        ("«худшие» клиенты",),
        ("worst customers",),
    ),
}

LONG_TERM_TEXT = SourceText(
    "long_term",
    "001 table 1",
    "Долгосрочная маркетинговая стратегия",
    "Long-term marketing",
    "Направлена на развитие и улучшение беспрерывных отношений с потребителями",
    "Developing and improving a continuous relationship with the customer.",
    ("все типы клиентов, за исключением «худших клиентов»",),
    ("all types of customers except the worst",),
)

# The two axes of seed 001's table 1, as quadrants: (profitable now, profitable in future).
QUADRANTS: tuple[str, ...] = ("neither", "future_only", "now_only", "now_and_future")

DEFAULT_STRATEGY_TABLE: Mapping[str, str] = {
    "now_and_future": "reward_and_invest",
    "now_only": "manage",
    "future_only": "collect",
    "neither": "release",
}


@dataclass(frozen=True, eq=False)
class ValueResult:
    """Tier per customer: -1 not rated, 0 low, 1 medium, 2 high; and what it rests on."""

    tier: NDArray[np.int8]
    basis: str  # "clv" or "monthly_spend"

    @property
    def n_rated(self) -> int:
        """How many customers the terciles rest on."""
        return int((self.tier >= 0).sum())

    def tier_labels(self) -> list[str | None]:
        return [VALUE_LEVELS[t] if t >= 0 else None for t in self.tier.tolist()]


def value_basis(clv_method: str) -> str:
    """What ranks value for a customer scored by ``clv_method`` (house rule: terciles of
    CLV, of average monthly spend when CLV cannot be fitted): "clv" when purchases came
    from the fitted BG/NBD model, else "monthly_spend"."""
    return "clv" if clv_method in MODEL_METHODS else "monthly_spend"


def value_tiers(
    clv: ArrayLike | None,
    monthly_spend: ArrayLike,
    rated: ArrayLike | None = None,
) -> ValueResult:
    """Terciles of CLV, or of average monthly spend when ``clv`` is None (not fitted).

    ``rated`` (bool mask) limits who is ranked, e.g. customers with purchases.
    """
    spend = np.asarray(monthly_spend, dtype=np.float64)
    basis_name = "monthly_spend" if clv is None else "clv"
    basis = spend if clv is None else np.asarray(clv, dtype=np.float64)
    if basis.shape != spend.shape or basis.ndim != 1:
        raise ValueError("clv and monthly_spend must be 1-D arrays of equal length")
    mask = np.ones(basis.shape, dtype=bool) if rated is None else np.asarray(rated, dtype=bool)
    if mask.shape != basis.shape:
        raise ValueError("rated must have one flag per customer")
    ranked = mask & np.isfinite(basis)
    tier = np.full(basis.shape, -1, dtype=np.int8)
    tier[ranked] = equal_groups(basis[ranked], len(VALUE_LEVELS)).astype(np.int8)
    return ValueResult(tier=tier, basis=basis_name)


def strategy_table(
    overrides: Mapping[str, str] | None = None, where: str = "strategy"
) -> dict[str, str]:
    """The default quadrant -> strategy table merged with ``overrides`` (same keys)."""
    table = dict(DEFAULT_STRATEGY_TABLE)
    for quadrant, strategy in (overrides or {}).items():
        if quadrant not in QUADRANTS:
            raise ValueError(f"{where}.{quadrant}: unknown quadrant; use one of {QUADRANTS}")
        if strategy not in STRATEGIES:
            raise ValueError(
                f"{where}.{quadrant}: unknown strategy {strategy!r}; use one of {STRATEGIES}"
            )
        table[quadrant] = strategy
    return table


@dataclass(frozen=True, eq=False)
class StrategyResult:
    """Per customer: 001 strategy index (-1 none), 000 service index (-1 none), the two
    axes, the value tier after the axes (``value_tier``), and whether long-term
    marketing applies (all rated but the released)."""

    strategy: NDArray[np.int8]
    service: NDArray[np.int8]
    profitable_now: NDArray[np.bool_]
    profitable_future: NDArray[np.bool_]
    value_tier: NDArray[np.int8]

    @property
    def long_term(self) -> NDArray[np.bool_]:
        """Seed 001: long-term marketing is for «все типы клиентов, за исключением
        «худших клиентов»»: every rated customer not released."""
        return (self.strategy >= 0) & (self.strategy != STRATEGIES.index("release"))

    def strategy_labels(self) -> list[str | None]:
        return [STRATEGIES[s] if s >= 0 else None for s in self.strategy.tolist()]

    def service_labels(self) -> list[str | None]:
        return [SERVICES[s] if s >= 0 else None for s in self.service.tolist()]


def relationship_strategies(
    tier: ArrayLike,
    margin_now: ArrayLike,
    future_value: ArrayLike,
    table: Mapping[str, str] | None = None,
    *,
    future_min: float = 0.0,
) -> StrategyResult:
    """Strategy per customer on seed 001's two axes (vectorised; module docstring).

    Profitable now: ``margin_now`` (trailing 12 months, after the programme's costs) > 0.
    Profitable in future: ``future_value`` (CLV) >= ``future_min`` and > 0. The quadrant
    picks the strategy; a released customer's value is low. Unrated customers (tier -1)
    get no strategy and no service level.
    """
    if not np.isfinite(future_min) or future_min < 0:
        raise ValueError(f"future_min must be a finite amount >= 0, got {future_min}")
    rules = strategy_table(table)
    tiers = np.asarray(tier, dtype=np.int64)
    now_values = np.nan_to_num(np.asarray(margin_now, dtype=np.float64), nan=0.0)
    future_values = np.nan_to_num(np.asarray(future_value, dtype=np.float64), nan=0.0)
    if not tiers.shape == now_values.shape == future_values.shape:
        raise ValueError("tier, margin_now and future_value must have the same length")
    rated = tiers >= 0
    now = rated & (now_values > 0)
    future = rated & (future_values > 0) & (future_values >= future_min)
    lookup = np.array([STRATEGIES.index(rules[q]) for q in QUADRANTS], dtype=np.int8)
    quadrant = now.astype(np.int64) * 2 + future.astype(np.int64)
    strategy = np.where(rated, lookup[quadrant], -1).astype(np.int8)
    released = rated & (strategy == STRATEGIES.index("release"))
    value_tier = np.where(released, 0, tiers).astype(np.int8)
    service = np.where(rated, value_tier, -1).astype(np.int8)  # SERVICES follows VALUE_LEVELS
    return StrategyResult(
        strategy=strategy,
        service=service,
        profitable_now=now,
        profitable_future=future,
        value_tier=value_tier,
    )
