"""The programme's rules in force, as a customer reads them (/program and the sign-up
intro): every number comes from settings and the tier helpers, none is spelled here."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel

from bot.config import Settings
from bot.services.money.tiers import earn_percent, ladder_view


class ProgramRules(BaseModel):
    business: str
    earn_percent: Decimal  # the first tier's rate: what everyone earns from the start
    point_value: Decimal
    redeem_share_pct: Decimal
    redemption_confirm_minutes: int
    welcome_bonus: int
    referrer_points: int
    referred_points: int
    referral_min_purchase: Decimal
    expiry_months: int  # 0: points never expire
    expiry_warn_days: int
    tiers: list[dict[str, object]]  # tiers.ladder_view
    tier_window_months: int
    demotion_grace_days: int


def program_rules(settings: Settings, locale: str) -> ProgramRules:
    loyalty, referral = settings.loyalty, settings.referral
    return ProgramRules(
        business=settings.business.name,
        earn_percent=earn_percent(settings, None),
        point_value=loyalty.point_value,
        redeem_share_pct=loyalty.max_redeem_share * 100,
        redemption_confirm_minutes=loyalty.redemption_confirm_minutes,
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
