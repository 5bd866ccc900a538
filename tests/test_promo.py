"""The owner's /promo through the dispatcher: a preview that writes nothing, a confirm
that makes a version from now, purchases earning by it, /promo stop; and malformed,
hostile, boundary and forged input refused with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import Purchase, RuleVersion
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CASHIER, CUSTOMER = 6001, 5001
# The clock: Thursday 15 Jan 2026, 15:00 in Moscow.
TODAY_TO_SUNDAY = "15.01.2026 12:00 18.01.2026"


async def _versions(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(RuleVersion)) or 0)


async def test_preview_confirm_earn_and_stop(app: App) -> None:
    owner = app.user(OWNER_ID, "en")
    cashier = app.user(CASHIER, "en")
    customer = await join(app, app.user(CUSTOMER, "en"))
    await hire(app, cashier)
    before = await app.counts()
    await owner.send(f"/promo tyres x2 {TODAY_TO_SUNDAY}")
    preview = app.fake.last(OWNER_ID)
    assert "Promotion <code>promo-1</code>: ×2 on tyres" in preview.text
    assert await app.counts() == before and await _versions(app) == 0  # a preview writes nothing
    await owner.click(find_button(preview, "Start the promotion"), preview)
    assert "promo-1</code> is set (rules version 1)" in app.fake.last(OWNER_ID).text
    await owner.click(find_button(preview, "Start the promotion"), preview)  # a double tap
    assert await _versions(app) == 1

    await cashier.send(f"/purchase {customer.card_code} 1000 tyres")
    assert "+100 points" in app.fake.last(CASHIER).text  # 5 % × 2
    await cashier.send(f"/purchase {customer.card_code} 1000 oil")
    assert "+50 points" in app.fake.last(CASHIER).text
    await owner.send("/promo")
    listed = app.fake.last(OWNER_ID).text or ""
    assert "<code>promo-1</code>: ×2 on tyres" in listed
    assert "\n<code>/promo stop NAME</code> ends one now.\n<code>/promo TAG|all" in listed

    app.clock.current += timedelta(minutes=5)
    await owner.send("/promo stop promo-1")
    assert "promo-1</code> is over (rules version 2)" in app.fake.last(OWNER_ID).text
    await cashier.send(f"/purchase {customer.card_code} 1000 tyres")
    assert "+50 points" in app.fake.last(CASHIER).text
    await owner.send("/promo")
    assert "No promotion started here is running.\n<code>/promo TAG" in app.fake.last(OWNER_ID).text
    assert await app.balance_consistent()


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("/promo tyres", "Write <code>/promo TAG|all"),
        ("/promo caviar 2 15.01.2026 16.01.2026", "“caviar” is not a service tag"),
        ("/promo tyres 0 15.01.2026 16.01.2026", "a multiplier must be above 1"),
        ("/promo tyres 1 15.01.2026 16.01.2026", "a multiplier must be above 1"),
        ("/promo tyres 999 15.01.2026 16.01.2026", "a multiplier must be above 1"),
        ("/promo tyres 1000 15.01.2026 16.01.2026", "Write <code>/promo TAG|all"),
        ("/promo tyres -2 15.01.2026 16.01.2026", "Write <code>/promo TAG|all"),
        ("/promo all 2 31.02.2026 01.03.2026", "Write <code>/promo TAG|all"),
        ("/promo all 2 16.01.2026 15.01.2026", "A promotion ends after it starts"),
        ("/promo all 2 01.01.2026 14.01.2026", "A promotion ends after it starts"),
        ("/promo all 2 15.01.2026 15.01.2028", "at most 366 days"),
        ("/promo all 2 15.01.2026 25:00 16.01.2026", "Write <code>/promo TAG|all"),
        ("/promo <b>x</b> 2 15.01.2026 16.01.2026", "not a service tag"),
        ("/promo all 2 15.01.2026 16.01.2026 extra", "Write <code>/promo TAG|all"),
        ("/promo stop promo-7", "No promotion called “promo-7” is running"),
        ("/promo stop", "Write <code>/promo TAG|all"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(app: App, command: str, reply: str) -> None:
    owner = app.user(OWNER_ID, "en")
    await owner.send("/start")
    before = await app.counts()
    await owner.send(command)
    assert reply in app.fake.last(OWNER_ID).text
    assert await app.counts() == before and await _versions(app) == 0


async def test_an_overlapping_promotion_a_forged_button_and_a_cashier_are_refused(
    app: App,
) -> None:
    """Two promotions on one tag at one time: the combination order does not say how they
    would combine, so the second is refused; a forged button (an unknown tag index, a
    factor of 1 000) and a cashier's /promo write nothing."""
    owner, cashier = app.user(OWNER_ID, "en"), app.user(CASHIER, "en")
    await hire(app, cashier)
    await owner.send(f"/promo tyres 2 {TODAY_TO_SUNDAY}")
    preview = app.fake.last(OWNER_ID)
    await owner.click(find_button(preview, "Start the promotion"), preview)
    before = await app.counts()
    await owner.send("/promo all 1,5 16.01.2026 17.01.2026")
    assert "could both apply to one purchase" in app.fake.last(OWNER_ID).text
    for forged in ("promo:99:2:202601151200:202601180000",
                   "promo:-1:1000:202601151200:202601180000"):  # fmt: skip
        await owner.click(forged, preview)
    await cashier.send(f"/promo oil 2 {TODAY_TO_SUNDAY}")
    assert await app.counts() == before and await _versions(app) == 1


async def test_a_redemption_against_a_purchase_earns_by_the_promotion(app: App) -> None:
    """A store-wide ×2: the part of a 1 000 purchase paid in money (900, 100 in points)
    earns 900 × 5 % × 2 = 90, as a purchase without points would."""
    owner, cashier = app.user(OWNER_ID, "en"), app.user(CASHIER, "en")
    user = app.user(CUSTOMER, "en")
    customer = await join(app, user)
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 2000")  # 100 points
    await owner.send(f"/promo all 2 {TODAY_TO_SUNDAY}")
    preview = app.fake.last(OWNER_ID)
    await owner.click(find_button(preview, "Start the promotion"), preview)
    await cashier.send(f"/redeem {customer.card_code} 100 1000")
    await app.deliver()
    prompt = next(c for c in reversed(app.fake.sent(CUSTOMER))
                  if any("Confirm" in label for label, _ in buttons(c)))  # fmt: skip
    await user.click(find_button(prompt, "Confirm"), prompt)
    async with app.biz.db.read() as session:
        earned = list(await session.scalars(select(Purchase.points_earned).order_by(Purchase.id)))
    assert earned == [100, 90]
    assert (await app.customer(id=customer.id)).balance == 90  # type: ignore[union-attr]
    assert await app.balance_consistent()
