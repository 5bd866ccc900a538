"""The programme's rules in force, as a customer reads them (/program and the sign-up
intro): every number comes from settings and the tier helpers, none is spelled here."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from bot.config import Settings
from bot.services.context import Business
from bot.services.money.tiers import earn_percent, ladder, ladder_view
from bot.services.rules.model import Rule
from bot.services.rules.versions import Version, in_force, upcoming, versions


class RuleView(BaseModel):
    """One earn rule as /program and the owner's replies show it (labels.rule_line)."""

    name: str
    kind: str
    factor: Decimal | None = None
    points: int | None = None
    every: int | None = None
    reward: str | None = None
    tags: list[str] = []
    outlets: list[str] = []  # their names
    starts: datetime | None = None
    ends: datetime | None = None  # exclusive
    last_day: datetime | None = None  # ends at a midnight: the day before it, shown instead
    weekdays: list[str] = []
    hours: list[str] = []  # from, to


class VersionView(BaseModel):
    id: int
    starts_at: datetime
    percents: list[tuple[str, Decimal]]  # (tier name, percent) where the version sets one
    rules: list[RuleView]


class ProgramRules(BaseModel):
    business: str
    earn_percent: Decimal  # the first tier's rate: what everyone earns from the start
    point_value: Decimal
    redeem_share_pct: Decimal
    redemption_confirm_minutes: int
    pending_days: int  # a purchase's points are spendable after the return window
    welcome_bonus: int
    referrer_points: int
    referred_points: int
    referral_min_purchase: Decimal
    expiry_months: int  # 0: points never expire
    expiry_warn_days: int
    tiers: list[dict[str, object]]  # tiers.ladder_view
    tier_window_months: int
    demotion_grace_days: int
    version_now: VersionView | None = None  # the earn rules' version in force (program_page)
    version_next: VersionView | None = None  # the next one published


def program_rules(settings: Settings, locale: str) -> ProgramRules:
    loyalty, referral = settings.loyalty, settings.referral
    return ProgramRules(
        business=settings.business.name,
        earn_percent=earn_percent(settings, None),
        point_value=loyalty.point_value,
        redeem_share_pct=loyalty.max_redeem_share * 100,
        redemption_confirm_minutes=loyalty.redemption_confirm_minutes,
        pending_days=loyalty.pending_days,
        welcome_bonus=loyalty.welcome_bonus,
        referrer_points=referral.referrer_points,
        referred_points=referral.referred_points,
        referral_min_purchase=referral.min_purchase,
        expiry_months=settings.expiry.months,
        expiry_warn_days=settings.expiry.warn_days,
        tiers=ladder_view(settings, locale),
        tier_window_months=settings.tiers.window_months,
        demotion_grace_days=settings.tiers.grace_days,
    )


def rule_view(biz: Business, rule: Rule) -> RuleView:
    zone, business = biz.settings.business.zone, biz.settings.business

    def aware(moment: datetime | None) -> datetime | None:
        return moment.replace(tzinfo=zone) if moment is not None else None

    whole_days = rule.ends is not None and not rule.ends.time()  # a date's end: midnight
    return RuleView(
        name=rule.name, kind=rule.kind, factor=rule.factor, points=rule.points,
        every=rule.every, reward=rule.reward, tags=list(rule.tags),
        outlets=[business.outlet_name(o) for o in rule.outlets], starts=aware(rule.starts),
        ends=aware(rule.ends), weekdays=list(rule.weekdays),
        hours=[h.strftime("%H:%M") for h in rule.hours or ()],
        last_day=aware(rule.ends - timedelta(days=1)) if whole_days else None,
    )  # fmt: skip


def version_view(biz: Business, version: Version | None, locale: str) -> VersionView | None:
    if version is None:
        return None
    names = {t.code: t.name(locale) for t in ladder(biz.settings)}
    return VersionView(
        id=version.id,
        starts_at=version.starts_at,
        percents=[(names.get(c, c), p) for c, p in version.rules.percents.items()],
        rules=[rule_view(biz, r) for r in version.rules.rule],
    )


async def program_page(biz: Business, locale: str) -> ProgramRules:
    """/program: the rules from config, the version of the earn rules in force and the
    next one published (each with its start)."""
    found = await versions(biz)
    now = biz.clock.now()
    page = program_rules(biz.settings, locale)
    page.version_now = version_view(biz, in_force(found, now), locale)
    page.version_next = version_view(biz, upcoming(found, now), locale)
    return page
