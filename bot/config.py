"""Configuration: one TOML file validated by pydantic-settings, secrets from the environment.

Every business rule that SPEC.md says lives in config (earn rate, point value, redemption
share, maximum purchase, service tags, ...) is declared here once and read from here.
`load_settings` turns any validation problem into `ConfigError` naming the key and the
reason, so a bad config fails at start with one readable line instead of a traceback.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_CONFIG_PATH = Path("config.toml")
Locale = Literal["ru", "en"]
SUPPORTED_LOCALES: tuple[str, ...] = get_args(Locale)
DEFAULT_LOCALE: Locale = "ru"  # until the owner sets business.default_language


class ConfigError(Exception):
    """A configuration problem, phrased for the operator: key and reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outlet(_Section):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)


class BusinessSettings(_Section):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = "Europe/Moscow"
    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    default_language: Locale = DEFAULT_LOCALE
    owner_ids: tuple[int, ...] = ()
    phone_region: str = Field(default="RU", pattern=r"^[A-Z]{2}$")  # for numbers typed without +
    kind: Literal["car_service", "cafe", "barbershop", "other"] = "other"  # BUSINESS_PRESETS
    owner_code_hours: int = Field(default=24, ge=1, le=720)  # a one-time owner code lives
    outlets: tuple[Outlet, ...] = (Outlet(code="main", name="Main"),)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (ISO 3166 code such as RU, KZ, DE)")
        return value

    @field_validator("outlets")
    @classmethod
    def _unique_outlets(cls, value: tuple[Outlet, ...]) -> tuple[Outlet, ...]:
        if not value:
            raise ValueError("at least one outlet is required")
        codes = [o.code for o in value]
        if len(set(codes)) != len(codes):
            raise ValueError("outlet codes must be unique")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_outlet(self) -> str:
        """The first outlet listed: where staff without an outlet of their own work."""
        return self.outlets[0].code


class LoyaltySettings(_Section):
    point_value: Decimal = Field(default=Decimal("1"), gt=0, description="money per point")
    earn_percent: Decimal = Field(default=Decimal("5"), ge=0, le=100)
    max_redeem_share: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    max_purchase_amount: Decimal = Field(default=Decimal("1000000"), gt=0)
    redemption_confirm_minutes: int = Field(default=5, ge=1, le=60)
    welcome_bonus: int = Field(default=0, ge=0)
    service_tags: tuple[str, ...] = ()
    max_adjust_points: int = Field(default=100000, ge=1)

    @field_validator("service_tags")
    @classmethod
    def _tags_are_tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for tag in value:
            if not tag or not tag.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"service tag {tag!r} must be one word (letters, digits, _ -)")
            if tag[0].isdigit():
                raise ValueError(f"service tag {tag!r} must not start with a digit")
        if len({t.casefold() for t in value}) != len(value):
            raise ValueError("service tags must be unique")
        return tuple(t.casefold() for t in value)


class StaffSettings(_Section):
    invite_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)


class TelegramSettings(_Section):
    api_server: str = "https://api.telegram.org"
    polling_timeout: int = Field(default=30, ge=1, le=60)
    max_concurrent_updates: int = Field(default=32, ge=1, le=1000)
    fsm_redis_url: str | None = None  # conversation state in Redis (several bot processes)

    @field_validator("api_server")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/loyalty.db"
    busy_timeout_ms: int = Field(default=15000, ge=0)

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value


class MessageKind(_Section):
    """How one kind of outbox message is treated (``[outbox.kinds.<kind>]``).

    ``priority``: transactional messages all go before any bulk one. ``marketing``: subject
    to the customer's opt-in, the frequency cap and (by default) quiet hours. ``ttl_minutes``:
    the message's deadline is its queued (or not-before) time plus this; undelivered by
    then it is expired, not retried. ``quiet_hours``: whether it waits for the morning
    (unset: marketing kinds do, others do not).
    """

    priority: Literal["transactional", "bulk"] = "bulk"
    marketing: bool = False
    ttl_minutes: int = Field(default=1440, ge=1, le=60 * 24 * 90)
    quiet_hours: bool | None = None

    @property
    def waits_for_morning(self) -> bool:
        return self.marketing if self.quiet_hours is None else self.quiet_hours


_DAY = 24 * 60
# Every kind the product queues; a config may change any of them or add its own.
DEFAULT_MESSAGE_KINDS: dict[str, MessageKind] = {
    # purchase and redemption notices, tiers, referrals, staff joined...: a prompt reply
    "notice": MessageKind(priority="transactional", ttl_minutes=3 * _DAY),
    # the redemption request's confirm buttons; queued with the request's own expiry
    "redemption_prompt": MessageKind(priority="transactional", ttl_minutes=5),
    "purchase": MessageKind(priority="transactional", ttl_minutes=_DAY),
    # queued with the expiry date itself as the deadline; waits for the morning
    "expiry_warning": MessageKind(ttl_minutes=7 * _DAY, quiet_hours=True),
    # a question about a visit the customer just made: not advertising, so no opt-in
    # or cap, but it waits for the morning like marketing
    "survey": MessageKind(ttl_minutes=2 * _DAY, quiet_hours=True),
    "birthday": MessageKind(marketing=True, ttl_minutes=_DAY),
    "holiday": MessageKind(marketing=True, ttl_minutes=_DAY),
    "reminder": MessageKind(marketing=True, ttl_minutes=3 * _DAY),
    "tradein": MessageKind(marketing=True, ttl_minutes=7 * _DAY),
    "winback": MessageKind(marketing=True, ttl_minutes=3 * _DAY),
    "broadcast": MessageKind(marketing=True, ttl_minutes=3 * _DAY),
}


class OutboxSettings(_Section):
    concurrency: int = Field(default=4, ge=1, le=100)  # messages in flight at once
    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    rate_per_second: float = Field(default=30.0, gt=0, le=1000)
    per_chat_per_second: float = Field(default=1.0, gt=0, le=1000)
    backoff_cap_seconds: float = Field(default=300.0, ge=1, le=3600)
    claim_lease_seconds: float = Field(default=30.0, ge=5, le=3600)
    kinds: dict[str, MessageKind] = DEFAULT_MESSAGE_KINDS

    @field_validator("kinds", mode="before")
    @classmethod
    def _merge_kinds(cls, value: Any) -> Any:
        """A config lists only the kinds it changes or adds; the rest keep their defaults
        (a changed kind starts from its default, key by key)."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = dict(DEFAULT_MESSAGE_KINDS)
        for name, rule in value.items():
            if not isinstance(name, str) or not name.replace("_", "").isalnum():
                raise ValueError(f"message kind {name!r} must be one word (letters, digits, _)")
            if len(name) > 32:
                raise ValueError(f"message kind {name!r} is longer than 32 characters")
            base = DEFAULT_MESSAGE_KINDS.get(name)
            if isinstance(rule, dict) and base is not None:
                rule = {**base.model_dump(), **rule}
            merged[name] = rule
        return merged

    def marketing_kinds(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, rule in self.kinds.items() if rule.marketing))


_CLOCK = r"([01]\d|2[0-3]):[0-5]\d"


class ContactSettings(_Section):
    """Contact discipline for marketing (bot/services/contact.py)."""

    # Local time of the business; start-end, may wrap midnight; "" for none.
    quiet_hours: str = Field(default="21:00-09:00", pattern=rf"^({_CLOCK}-{_CLOCK})?$")
    max_marketing_per_week: int = Field(default=2, ge=0, le=100)


class SurveySettings(_Section):
    """The post-visit survey (seeds 003, 004): "how was it?" a while after each purchase."""

    enabled: bool = True
    delay_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)  # after the purchase
    low_score_threshold: int = Field(default=3, ge=1, le=5)  # at or below: owners alerted
    ask_comment: bool = True  # after the score, invite an optional comment
    max_comment_length: int = Field(default=1000, ge=10, le=4000)
    needs_opt_in: bool = True  # only customers who turned offers and news on in /settings
    answer_days: int = Field(default=7, ge=1, le=90)  # a score later than this is refused


class LifecycleSettings(_Section):
    """Thresholds of the evolution ladder (seed 002); defaults from scoring.lifecycle."""

    # Purchases counted as purchase days; "repeat" is fixed at 2 (scoring.repeat).
    client_from_purchases: int = Field(default=4, ge=3)
    reliable_friend_from_purchases: int = Field(default=8, ge=2)
    reliable_friend_min_tenure_days: float = Field(default=180, ge=0)
    partner_from_purchases: int = Field(default=15, ge=2)
    partner_min_tenure_days: float = Field(default=365, ge=0)
    lapse_factor: float = Field(default=3.0, gt=0)
    min_lapse_days: float = Field(default=90, gt=0)


# What the scoring job can feed a rating-scale preset (SPEC: rating-scale inputs).
RATING_SCALE_INPUTS = frozenset(
    {"turnover_share_pct", "cooperation_months", "payment", "monthly_growth_pct"}
)


class ScoringSettings(_Section):
    clv_margin: float = Field(default=0.3, gt=0, le=1)
    clv_discount_rate: float = Field(default=0.01, ge=0, lt=1)
    clv_horizon_months: int = Field(default=12, ge=1, le=120)
    min_repeat_buyers: int = Field(default=10, ge=2)
    rating_scale: Literal["none", "b2b", "custom"] = "none"
    custom_rating_scale: dict[str, Any] | None = None
    active_window_days: int = Field(default=365, ge=1)
    nightly_at: str = Field(default="03:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    stale_run_minutes: int = Field(default=60, ge=1)
    strategy: dict[str, str] | None = None  # quadrant -> seed 001 strategy (scoring.value)
    lifecycle: LifecycleSettings = LifecycleSettings()

    @model_validator(mode="after")
    def _strategy_table(self) -> ScoringSettings:
        if self.strategy is not None:
            from scoring import strategy_table

            strategy_table(self.strategy, where="scoring.strategy")  # ValueError names the key
        return self

    @model_validator(mode="after")
    def _custom_preset(self) -> ScoringSettings:
        if self.rating_scale == "custom" and not self.custom_rating_scale:
            raise ValueError("rating_scale = 'custom' needs a [scoring.custom_rating_scale] table")
        if self.custom_rating_scale is not None:
            from scoring import RatingScaleConfigError, preset_from_dict

            try:
                preset = preset_from_dict(self.custom_rating_scale)
            except RatingScaleConfigError as err:
                raise ValueError(f"custom_rating_scale: {err}") from None
            unknown = sorted({c.key for c in preset.criteria} - RATING_SCALE_INPUTS)
            if unknown:
                raise ValueError(
                    f"custom_rating_scale: unknown criteria {unknown}; "
                    f"known: {sorted(RATING_SCALE_INPUTS)}"
                )
        return self


def _localized(value: dict[str, Any], what: str) -> dict[str, Any]:
    missing = [loc for loc in SUPPORTED_LOCALES if loc not in value]
    extra = [loc for loc in value if loc not in SUPPORTED_LOCALES]
    if missing or extra:
        raise ValueError(f"{what} needs exactly the locales {', '.join(SUPPORTED_LOCALES)}")
    return value


class Tier(_Section):
    """One level of the programme. The first tier of a ladder is where everyone starts."""

    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    names: dict[str, str]
    earn_percent: Decimal | None = Field(default=None, ge=0, le=100)  # None: loyalty.earn_percent
    min_spend: Decimal | None = Field(default=None, ge=0)  # retail: rolling-window spend, or
    min_visits: int | None = Field(default=None, ge=1)  # retail: purchases + visits in window
    min_rating: int | None = Field(default=None, ge=0, le=13)  # b2b: rating-scale points
    perks: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("names")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        return _localized(value, "tier names")

    @field_validator("perks")
    @classmethod
    def _perks(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return _localized(value, "tier perks") if value else value

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


class TiersSettings(_Section):
    preset: Literal["retail", "b2b"] = "retail"
    levels: tuple[Tier, ...] = ()  # empty: the preset's ladder
    window_months: int = Field(default=12, ge=1, le=120)
    grace_days: int = Field(default=30, ge=0, le=3650)
    recheck_at: str = Field(default="04:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _ladder_is_sound(self) -> TiersSettings:
        ladder = self.ladder
        codes = [t.code for t in ladder]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        for lower, higher in pairwise(ladder[1:]):
            for attr in ("min_spend", "min_visits", "min_rating"):
                a, b = getattr(lower, attr), getattr(higher, attr)
                if a is not None and b is not None and b <= a:
                    raise ValueError(f"tier {higher.code}: {attr} must exceed {lower.code}'s")
        for tier in ladder[1:]:
            if self.preset == "retail" and tier.min_spend is None and tier.min_visits is None:
                raise ValueError(f"tier {tier.code}: retail tiers need min_spend or min_visits")
            if self.preset == "b2b" and tier.min_rating is None:
                raise ValueError(f"tier {tier.code}: b2b tiers need min_rating")
        return self

    @property
    def ladder(self) -> tuple[Tier, ...]:
        return self.levels or TIER_PRESETS[self.preset]


class ExpirySettings(_Section):
    months: int = Field(default=12, ge=0, le=120)  # 0: points never expire
    warn_days: int = Field(default=14, ge=1, le=365)
    balance_horizon_days: int = Field(default=30, ge=1, le=365)
    run_at: str = Field(default="04:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class ProfileField(_Section):
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
        return _localized(value, "profile field labels")

    @model_validator(mode="after")
    def _choices(self) -> ProfileField:
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"profile field {self.code}: choices go with kind = 'choice' only")
        return self


class ProfileSettings(_Section):
    fields: tuple[ProfileField, ...] = ()

    @field_validator("fields")
    @classmethod
    def _unique(cls, value: tuple[ProfileField, ...]) -> tuple[ProfileField, ...]:
        if len({f.code for f in value}) != len(value):
            raise ValueError("profile field codes must be unique")
        return value


class ReferralSettings(_Section):
    referrer_points: int = Field(default=0, ge=0)
    referred_points: int = Field(default=0, ge=0)
    # The referred customer's first purchase with at least this net amount rewards both.
    min_purchase: Decimal = Field(default=Decimal("0"), ge=0, decimal_places=2)


class PrivacySettings(_Section):
    policy_version: str = Field(default="2026-11", min_length=1, max_length=24)
    id_hash_salt: str = Field(default="loyalty-bot", min_length=1, repr=False)
    min_age_years: int = Field(default=0, ge=0, le=21)
    max_age_years: int = Field(default=120, ge=50, le=150)
    # Below a week: Telegram restarts update ids at random after a week without updates.
    processed_retention_days: int = Field(default=3, ge=1, le=6)
    prune_at: str = Field(default="05:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class WebSettings(_Section):
    """The HTTP side: the webhook (``run --webhook``), health checks and metrics."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: no HTTP server unless --webhook
    webhook_url: str | None = None  # public HTTPS address Telegram posts to (webhook set)
    webhook_path: str = Field(default="/telegram/webhook", pattern=r"^/[A-Za-z0-9/_-]*$")
    webhook_secret: str | None = Field(default=None, repr=False, pattern=r"^[A-Za-z0-9_-]{16,256}$")


class WorkerSettings(_Section):
    """The worker role: scheduler and outbox sender, one active process at a time."""

    lease_check_seconds: float = Field(default=5.0, gt=0, le=300)


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


class Settings(BaseSettings):
    """The whole configuration; `bot_token` and `database.url` may come from the environment."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_nested_delimiter="__", env_prefix="LOYALTY_"
    )

    bot_token: str | None = Field(default=None, repr=False)
    business: BusinessSettings
    loyalty: LoyaltySettings = LoyaltySettings()
    staff: StaffSettings = StaffSettings()
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    outbox: OutboxSettings = OutboxSettings()
    contact: ContactSettings = ContactSettings()
    survey: SurveySettings = SurveySettings()
    scoring: ScoringSettings = ScoringSettings()
    tiers: TiersSettings = TiersSettings()
    expiry: ExpirySettings = ExpirySettings()
    profile: ProfileSettings = ProfileSettings()
    referral: ReferralSettings = ReferralSettings()
    privacy: PrivacySettings = PrivacySettings()
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()

    @model_validator(mode="before")
    @classmethod
    def _kind_presets(cls, data: Any) -> Any:
        """``business.kind`` fills the profile questions and service tags a config leaves
        out, in the business's language (BUSINESS_PRESETS)."""
        if not isinstance(data, dict):
            return data
        business = data.get("business")
        kind = business.get("kind") if isinstance(business, dict) else None
        preset = BUSINESS_PRESETS.get(kind or "")
        if preset is None:
            return data
        language = business.get("default_language", DEFAULT_LOCALE)  # type: ignore[union-attr]
        if language not in preset["service_tags"]:
            raise ValueError(f"business.kind {kind!r} has no service tags in {language!r}")
        data = dict(data)
        loyalty = dict(data.get("loyalty") or {})
        loyalty.setdefault("service_tags", preset["service_tags"][language])
        profile = dict(data.get("profile") or {})
        profile.setdefault("fields", preset["fields"])
        data["loyalty"], data["profile"] = loyalty, profile
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.bot_token is not None and ":" not in self.bot_token:
            raise ValueError("bot_token: looks malformed (expected 123456:ABC...)")
        if self.tiers.preset == "b2b" and self.scoring.rating_scale == "none":
            raise ValueError(
                "tiers.preset = 'b2b' assigns tiers from the rating scale: "
                "set scoring.rating_scale = 'b2b'"
            )
        return self

    def secrets(self) -> tuple[str, ...]:
        """What must never leave the process (log lines, stored errors): the bot token, its
        secret half on its own, and the database password."""
        found = []
        if self.bot_token:
            found += [self.bot_token, self.bot_token.split(":", 1)[1]]
        password = make_url(self.database.url).password
        if password:
            found.append(str(password))
        return tuple(s for s in found if s)

    def is_service_tag(self, token: str) -> bool:
        return token.casefold() in self.loyalty.service_tags

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls,
        settings_cls: Any,
        init_settings: Any,
        env_settings: Any,
        dotenv_settings: Any,
        file_secret_settings: Any,
    ) -> tuple[Any, ...]:
        # Environment wins over the file, so secrets never need to be written into it.
        return (env_settings, init_settings)


def _format_error(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg']}")
    return "; ".join(lines)


def _environment_overrides() -> dict[str, Any]:
    """Plain variable names an operator expects: BOT_TOKEN and DATABASE_URL."""
    import os

    data: dict[str, Any] = {}
    if os.environ.get("BOT_TOKEN"):
        data["bot_token"] = os.environ["BOT_TOKEN"]
    if os.environ.get("DATABASE_URL"):
        data["database_url"] = os.environ["DATABASE_URL"]
    if os.environ.get("WEBHOOK_SECRET"):
        data["webhook_secret"] = os.environ["WEBHOOK_SECRET"]
    return data


ENV_PREFIX = "LOYALTY_"


def _check_environment_keys() -> None:
    """``LOYALTY_<SECTION>__<KEY>`` naming no setting is a typo, not something to ignore."""
    import difflib
    import os

    def unknown(name: str, what: str, known: list[str], spelled: str) -> ConfigError:
        """``spelled``: the variable's name with ``{}`` where the closest match goes."""
        close = difflib.get_close_matches(what, known, n=1)
        hint = f" (did you mean {ENV_PREFIX}{spelled.format(close[0]).upper()}?)" if close else ""
        return ConfigError(f"{name}: no setting {what!r}{hint}")

    for name in sorted(os.environ):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue  # LOYALTY_TEST_* and the like are not settings
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        model = getattr(Settings.model_fields.get(section), "annotation", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise unknown(name, section, list(Settings.model_fields), "{}__" + key)
        keys = list(model.model_fields)
        if key.split("__")[0] not in keys:
            raise unknown(name, key, keys, section + "__{}")


def settings_from_dict(data: dict[str, Any], *, use_env: bool = True) -> Settings:
    """Validate a parsed TOML document (and, by default, the environment)."""
    data = dict(data)
    if use_env:
        _check_environment_keys()
        env = _environment_overrides()
        if "bot_token" in env:
            data["bot_token"] = env["bot_token"]
        if "database_url" in env:
            data["database"] = {**data.get("database", {}), "url": env["database_url"]}
        if "webhook_secret" in env:
            data["web"] = {**data.get("web", {}), "webhook_secret": env["webhook_secret"]}
    try:
        if use_env:
            return Settings(**data)
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None


def load_settings(path: Path = DEFAULT_CONFIG_PATH, *, use_env: bool = True) -> Settings:
    if not path.exists():
        raise ConfigError(f"{path}: not found (copy config.example.toml to {path})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return settings_from_dict(data, use_env=use_env)
