"""/program, for everyone (strangers included): the rules in force as the customer reads
them, every number from settings (two configurations give two texts), nothing written."""

from __future__ import annotations

import pytest

from bot.services.members.program import program_rules
from tests.conftest import make_settings
from tests.support.flows import join
from tests.support.harness import App

STRANGER = 7001

RULES = {
    "loyalty": {"welcome_bonus": 20, "max_redeem_share": "0.3", "redemption_confirm_minutes": 3},
    "referral": {"referrer_points": 100, "referred_points": 50, "min_purchase": "500"},
    "expiry": {"months": 6, "warn_days": 7},
    "tiers": {"grace_days": 45},
}


async def test_a_stranger_reads_the_rules_in_force(app: App, db_url: str) -> None:
    app = app.variant(make_settings(db_url, **RULES))
    before = await app.counts(include_audit=True)
    await app.user(STRANGER, "en").send("/program")
    text = app.fake.last(STRANGER).text
    for part in (
        "<b>Test Garage</b>: how the loyalty programme works",
        "5% of every purchase comes back to you as points (1 point = ₽1.00)",
        "pay up to 30% of a purchase with points: the cashier asks, and you confirm in this "
        "chat within 3 minutes",
        "20 welcome points when you join",
        "after their first purchase of ₽500.00 or more you get 100 points and your friend "
        "50 points",
        "points stay valid for 6 months after they are credited; we remind you 7 days before",
        "• <b>Base</b> — from the start: 5% in points.",
        "• <b>Silver</b> — from ₽30,000.00 of purchases or from 12 visits in 12 months: 7% "
        "in points, priority booking.",
        "• <b>Gold</b> — from ₽100,000.00 of purchases or from 24 visits in 12 months: 10%",
        "you keep it for 45 days more",
    ):
        assert part in text, part
    assert await app.counts(include_audit=True) == before  # no customer row for a reader


async def test_other_settings_other_text(app: App, db_url: str) -> None:
    """No expiry, no referral rewards, no welcome bonus, the b2b ladder, no grace."""
    app = app.variant(
        make_settings(
            db_url,
            expiry={"months": 0},
            tiers={"preset": "b2b", "grace_days": 0},
            scoring={"rating_scale": "b2b"},
            loyalty={"earn_percent": "3", "point_value": "0.5"},
        )
    )
    await app.user(STRANGER, "en").send("/program")
    text = app.fake.last(STRANGER).text
    assert "3% of every purchase comes back to you as points (1 point = ₽0.50)" in text
    assert "points never expire" in text
    assert "invite a friend" not in text and "welcome point" not in text
    assert "• <b>No category</b> — from the start: 3% in points." in text
    assert "• <b>Standard customer</b> — from 5 points on our customer rating scale" in text
    assert "Strategic partner" in text
    assert "you keep it" not in text


@pytest.mark.parametrize("locale", ["ru", "en"])
async def test_a_member_in_their_language(app: App, db_url: str, locale: str) -> None:
    app = app.variant(make_settings(db_url, **RULES))
    user = app.user(5001, locale)
    await join(app, user)
    before = await app.counts(include_audit=True)
    await user.send("/program")
    text = app.fake.last(5001).text
    expected = {
        "ru": ["до 30% покупки", "в этом чате за 3 минуты", "вы получите 100 баллов, а друг — "
               "50 баллов", "мы напомним за 7 дней до сгорания", "статус сохранится ещё 45 дней"],
        "en": ["up to 30% of a purchase", "you get 100 points", "45 days more"],
    }[locale]  # fmt: skip
    for part in expected:
        assert part in text, part
    assert await app.counts(include_audit=True) == before


def test_the_intro_and_program_share_one_source(db_url: str) -> None:
    """The sign-up intro and /program take the same values (bot.services.members.program)."""
    settings = make_settings(db_url, **RULES)
    rules = program_rules(settings, "en")
    assert rules.redeem_share_pct == 30 and rules.earn_percent == 5
    assert [t["name"] for t in rules.tiers] == ["Base", "Silver", "Gold"]
