"""The rewards catalogue: «мойка бесплатно — 300 баллов» — a named reward for points, seen
in /offers with what the customer can afford, redeemed by the cashier with the customer's
confirmation exactly as a redemption; and every bad input refused with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.config import ConfigError, Settings
from bot.db.models import LedgerEntry, Redemption
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS, base_config, make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER, OTHER = 6001, 5001, 5002
WASH = {"code": "wash", "names": {"ru": "Мойка бесплатно", "en": "Free wash"}, "points": 300}
POLISH = {"code": "polish", "names": {"ru": "Полировка", "en": "Polish"}, "points": 500}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, loyalty={"rewards": [POLISH, WASH]})


async def _member_with(app: App, points: int, language: str = "en") -> tuple[Any, Any]:
    user = app.user(CUSTOMER, language)
    customer = await join(app, user, name="Ivan")
    await app.owner.send(f"/adjust {customer.card_code} +{points} gift")
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    return customer, user


async def test_offers_show_the_catalogue_with_what_the_balance_affords(app: App) -> None:
    """«мойка бесплатно — 300 баллов»: the customer sees every reward, cheapest first, and
    which ones the points on the card already pay for."""
    _customer, user = await _member_with(app, 350)
    await user.send("/offers")
    shown = app.fake.last(CUSTOMER).text
    assert "Rewards for points (spendable: 350)" in shown
    assert "✅ Free wash — 300 points" in shown
    assert "Polish — 500 points (150 points to go)" in shown
    assert shown.index("Free wash") < shown.index("Polish")


async def test_offers_in_russian(app: App) -> None:
    """«мойка бесплатно — 300 баллов», in the customer's words."""
    user = app.user(CUSTOMER, "ru")
    customer = await join(app, user, name="Иван")
    await app.owner.send(f"/adjust {customer.card_code} +100 подарок")
    await user.send("/offers")
    shown = app.fake.last(CUSTOMER).text
    assert "Мойка бесплатно — 300 баллов (ещё 200 баллов)" in shown


async def test_reward_redeemed_with_the_customers_confirmation(app: App) -> None:
    customer, user = await _member_with(app, 350)
    cashier = app.user(CASHIER, "en")
    await cashier.send(f"/reward {customer.card_code} WASH")
    assert "“Free wash” for 300 points" in app.fake.last(CASHIER).text
    await app.deliver()
    prompt = app.fake.last(CUSTOMER)
    assert "Get “Free wash” for <b>300 points</b>?" in prompt.text
    async with app.biz.db.read() as session:
        redeemed = await session.scalar(select(LedgerEntry.id).where(LedgerEntry.kind == "redeem"))
    assert redeemed is None, "nothing is written before the customer confirms"
    await user.click(find_button(prompt, "Confirm"), prompt)
    await app.deliver()
    assert "hand over “Free wash”" in app.fake.last(CASHIER).text
    found = await app.customer(id=customer.id)
    assert found is not None and found.balance == 50
    async with app.biz.db.read() as session:
        entry = await session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "redeem"))
        redemption = await session.scalar(select(Redemption))
    assert entry is not None and entry.points == -300 and entry.reason == "reward:wash"
    assert redemption is not None and redemption.reward_code == "wash"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("", "&lt;reward code&gt;</code>\nRewards: <code>"),
        ("{code}", "Write: <code>/reward"),
        ("{code} wash extra", "Write: <code>/reward"),
        ("{code} carpet", "There is no reward “carpet”"),
        ("{code} <b>x</b>", "There is no reward “&lt;b&gt;x&lt;/b&gt;”"),
        ("{code} polish", "Not enough points: 350 can be spent, asked 500"),
        ("NOSUCH1 wash", "NOSUCH1"),
    ],
)
async def test_bad_reward_requests_write_nothing(app: App, args: str, words: str) -> None:
    customer, _user = await _member_with(app, 350)
    before = await app.counts()
    await app.user(CASHIER, "en").send(f"/reward {args.format(code=customer.card_code)}".strip())
    assert words in app.fake.last(CASHIER).text, app.fake.last(CASHIER).text
    assert await app.counts() == before


async def test_double_press_and_forged_callback_write_nothing(app: App) -> None:
    customer, user = await _member_with(app, 350)
    await app.user(CASHIER, "en").send(f"/reward {customer.card_code} wash")
    await app.deliver()
    prompt = app.fake.last(CUSTOMER)
    confirm = find_button(prompt, "Confirm")
    mallory = app.user(OTHER, "en")
    await join(app, mallory, name="Mallory")
    before = await app.counts()
    await mallory.click(confirm)
    assert "not yours" in app.fake.calls("answerCallbackQuery")[-1].params.get("text", "")
    assert await app.counts() == before
    await user.click(confirm, prompt)
    after_first = await app.counts()
    await user.click(confirm, prompt)  # a second press: a new callback, the request closed
    assert "already closed" in app.fake.calls("answerCallbackQuery")[-1].params.get("text", "")
    assert await app.counts() == after_first
    found = await app.customer(id=customer.id)
    assert found is not None and found.balance == 50
    assert await app.balance_consistent()


async def test_declined_reward_moves_no_points(app: App) -> None:
    customer, user = await _member_with(app, 350)
    await app.user(CASHIER, "en").send(f"/reward {customer.card_code} wash")
    await app.deliver()
    prompt = app.fake.last(CUSTOMER)
    await user.click(buttons(prompt)[1][1], prompt)
    found = await app.customer(id=customer.id)
    assert found is not None and found.balance == 350


@pytest.mark.parametrize(
    ("sections", "words"),
    [
        ({"loyalty": {"rewards": [{**WASH, "points": 0}]}}, "greater than 0"),
        ({"loyalty": {"rewards": [{**WASH, "points": -300}]}}, "greater than 0"),
        ({"loyalty": {"rewards": [WASH, WASH]}}, "reward codes must be unique"),
        ({"loyalty": {"rewards": [{**WASH, "code": "Мойка"}]}}, "rewards.0.code"),
        ({"loyalty": {"pending_days": 400}}, "pending_days"),
        ({"loyalty": {"pending_days": 30}, "expiry": {"months": 1}}, "expire before"),
    ],
)
def test_bad_catalogue_or_pending_config_refused(
    db_url: str, sections: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        make_settings(db_url, **sections)
    assert base_config(db_url)  # the unchanged base config stays valid
