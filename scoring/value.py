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
- ``DEFAULT_STRATEGY_TABLE`` maps (value, RFM segment or "*") to a 001 strategy:
  high -> reward_and_invest ("могут оказаться прибыльными в будущем"),
  medium -> manage ("приносят прибыль на данный момент"),
  low -> collect ("не приносят сейчас прибыли, но их можно сделать прибыльными"),
  low + lost/hibernating -> release ("не составляют никакого интереса").
  A nested dict {value: {segment or "*": strategy}} overrides entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scoring._ranking import equal_groups
from scoring.clv.lifetime_value import MODEL_METHODS

VALUE_LEVELS: tuple[str, ...] = ("low", "medium", "high")
ANY_SEGMENT = "*"
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

DEFAULT_STRATEGY_TABLE: Mapping[tuple[str, str], str] = {
    ("high", ANY_SEGMENT): "reward_and_invest",
    ("medium", ANY_SEGMENT): "manage",
    ("low", ANY_SEGMENT): "collect",
    ("low", "lost"): "release",
    ("low", "hibernating"): "release",
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
    overrides: Mapping[str, Mapping[str, str]] | None = None,
    where: str = "value_strategy",
) -> dict[tuple[str, str], str]:
    """Default table merged with a nested override {value: {segment or "*": strategy}}."""
    table = dict(DEFAULT_STRATEGY_TABLE)
    for value, row in (overrides or {}).items():
        if value not in VALUE_LEVELS:
            raise ValueError(f"{where}.{value}: unknown value level; use one of {VALUE_LEVELS}")
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}.{value}: must be a table of segment = strategy")
        for segment, strategy in row.items():
            if strategy not in STRATEGIES:
                raise ValueError(
                    f"{where}.{value}.{segment}: unknown strategy {strategy!r}; "
                    f"use one of {STRATEGIES}"
                )
            table[(value, str(segment))] = strategy
    for value in VALUE_LEVELS:
        if (value, ANY_SEGMENT) not in table:
            raise ValueError(f"{where}.{value}: a '*' entry is required")
    return table


@dataclass(frozen=True, eq=False)
class StrategyResult:
    """Per customer: 001 strategy index (-1 none) and 000 service index (-1 none)."""

    strategy: NDArray[np.int8]
    service: NDArray[np.int8]

    def strategy_labels(self) -> list[str | None]:
        return [STRATEGIES[s] if s >= 0 else None for s in self.strategy.tolist()]

    def service_labels(self) -> list[str | None]:
        return [SERVICES[s] if s >= 0 else None for s in self.service.tolist()]


def relationship_strategies(
    tier: ArrayLike,
    segment: ArrayLike,
    segment_names: Sequence[str],
    table: Mapping[tuple[str, str], str] | None = None,
) -> StrategyResult:
    """Strategy per customer from value tier and RFM segment index (vectorised).

    An exact (value, segment) entry wins over (value, "*"). Unrated customers
    (tier -1) get no strategy and no service level.
    """
    rules = strategy_table() if table is None else dict(table)
    tiers = np.asarray(tier, dtype=np.int64)
    segs = np.asarray(segment, dtype=np.int64)
    if tiers.shape != segs.shape:
        raise ValueError("tier and segment must have the same length")
    lookup = np.full((len(VALUE_LEVELS) + 1, len(segment_names)), -1, dtype=np.int8)
    for v, value in enumerate(VALUE_LEVELS):
        for s, name in enumerate(segment_names):
            key = rules.get((value, name), rules.get((value, ANY_SEGMENT)))
            if key is None:
                raise ValueError(f"no strategy for value {value!r}, segment {name!r}")
            lookup[v, s] = STRATEGIES.index(key)
    row = np.where(tiers >= 0, tiers, len(VALUE_LEVELS))  # last row = not rated
    strategy = lookup[row, segs]
    service = np.where(tiers >= 0, tiers, -1).astype(np.int8)  # SERVICES follows VALUE_LEVELS
    return StrategyResult(strategy=strategy, service=service)
