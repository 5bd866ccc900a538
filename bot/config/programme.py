"""The programme's shape per business: the tier ladders, the referral reward, the rewards
catalogue and the sign-up questions.

``[tiers]`` (``Tier``, the two shipped ladders in ``TIER_PRESETS``, ``TiersSettings``),
``[referral]``, ``[[loyalty.rewards]]`` (``Reward``) and ``[profile]`` (``ProfileField``,
``ProfileSettings``), plus ``BUSINESS_PRESETS``: what a kind of business
(``business.kind``) asks at sign-up and tags purchases with. Mostly data; the rest of
the configuration is ``bot.config``, which re-exports these names.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.config.base import Section, localized


class Tier(Section):
    """One level of the programme. The first tier of a ladder is where everyone starts."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    names: dict[str, str]
    earn_percent: Decimal | None = Field(default=None, ge=0, le=100)  # None: loyalty.earn_percent
    min_spend: Decimal | None = Field(default=None, ge=0)  # retail: rolling-window spend, or
    min_visits: int | None = Field(default=None, ge=1)  # retail: purchases + visits in window
    min_rating: int | None = Field(default=None, ge=0, le=13)  # b2b: rating-scale points
    # What it takes to keep the tier once held (None: the entry threshold above); a
    # customer who lost it re-enters only at the entry threshold.
    keep_spend: Decimal | None = Field(default=None, ge=0)
    keep_visits: int | None = Field(default=None, ge=1)
    keep_rating: int | None = Field(default=None, ge=0, le=13)
    perks: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        return localized(value, "tier names")

    @field_validator("perks")
    @classmethod
    def _perks(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return localized(value, "tier perks") if value else value

    def name(self, locale: str) -> str:
        return self.names.get(locale) or next(iter(self.names.values()))

    def perks_in(self, locale: str) -> tuple[str, ...]:
        return self.perks.get(locale, ())


def _tier(code: str, ru: str, en: str, perks_ru: list[str], perks_en: list[str], **kw: Any) -> Tier:
    return Tier(code=code, names={"ru": ru, "en": en}, perks={"ru": perks_ru, "en": perks_en}, **kw)


# The two ladders SPEC.md ships. b2b is seed 002's categories with their benefits
# ("Категории клиентов": standard 5-8, regular 9-12, strategic from 12 points; below 5 the
# seed names no category, so the entry tier is "no category"; at 12 the higher one wins).
# The seed's "накопительные скидки" (regular) and "система накопительных скидок"
# (strategic) are higher earn rates, 7% and 10%; "стандартные скидки" (standard) is the
# programme's loyalty.earn_percent.
TIER_PRESETS: dict[str, tuple[Tier, ...]] = {
    "retail": (
        _tier("base", "Базовый", "Base", [], []),
        _tier(
            "silver",
            "Серебряный",
            "Silver",
            ["запись в удобное время вне очереди"],
            ["priority booking"],
            earn_percent=Decimal("7"),
            min_spend=Decimal("30000"),
            min_visits=12,
        ),
        _tier(
            "gold",
            "Золотой",
            "Gold",
            ["запись в удобное время вне очереди"],
            ["priority booking"],
            earn_percent=Decimal("10"),
            min_spend=Decimal("100000"),
            min_visits=24,
        ),
    ),
    "b2b": (
        _tier("none", "Без категории", "No category", [], []),
        _tier(
            "standard",
            "Стандартный клиент",
            "Standard customer",
            ["стандартные скидки", "информационная поддержка"],
            ["standard discounts", "information support"],
            min_rating=5,
        ),
        _tier(
            "regular",
            "Постоянный клиент",
            "Regular customer",
            [
                "право на льготный кредит",
                "накопительные скидки",
                "обслуживание персональным менеджером",
                "оперативные консультации по текущим вопросам",
            ],
            [
                "preferential credit",
                "cumulative discounts",
                "a personal manager",
                "prompt consultations",
            ],
            earn_percent=Decimal("7"),
            min_rating=9,
        ),
        _tier(
            "strategic",
            "Стратегический партнёр",
            "Strategic partner",
            [
                "особые условия договора",
                "право на льготный кредит",
                "система накопительных скидок",
                "обслуживание персональным менеджером",
                "оперативные консультации по текущим вопросам",
                "сокращение сроков обслуживания",
            ],
            [
                "special contract terms",
                "preferential credit",
                "cumulative discounts",
                "a personal manager",
                "prompt consultations",
                "faster service",
            ],
            earn_percent=Decimal("10"),
            min_rating=12,
        ),
    ),
}


KEEPS = ("spend", "visits", "rating")  # keep_<x> pairs with min_<x>


def _keep_is_sound(tier: Tier) -> None:
    """A keep threshold needs its entry threshold and may not exceed it."""
    for attr in KEEPS:
        keep, entry = getattr(tier, f"keep_{attr}"), getattr(tier, f"min_{attr}")
        if keep is None:
            continue
        if entry is None:
            raise ValueError(f"tier {tier.code}: keep_{attr} needs min_{attr}")
        if keep > entry:
            raise ValueError(
                f"tier {tier.code}: keep_{attr} ({keep}) must not exceed min_{attr} ({entry}),"
                " the entry threshold"
            )


class TiersSettings(Section):
    preset: Literal["retail", "b2b"] = "retail"
    levels: tuple[Tier, ...] = ()  # empty: the preset's ladder
    window_months: int = Field(default=12, ge=1, le=120)
    grace_days: int = Field(default=30, ge=0, le=3650)
    # A customer below their tier's keep threshold is told what keeps it this many days
    # before the grace period ends (0: not told).
    keep_notice_days: int = Field(default=7, ge=0, le=365)
    keep_notice_at: str = Field(default="11:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    recheck_at: str = Field(default="04:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # Seed 002's «Обслуживание персональным менеджером»: the tiers whose customers the
    # owner may give a personal manager (bot.services.people.managers); none: the top one.
    personal_manager_tiers: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _ladder_is_sound(self) -> TiersSettings:
        ladder = self.ladder
        codes = [t.code for t in ladder]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        for code in self.personal_manager_tiers:
            if code not in codes:
                raise ValueError(f"personal_manager_tiers: no tier {code!r} in the ladder")
        for lower, higher in pairwise(ladder[1:]):
            for attr in ("min_spend", "min_visits", "min_rating"):
                a, b = getattr(lower, attr), getattr(higher, attr)
                if a is not None and b is not None and b <= a:
                    raise ValueError(f"tier {higher.code}: {attr} must exceed {lower.code}'s")
        if any(getattr(ladder[0], f"keep_{a}") is not None for a in KEEPS):
            raise ValueError(f"tier {ladder[0].code}: the first tier is never lost (no keep_*)")
        for tier in ladder[1:]:
            _keep_is_sound(tier)
            if self.preset == "retail" and tier.min_spend is None and tier.min_visits is None:
                raise ValueError(f"tier {tier.code}: retail tiers need min_spend or min_visits")
            if self.preset == "b2b" and tier.min_rating is None:
                raise ValueError(f"tier {tier.code}: b2b tiers need min_rating")
        return self

    @property
    def ladder(self) -> tuple[Tier, ...]:
        return self.levels or TIER_PRESETS[self.preset]


class ReferralSettings(Section):
    referrer_points: int = Field(default=0, ge=0)
    referred_points: int = Field(default=0, ge=0)
    # The referred customer's first purchase with at least this net amount rewards both.
    min_purchase: Decimal = Field(default=Decimal("0"), ge=0, decimal_places=2)


class Reward(Section):
    """A reward of the catalogue («мойка бесплатно — 300 баллов»): paid with points at the
    counter, the customer confirming it like any redemption."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    names: dict[str, str]
    points: int = Field(gt=0, le=10**9)  # what it costs; 0 or less is refused

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        return localized(value, "reward names")

    def name(self, locale: str) -> str:
        return self.names.get(locale) or next(iter(self.names.values()))


def _unique_rewards(value: tuple[Reward, ...]) -> tuple[Reward, ...]:
    codes = [r.code for r in value]
    if len(set(codes)) != len(codes):
        raise ValueError("reward codes must be unique")
    return value


Rewards = Annotated[tuple[Reward, ...], AfterValidator(_unique_rewards)]


class ProfileField(Section):
    """A question asked at sign-up after the birthday (a car service: make, model, ...)."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    labels: dict[str, str]
    kind: Literal["text", "int", "year", "choice"] = "text"
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    max_length: int = Field(default=40, ge=1, le=200)
    required: bool = False

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return localized(value, "profile field labels")

    @model_validator(mode="after")
    def _choices(self) -> ProfileField:
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"profile field {self.code}: choices go with kind = 'choice' only")
        return self


class ProfileSettings(Section):
    fields: tuple[ProfileField, ...] = ()

    @field_validator("fields")
    @classmethod
    def _unique(cls, value: tuple[ProfileField, ...]) -> tuple[ProfileField, ...]:
        if len({f.code for f in value}) != len(value):
            raise ValueError("profile field codes must be unique")
        return value


_CAR_FIELDS = [
    {"code": "make", "labels": {"ru": "Марка автомобиля", "en": "Car make"}},
    {"code": "model", "labels": {"ru": "Модель", "en": "Model"}},
    {"code": "year", "kind": "year", "labels": {"ru": "Год выпуска", "en": "Year of manufacture"},
     "min": 1950},
    {"code": "mileage", "kind": "int", "labels": {"ru": "Пробег, км", "en": "Mileage, km"},
     "min": 0, "max": 2000000},
]  # fmt: skip

# What a kind of business asks at sign-up and tags purchases with (business.kind).
BUSINESS_PRESETS: dict[str, dict[str, Any]] = {
    "car_service": {
        "fields": _CAR_FIELDS,
        "service_tags": {"ru": ["масло", "шины", "диагностика", "мойка"],
                         "en": ["oil", "tyres", "diagnostics", "wash"]},
        # seed 004: "скидка 15% на замену масла до конца месяца"
        "reminder_rules": {
            lang: [{"tag": tag, "days": 180, "km": 10000,
                    "service": {"ru": "замену масла", "en": "an oil change"},
                    "offer": {"kind": "percent", "value": "15", "days": None}}]
            for lang, tag in (("ru", "масло"), ("en", "oil"))
        },
    },
    "cafe": {
        "fields": [],
        "service_tags": {"ru": ["кофе", "выпечка", "обед"], "en": ["coffee", "pastry", "lunch"]},
    },
    "barbershop": {
        "fields": [
            {"code": "barber", "labels": {"ru": "Любимый мастер", "en": "Favourite barber"}}
        ],
        "service_tags": {"ru": ["стрижка", "борода", "укладка"],
                         "en": ["haircut", "beard", "styling"]},
    },
}  # fmt: skip


class RulesSettings(Section):
    """Programme rules as data (``loyalty-bot rules``, ``/promo``; docs/rules.md)."""

    notice_days: int = Field(default=14, ge=0, le=365)  # a change that takes is told ahead
    max_multiplier: Decimal = Field(default=Decimal("10"), gt=1, le=100)
    reload_seconds: int = Field(default=60, ge=1, le=3600)  # how stale a process's copy may be
