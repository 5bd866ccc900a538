"""Tiers that keep: separate entry and keep thresholds, a re-entry rule, and the customer
told before the grace period ends what keeps their tier. Seed 002 gives the best customers
«Система накопительных скидок»: a status earned is kept while the customer stays near it,
and a status lost is won back at its entry threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.config import ConfigError, Settings
from bot.services.money import tier_keeping, tiers
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER = 6001, 5001
BASE = {"code": "base", "names": {"ru": "Базовый", "en": "Base"}}
SILVER = {
    "code": "silver", "names": {"ru": "Серебряный", "en": "Silver"}, "earn_percent": "7",
    "min_spend": "10000", "keep_spend": "6000",
}  # fmt: skip
GOLD = {
    "code": "gold", "names": {"ru": "Золотой", "en": "Gold"}, "earn_percent": "10",
    "min_spend": "30000", "keep_spend": "20000",
}  # fmt: skip


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, tiers={"levels": [BASE, SILVER, GOLD], "grace_days": 0})


async def _member(app: App, language: str = "en") -> tuple[Any, Any]:
    user = app.user(CUSTOMER, language)
    customer = await join(app, user, name="Ivan")
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    return customer, cashier


async def _tier(app: App, customer_id: int) -> str | None:
    found = await app.customer(id=customer_id)
    assert found is not None
    return found.tier


async def test_keep_threshold_holds_the_tier_and_those_under_it(app: App) -> None:
    """A Gold customer whose spend falls to 8 000 keeps Silver (its keep threshold, 6 000),
    not Base, though Silver's entry threshold is 10 000."""
    customer, cashier = await _member(app)
    await cashier.send(f"/purchase {customer.card_code} 30000")
    assert await _tier(app, customer.id) == "gold"
    await cashier.send("/refund 1 9000")  # 21 000: above Gold's keep threshold
    assert await _tier(app, customer.id) == "gold"
    await cashier.send("/refund 1 13000")  # 8 000
    assert await _tier(app, customer.id) == "silver"


async def test_a_tier_lost_is_reentered_only_at_its_entry_threshold(app: App) -> None:
    customer, cashier = await _member(app)
    await cashier.send(f"/purchase {customer.card_code} 30000")
    await cashier.send("/refund 1 22000")  # 8 000: Silver kept
    assert await _tier(app, customer.id) == "silver"
    await cashier.send(f"/purchase {customer.card_code} 15000")  # 23 000: Gold's keep, not entry
    assert await _tier(app, customer.id) == "silver"
    await cashier.send(f"/purchase {customer.card_code} 7000")  # 30 000: Gold's entry
    assert await _tier(app, customer.id) == "gold"


@pytest.fixture
def graced(db_url: str) -> Settings:
    return make_settings(
        db_url,
        tiers={"levels": [BASE, SILVER], "grace_days": 30, "keep_notice_days": 7},
    )


async def test_balance_and_notice_say_what_keeps_the_tier(app: App, graced: Settings) -> None:
    app = app.variant(graced)
    customer, cashier = await _member(app, "ru")
    await cashier.send(f"/purchase {customer.card_code} 10000")
    assert await _tier(app, customer.id) == "silver"
    await cashier.send("/refund 1 5000")  # 5 000: under the keep threshold, grace starts
    await app.user(CUSTOMER, "ru").send("/balance")
    shown = app.fake.last(CUSTOMER).text
    assert "Чтобы сохранить статус после" in shown and "нужно ещё 1" in shown, shown
    start = app.clock.now()
    app.clock.current = start + timedelta(days=22)
    assert (await tier_keeping.run_daily(app.biz))["told"] == 0, "not yet: 8 days left"
    app.clock.current = start + timedelta(days=23)
    assert (await tier_keeping.run_daily(app.biz))["told"] == 1
    assert (await tier_keeping.run_daily(app.biz))["told"] == 0, "told once per grace period"
    await app.deliver()
    told = app.fake.last(CUSTOMER).text
    assert "Серебряный" in told and "сохранится после" in told, told
    app.clock.current = start + timedelta(days=30)
    await tiers.run_daily(app.biz)
    assert await _tier(app, customer.id) == "base"


async def test_no_notice_when_the_tier_is_kept_again(app: App, graced: Settings) -> None:
    app = app.variant(graced)
    customer, cashier = await _member(app)
    await cashier.send(f"/purchase {customer.card_code} 10000")
    await cashier.send("/refund 1 5000")
    await cashier.send(f"/purchase {customer.card_code} 2000")  # 7 000: kept, grace cleared
    app.clock.advance(timedelta(days=25))
    assert (await tier_keeping.run_daily(app.biz))["told"] == 0
    found = await app.customer(id=customer.id)
    assert found is not None and found.below_tier_since is None and found.tier == "silver"


async def test_program_shows_the_keep_threshold(app: App) -> None:
    await _member(app)
    await app.user(CUSTOMER, "en").send("/program")
    shown = app.fake.last(CUSTOMER).text
    assert "to keep it, from" in shown and "20,000" in shown, shown


@pytest.mark.parametrize(
    ("levels", "words"),
    [
        ([BASE, {**SILVER, "keep_spend": "12000"}], "must not exceed min_spend"),
        ([BASE, {**SILVER, "keep_visits": 3}], "keep_visits needs min_visits"),
        ([{**BASE, "keep_spend": "1"}, SILVER], "the first tier is never lost"),
        ([BASE, {**SILVER, "keep_spend": "-1"}], "greater than or equal to 0"),
    ],
)
def test_bad_keep_thresholds_refused(db_url: str, levels: list[Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        make_settings(db_url, tiers={"levels": levels})
