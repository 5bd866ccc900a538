"""Configuration of the daily jobs that write to customers: birthday, holidays, service
reminders, trade-in, win-back, and the offers they carry (bot.services.jobs_*)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.config.base import Section, localized

# The largest percent an offer may take off: a purchase is never free (it would book an
# amount of 0), so 100 % could be granted but never used at the counter.
MAX_OFFER_PERCENT = Decimal(99)

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class OfferSpec(Section):
    """An offer a job grants with its message (bot.services.money.offers): bonus points, percent
    off (the reminder's service tag, when the job has one) or a fixed amount off."""

    kind: Literal["points", "percent", "fixed"] = "percent"
    value: Decimal = Field(gt=0, le=Decimal("1000000"))
    days: int | None = Field(default=None, ge=1, le=365)  # None: to the end of the month

    @model_validator(mode="after")
    def _value_fits_kind(self) -> OfferSpec:
        if self.kind == "percent" and self.value > MAX_OFFER_PERCENT:
            raise ValueError(f"a percent offer is at most {MAX_OFFER_PERCENT}")
        if self.kind == "points" and self.value != self.value.to_integral_value():
            raise ValueError("a points offer gives whole points")
        return self


class BirthdaySettings(Section):
    """The birthday greeting (bot.services.jobs_birthday). A 29 February birthday is
    greeted on 28 February in years without one."""

    enabled: bool = True
    run_at: str = Field(default="09:30", pattern=_HHMM)
    days_ahead: int = Field(default=0, ge=0, le=30)  # greet N days before the day
    gift: Literal["points", "offer", "none"] = "points"
    points: int = Field(default=300, ge=1, le=1_000_000)  # gift = "points"
    offer: OfferSpec = OfferSpec(kind="percent", value=Decimal("10"), days=7)  # gift = "offer"


class Holiday(Section):
    """A holiday greeting «с небольшими подарками или скидками» (seed 004): bonus points,
    or an offer, or neither; scaled per customer by the treatment table."""

    date: str = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")  # MM-DD, local
    template: str = Field(pattern=r"^[a-z0-9_]{1,40}$")  # block jobs.holiday_<template>
    points: int = Field(default=0, ge=0, le=1_000_000)  # bonus points with the greeting
    offer: OfferSpec | None = None  # or an offer (not both)

    @model_validator(mode="after")
    def _one_gift(self) -> Holiday:
        if self.points and self.offer is not None:
            raise ValueError(f"holiday {self.date}: points or an offer, not both")
        return self


class HolidaySettings(Section):
    enabled: bool = True
    run_at: str = Field(default="10:00", pattern=_HHMM)
    calendar: tuple[Holiday, ...] = (
        Holiday(date="01-01", template="new_year", points=100),
        Holiday(date="03-08", template="womens_day", points=100),
    )

    @field_validator("calendar")
    @classmethod
    def _one_per_day(cls, value: tuple[Holiday, ...]) -> tuple[Holiday, ...]:
        if len({h.date for h in value}) != len(value):
            raise ValueError("one holiday per date")
        return value


class ReminderRule(Section):
    """Remind about a service ``days`` after it, or once the estimated kilometres since it
    reach ``km``, whichever comes first (at least one of the two)."""

    tag: str = Field(min_length=1, max_length=32)
    days: int | None = Field(default=None, ge=1, le=3650)
    km: int | None = Field(default=None, ge=100, le=1_000_000)
    service: dict[str, str]  # the service in a sentence, per locale: "замену масла"
    offer: OfferSpec | None = None  # percent/fixed off this service tag

    @field_validator("service")
    @classmethod
    def _service(cls, value: dict[str, str]) -> dict[str, str]:
        return localized(value, "reminder service names")

    @model_validator(mode="after")
    def _some_interval(self) -> ReminderRule:
        if self.days is None and self.km is None:
            raise ValueError(f"reminder rule {self.tag}: set days, km or both")
        return self


class ReminderSettings(Section):
    """Service reminders (bot.services.jobs_reminders) and mileage estimates."""

    enabled: bool = True
    run_at: str = Field(default="10:30", pattern=_HHMM)
    rules: tuple[ReminderRule, ...] = ()
    # A reminder due more than this many days ago is no longer sent (first run, outage).
    catch_up_days: int = Field(default=7, ge=1, le=365)
    # Estimated run when the customer's reported mileages say nothing yet (km a month).
    default_monthly_km: int = Field(default=1250, ge=1, le=20_000)
    # Largest monthly run believed from reports; above it the estimate is capped.
    max_monthly_km: int = Field(default=5_000, ge=100, le=100_000)
    # Largest mileage staff may report (/visit ... km:N).
    max_km: int = Field(default=2_000_000, ge=1000)

    @field_validator("rules")
    @classmethod
    def _one_rule_per_tag(cls, value: tuple[ReminderRule, ...]) -> tuple[ReminderRule, ...]:
        tags = [r.tag.casefold() for r in value]
        if len(set(tags)) != len(tags):
            raise ValueError("one reminder rule per service tag")
        return tuple(r.model_copy(update={"tag": r.tag.casefold()}) for r in value)


class TradeInSettings(Section):
    """One trade-in offer per customer (seed 004) when the car passes a threshold."""

    enabled: bool = True
    run_at: str = Field(default="11:00", pattern=_HHMM)
    km: int | None = Field(default=150_000, ge=1000)  # estimated mileage
    age_years: int | None = Field(default=7, ge=1, le=100)  # years since the car's year
    offer: OfferSpec | None = None
    # "Thinking about a new car?" on /card and under service reminders: the owners (the
    # customer's personal manager first) are told once, and the offer goes out then.
    interest_button: bool = True


ChurnReason = Literal["price", "quality", "moved", "other"]
CHURN_REASONS: tuple[ChurnReason, ...] = ("price", "quality", "moved", "other")


class WinBackSettings(Section):
    """Win-back (bot.services.jobs.winback): one offer per window to a drifting customer."""

    enabled: bool = True
    run_at: str = Field(default="11:30", pattern=_HHMM)
    # Drifting: days since the last live purchase exceed k times their own usual interval
    # (needs min_purchases), and at least min_days...
    interval_factor: float = Field(default=2.0, gt=1, le=20)
    min_purchases: int = Field(default=2, ge=2, le=100)
    min_days: int = Field(default=45, ge=1, le=3650)
    # ...or the scoring's probability of still being active is below this (0: unused).
    p_alive_below: float = Field(default=0.3, ge=0, lt=1)
    window_days: int = Field(default=90, ge=7, le=3650)  # one offer per window
    offer: OfferSpec = OfferSpec(kind="percent", value=Decimal("10"), days=14)
    # The message's "why did you stop coming?" buttons; a customer who answers one of
    # stop_reasons gets no further win-back messages.
    ask_reason: bool = True
    stop_reasons: tuple[ChurnReason, ...] = ("moved",)


Reach = Literal["birthday", "holidays", "reminders", "tradein", "winback", "broadcast"]
ALL_REACH: tuple[Reach, ...] = (
    "birthday",
    "holidays",
    "reminders",
    "tradein",
    "winback",
    "broadcast",
)


class TreatmentRow(Section):
    """What a group of customers gets: which jobs and broadcasts may reach them, and their
    gifts and offers as a percent of what the job itself gives."""

    reach: tuple[Reach, ...] = ALL_REACH
    gift_percent: int = Field(default=100, ge=0, le=500)


class TreatmentSettings(Section):
    """The treatment table (issue 21; seed 000: value decides the service, seed 001: the
    strategy). A customer's row is their strategy's (``none``: not scored yet); their
    value scales the gift once more (``value_gift_percent``). Defaults follow the sources:
    reward and invest — everything, gifts at 150 % ("Вознаграждать и вкладывать");
    manage — everything as configured; collect — everything, gifts at 50 % (the seed's
    "штрафные санкции": fewer free perks); release — greetings and service reminders
    without gifts, no win-back, trade-in or broadcasts ("Освобождать", "Минимизировать
    затраты на обслуживание"); low value — gifts at 50 % (minimise the cost of serving)."""

    reward_and_invest: TreatmentRow = TreatmentRow(gift_percent=150)
    manage: TreatmentRow = TreatmentRow()
    collect: TreatmentRow = TreatmentRow(gift_percent=50)
    release: TreatmentRow = TreatmentRow(
        reach=("birthday", "holidays", "reminders"), gift_percent=0
    )
    none: TreatmentRow = TreatmentRow()
    value_gift_percent: dict[Literal["high", "medium", "low"], int] = Field(
        default_factory=lambda: {"high": 100, "medium": 100, "low": 50}
    )

    @model_validator(mode="after")
    def _percents(self) -> TreatmentSettings:
        for level, percent in self.value_gift_percent.items():
            if not 0 <= percent <= 500:
                raise ValueError(f"value_gift_percent.{level}: a percent from 0 to 500")
        return self

    def row(self, strategy: str | None) -> TreatmentRow:
        return getattr(self, strategy) if strategy in STRATEGY_ROWS else self.none

    def gift_percent(self, strategy: str | None, value: str | None) -> int:
        """The strategy's percent times the value's (e.g. 150 % x 50 % = 75 %)."""
        scale = self.value_gift_percent.get(value, 100) if value else 100  # type: ignore[call-overload]
        return self.row(strategy).gift_percent * scale // 100


# The rows named after seed 001's per-customer strategies (scoring.STRATEGIES; a test
# holds the two equal): config must not import the numeric scoring package.
STRATEGY_ROWS = ("reward_and_invest", "manage", "collect", "release")
