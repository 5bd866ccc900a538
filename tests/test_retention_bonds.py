"""Retention levels beyond bonus points (seed 002's table «Стратегии удержания
потребителей»): the social bond, a personal manager for the top category, and the
structural bond of a car service, the customer's own service history and next service on
/card. Driven through the dispatcher; what the customer, the manager and the owner receive
is checked, and every refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import Customer, OutboxMessage, PersonalManager
from bot.services.people.managers import eligible_tiers
from bot.testing.telegram_double import buttons
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

KATE, OLGA, BORIS, STRANGER = 7101, 7102, 7103, 7104
OIL = {
    "tag": "oil", "days": 365, "km": 10000,
    "service": {"ru": "замену масла", "en": "an oil change"},
}  # fmt: skip


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, reminders={"rules": [OIL]}, campaigns={"holdout_percent": 0})


async def _gold_customer(app: App, cashier_id: int = OLGA) -> Customer:
    """Kate joins and buys enough for the retail ladder's top tier (gold: 100,000)."""
    kate = app.user(KATE, "ru", "Kate")
    customer = await join(app, kate, name="Катя")
    await app.user(cashier_id, "en", "Olga").send(f"/purchase {customer.card_code} 100000")
    found = await app.customer(id=customer.id)
    assert found is not None and found.tier == "gold", app.fake.texts(cashier_id)
    return found


async def _managers(app: App) -> list[tuple[int, int]]:
    async with app.biz.db.read() as session:
        rows = await session.scalars(select(PersonalManager))
        return [(r.customer_id, r.staff_id) for r in rows]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_personal_manager_for_the_top_tier_hears_the_customer_first(app: App) -> None:
    """Seed 002: «Стратегический партнер: ... Обслуживание персональным менеджером»; the
    retention table's level 2: «Финансовая и социальная (персональный менеджер; ...)»."""
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    customer = await _gold_customer(app)

    await app.owner.send(f"/manager {customer.card_code} {OLGA}")
    assert "personal manager of <b>Катя</b>" in app.fake.last(OWNER_ID).text
    assert "is Olga" in app.fake.last(OWNER_ID).text
    await app.deliver()
    assert "персональный менеджер в Test Garage — <b>Olga</b>" in app.fake.last(KATE).text
    assert "персональный менеджер клиента <b>Катя</b>" in app.fake.last(OLGA).text  # default

    kate = app.user(KATE, "ru", "Kate")
    await kate.send("/card")
    assert "Ваш персональный менеджер — <b>Olga</b>" in app.fake.last(KATE).text

    await kate.send("можно заехать завтра?")
    async with app.biz.db.read() as session:
        chats = list(
            await session.scalars(
                select(OutboxMessage.chat_id)
                .where(OutboxMessage.text.contains("можно заехать завтра?"))
                .order_by(OutboxMessage.id)
            )
        )
    assert chats == [OLGA, OWNER_ID], "the manager first, the owner still told"
    await app.deliver()
    to_owner = app.fake.last(OWNER_ID).text
    assert "можно заехать завтра?" in to_owner and "Персональный менеджер: Olga" in to_owner
    to_olga = app.fake.last(OLGA)
    await olga.click(buttons(to_olga)[0][1], to_olga)  # staff answer only as the manager
    await olga.send("Да, с 9 до 18")
    await app.deliver()
    assert "Да, с 9 до 18" in app.fake.last(KATE).text

    await app.owner.send(f"/manager {customer.card_code} -")
    assert "no longer has a personal manager" in app.fake.last(OWNER_ID).text
    await kate.send("/card")
    assert "менеджер" not in (app.fake.last(KATE).text or "")


async def test_bad_manager_commands_write_nothing(app: App) -> None:
    """Unknown card, someone not on the staff, a customer below the top tier, malformed
    and hostile input, a cashier trying it: refused, nothing written."""
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    boris = app.user(BORIS, "en", "Boris")
    low = await join(app, boris, name="Boris")  # the first tier only
    gold = await _gold_customer(app)
    await app.deliver()
    before = await app.counts()
    cases = {
        f"/manager ZZZ999 {OLGA}": "No customer",
        f"/manager {gold.card_code} {BORIS}": "not on the /staff list",  # a customer
        f"/manager {gold.card_code} 424242": "not on the /staff list",
        f"/manager {gold.card_code} @olga": "not on the /staff list",
        f"/manager {gold.card_code} {'9' * 40}": "Write:",
        f"/manager {gold.card_code} 99999999999999999999": "not on the /staff list",
        f"/manager {low.card_code} {OLGA}": "of the Gold tier only",
        "/manager": "Write:",
        f"/manager {gold.card_code}": "Write:",
        f"/manager {gold.card_code} {OLGA} extra": "Write:",
        f"/manager <b>{gold.card_code}</b> {OLGA}": "No customer",
    }
    for command, reply in cases.items():
        await app.owner.send(command)
        assert reply in app.fake.last(OWNER_ID).text, (command, app.fake.last(OWNER_ID).text)
    await olga.send(f"/manager {gold.card_code} {OLGA}")
    assert "not available" in app.fake.last(OLGA).text
    assert await app.counts() == before
    assert await _managers(app) == []
    assert await app.deliver() == 0, "nobody was told anything"


async def test_b2b_top_category_is_the_strategic_partner(app: App, db_url: str) -> None:
    """Seed 002: «Стратегический (ключевой) партнер – от 12 баллов и выше»: on the b2b
    ladder only that category gets a manager (``managers.tiers`` may list more)."""
    b2b = app.variant(
        make_settings(db_url, tiers={"preset": "b2b"}, scoring={"rating_scale": "b2b"})
    )
    assert eligible_tiers(b2b.biz.settings) == ("strategic",)
    olga = b2b.user(OLGA, "en", "Olga")
    await hire(b2b, olga)
    customer = await join(b2b, b2b.user(KATE, "en", "Kate"), name="Kate")
    async with b2b.biz.db.write() as session:  # the rating scale put them in "regular"
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.tier = "regular"
    await b2b.owner.send(f"/manager {customer.card_code} {OLGA}")
    assert "of the Strategic partner tier only" in b2b.fake.last(OWNER_ID).text
    async with b2b.biz.db.write() as session:
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.tier = "strategic"
    await b2b.owner.send(f"/manager {customer.card_code} {OLGA}")
    assert "is Olga" in b2b.fake.last(OWNER_ID).text
    assert await _managers(b2b) == [(customer.id, 1)]


async def test_a_removed_manager_is_no_manager_and_the_owner_hears_everything(
    app: App,
) -> None:
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    customer = await _gold_customer(app)
    await app.owner.send(f"/manager {customer.card_code} {OLGA}")
    await app.owner.send("/staff")
    staff_list = app.fake.last(OWNER_ID)
    await app.owner.click(buttons(staff_list)[0][1], staff_list)
    await app.deliver()
    kate = app.user(KATE, "ru", "Kate")
    await kate.send("/card")
    assert "менеджер" not in (app.fake.last(KATE).text or "")
    await kate.send("вы работаете в субботу?")
    await app.deliver()
    assert "вы работаете в субботу?" not in " ".join(app.fake.texts(OLGA))
    assert "вы работаете в субботу?" in app.fake.last(OWNER_ID).text


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_card_shows_the_cars_service_history_and_next_service(app: App) -> None:
    """Seed 002, retention level 3: «Финансовая, социальная структурная (в т.ч.
    технико-функциональные связи)» — «ваша машина: масло — 85 000 км, следующее ≈ 95 000 км»."""
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    kate = app.user(KATE, "ru", "Kate")
    customer = await join(app, kate, name="Катя")
    async with app.biz.db.write() as session:  # the sign-up's car questions, answered
        row = await session.get(Customer, customer.id)
        assert row is not None
        row.profile = {"make": "LADA", "model": "Vesta", "year": 2020}
    await olga.send(f"/visit {customer.card_code} wash km:80000")
    app.clock.advance(timedelta(days=60))
    await olga.send(f"/visit {customer.card_code} oil km:85000")
    app.clock.advance(timedelta(days=30))

    await kate.send("/card")
    body = app.fake.last(KATE).text or ""
    lines = body.splitlines()
    assert any(line.startswith("• oil — 85\u00a0000 км") for line in lines), body
    assert "следующее ≈ 95\u00a0000 км" in body
    assert "История обслуживания:" in body and "wash, ≈ 80\u00a0000 км" in body
    # 2,500 km a month, learned from the readings
    assert body.startswith("🚗 Ваша машина (LADA Vesta 2020), сейчас около 87\u00a0"), body


async def test_a_low_score_alert_reaches_the_manager_first(app: App) -> None:
    """«Обслуживание персональным менеджером»: alerts about the customer go to the manager
    first (the owners still get theirs)."""
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    customer = await _gold_customer(app)
    kate = app.user(KATE, "ru", "Kate")
    await kate.send("/settings")  # surveys go to customers who turned offers on
    shown = app.fake.last(KATE)
    await kate.click(buttons(shown)[0][1], shown)
    await app.owner.send(f"/manager {customer.card_code} {OLGA}")
    await olga.send(f"/purchase {customer.card_code} 1500 oil")
    app.clock.advance(timedelta(minutes=120))
    await app.deliver()
    question = app.fake.last(KATE)
    await kate.click(next(data for label, data in buttons(question) if label == "2"), question)
    async with app.biz.db.read() as session:
        chats = list(
            await session.scalars(
                select(OutboxMessage.chat_id)
                .where(OutboxMessage.source.like("survey-alert:%"))
                .order_by(OutboxMessage.id)
            )
        )
    assert chats == [OLGA, OWNER_ID]
    await app.deliver()
    assert f"Низкая оценка <b>2</b> из 5 от карты {customer.card_code}" in app.fake.last(OLGA).text


async def test_a_redelivered_manager_command_tells_nobody_twice(app: App) -> None:
    olga = app.user(OLGA, "en", "Olga")
    await hire(app, olga)
    customer = await _gold_customer(app)
    await app.deliver()
    update = app.owner.build_message(f"/manager {customer.card_code} {OLGA}")
    await app.owner.feed(update)
    await app.owner.feed(update)  # Telegram delivered it again
    assert "is staff member no. 1" in app.fake.last(OWNER_ID).text
    assert await app.deliver() == 2, "the customer and the manager, once each"
    assert await _managers(app) == [(customer.id, 1)]
