"""Configuration: one TOML file validated by pydantic-settings, secrets from the environment.

Every business rule that SPEC.md says lives in config (earn rate, point value, redemption
share, maximum purchase, service tags, ...) is declared here once and read from here.
`load_settings` turns any validation problem into `ConfigError` naming the key and the
reason, so a bad config fails at start with one readable line instead of a traceback.
Sections live by area: the tier ladders and sign-up questions in ``bot.config.programme``,
the scoring job's in ``bot.config.scoring``, what the bot says and to whom in
``bot.config.messaging``, the daily jobs in ``bot.config.jobs``, how the process runs
(Telegram, database, web, worker) in ``bot.config.runtime``; what all share is
``bot.config.base``. All are re-exported here: import from ``bot.config``.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.config.base import DEFAULT_LOCALE, SUPPORTED_LOCALES, ConfigError, Locale, Section
from bot.config.controls import ControlsSettings, DailyCap, StaffSettings
from bot.config.jobs import (
    BirthdaySettings,
    Holiday,
    HolidaySettings,
    OfferSpec,
    ReminderRule,
    ReminderSettings,
    TradeInSettings,
    TreatmentRow,
    TreatmentSettings,
    WinBackSettings,
)
from bot.config.messaging import (
    DEFAULT_MESSAGE_KINDS,
    CampaignSettings,
    ContactSettings,
    ConversationSettings,
    MessageKind,
    OutboxSettings,
    SurveySettings,
    TextsSettings,
)
from bot.config.programme import (
    BUSINESS_PRESETS,
    TIER_PRESETS,
    ProfileField,
    ProfileSettings,
    ReferralSettings,
    Rewards,
    RulesSettings,
    Tier,
    TiersSettings,
)
from bot.config.runtime import DatabaseSettings, TelegramSettings, WebSettings, WorkerSettings
from bot.config.scoring import LifecycleSettings, ScoringSettings

__all__ = [
    "BUSINESS_PRESETS",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_LOCALE",
    "DEFAULT_MESSAGE_KINDS",
    "SUPPORTED_LOCALES",
    "TIER_PRESETS",
    "BirthdaySettings",
    "BusinessSettings",
    "CampaignSettings",
    "ConfigError",
    "ContactSettings",
    "ControlsSettings",
    "ConversationSettings",
    "DailyCap",
    "DatabaseSettings",
    "ExpirySettings",
    "Holiday",
    "HolidaySettings",
    "LifecycleSettings",
    "Locale",
    "LoyaltySettings",
    "MessageKind",
    "OfferSpec",
    "OutboxSettings",
    "Outlet",
    "PrivacySettings",
    "ProfileField",
    "ProfileSettings",
    "ReferralSettings",
    "ReminderRule",
    "ReminderSettings",
    "RulesSettings",
    "ScoringSettings",
    "Settings",
    "StaffSettings",
    "SurveySettings",
    "TelegramSettings",
    "TextsSettings",
    "Tier",
    "TiersSettings",
    "TradeInSettings",
    "TreatmentRow",
    "TreatmentSettings",
    "WebSettings",
    "WinBackSettings",
    "WorkerSettings",
    "load_settings",
    "settings_from_dict",
]

DEFAULT_CONFIG_PATH = Path("config.toml")


class Outlet(Section):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)


class BusinessSettings(Section):
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
        if len({o.code for o in value}) != len(value):
            raise ValueError("outlet codes must be unique")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def outlet_name(self, code: str) -> str:  # for people to read; the code if not listed
        return next((o.name for o in self.outlets if o.code == code), code)

    @property
    def default_outlet(self) -> str:
        """The first outlet listed: where staff without an outlet of their own work."""
        return self.outlets[0].code


class LoyaltySettings(Section):
    point_value: Decimal = Field(default=Decimal("1"), gt=0, description="money per point")
    earn_percent: Decimal = Field(default=Decimal("5"), ge=0, le=100)
    max_redeem_share: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    max_purchase_amount: Decimal = Field(default=Decimal("1000000"), gt=0)
    redemption_confirm_minutes: int = Field(default=5, ge=1, le=60)
    welcome_bonus: int = Field(default=0, ge=0)
    service_tags: tuple[str, ...] = ()
    max_adjust_points: int = Field(default=100000, ge=1)
    pending_days: int = Field(default=0, ge=0, le=365)  # a purchase's points wait the return window
    rewards: Rewards = ()  # the catalogue: named rewards paid with points (programme.Reward)

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


class ExpirySettings(Section):
    months: int = Field(default=12, ge=0, le=120)  # 0: points never expire
    warn_days: int = Field(default=14, ge=1, le=365)
    balance_horizon_days: int = Field(default=30, ge=1, le=365)
    run_at: str = Field(default="04:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class PrivacySettings(Section):
    policy_version: str = Field(default="2026-11", min_length=1, max_length=24)
    # No default: a secret written at the first start (bot.config.salt), or from the env.
    id_hash_salt: str = Field(default="", repr=False)
    min_age_years: int = Field(default=0, ge=0, le=21)
    max_age_years: int = Field(default=120, ge=50, le=150)
    # Below a week: Telegram restarts update ids at random after a week without updates.
    processed_retention_days: int = Field(default=3, ge=1, le=6)
    prune_at: str = Field(default="05:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Settings(BaseSettings):
    """The whole configuration; `bot_token` and `database.url` may come from the environment."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_nested_delimiter="__", env_prefix="LOYALTY_"
    )

    bot_token: str | None = Field(default=None, repr=False)
    business: BusinessSettings
    loyalty: LoyaltySettings = LoyaltySettings()
    staff: StaffSettings = StaffSettings()
    controls: ControlsSettings = ControlsSettings()
    telegram: TelegramSettings = TelegramSettings()
    database: DatabaseSettings = DatabaseSettings()
    outbox: OutboxSettings = OutboxSettings()
    contact: ContactSettings = ContactSettings()
    survey: SurveySettings = SurveySettings()
    conversations: ConversationSettings = ConversationSettings()
    scoring: ScoringSettings = ScoringSettings()
    tiers: TiersSettings = TiersSettings()
    expiry: ExpirySettings = ExpirySettings()
    profile: ProfileSettings = ProfileSettings()
    referral: ReferralSettings = ReferralSettings()
    texts: TextsSettings = TextsSettings()
    campaigns: CampaignSettings = CampaignSettings()
    birthday: BirthdaySettings = BirthdaySettings()
    holidays: HolidaySettings = HolidaySettings()
    reminders: ReminderSettings = ReminderSettings()
    tradein: TradeInSettings = TradeInSettings()
    winback: WinBackSettings = WinBackSettings()
    rules: RulesSettings = RulesSettings()
    treatment: TreatmentSettings = TreatmentSettings()
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
        own_tags = "service_tags" in loyalty
        loyalty.setdefault("service_tags", preset["service_tags"][language])
        profile = dict(data.get("profile") or {})
        profile.setdefault("fields", preset["fields"])
        data["loyalty"], data["profile"] = loyalty, profile
        if "reminder_rules" in preset and not own_tags:  # the preset's rules name its tags
            reminders = dict(data.get("reminders") or {})
            reminders.setdefault("rules", preset["reminder_rules"][language])
            data["reminders"] = reminders
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
        if self.expiry.months and self.loyalty.pending_days >= 28 * self.expiry.months:
            raise ValueError("loyalty.pending_days: points would expire before they are available")
        for rule in self.reminders.rules:
            if not self.is_service_tag(rule.tag):
                raise ValueError(
                    f"reminders.rules: {rule.tag!r} is not a service tag "
                    f"(loyalty.service_tags: {', '.join(self.loyalty.service_tags) or 'none'})"
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

    names = ("BOT_TOKEN", "DATABASE_URL", "WEBHOOK_SECRET")
    return {name.lower(): os.environ[name] for name in names if os.environ.get(name)}


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
