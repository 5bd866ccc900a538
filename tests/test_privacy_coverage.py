"""/mydata and /forget cover every table about the customer (issue 19, items 5 and 6),
derived from the models, so a new table cannot be forgotten: odometer readings (the
sign-up answer, staff's ``km:``), a visit's stored result, a broadcast whose audience
filtered on a profile answer (a plate or a VIN identifies a person), scores, offers and
campaign memberships."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import Base, Campaign, Customer, CustomerScore
from bot.services.campaigns import broadcasts
from bot.services.campaigns.broadcast_text import MessageSpec
from bot.services.insight.scoring_job import reclassify
from bot.services.members import privacy
from bot.services.people.roles import Actor, Role
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire
from tests.support.harness import OWNER_ID, App

CASHIER, CUSTOMER = 6001, 5001
PLATE = "X123YZ777"  # a free-text profile answer that identifies a person
READING = 123457  # km, at sign-up
LATER = 124861  # km, reported by staff at a visit
OWNER = Actor(tg_id=OWNER_ID, role=Role.OWNER, locale="en", outlet_code="main")


@pytest.fixture
def settings(db_url: str) -> Settings:
    fields = [
        {"code": "plate", "labels": {"ru": "Номер", "en": "Plate"}},
        {"code": "mileage", "kind": "int", "labels": {"ru": "Пробег", "en": "Mileage"},
         "max": 2000000},
    ]
    return make_settings(db_url, profile={"fields": fields}, campaigns={"holdout_percent": 0})


def customer_tables() -> dict[str, Any]:
    """Every table with a ``customer_id`` column, from the models."""
    return {t.name: t for t in Base.metadata.sorted_tables if "customer_id" in t.columns}


async def _member_with_everything(app: App) -> Customer:
    user = app.user(CUSTOMER, "en")
    await user.send("/start")
    await user.click(buttons(app.fake.last(CUSTOMER))[0][1], app.fake.last(CUSTOMER))
    await user.send_contact("+79161234567")
    await user.send("Evlampia")
    await user.send("02.05.1988")
    await user.send(PLATE)
    await user.send(str(READING))
    offers = app.fake.last(CUSTOMER)  # sign-up's last question: offers yes or no
    await user.click(buttons(offers)[-1][1], offers)
    customer = await app.customer(telegram_id=CUSTOMER)
    assert customer is not None and customer.signup_step is None, app.fake.texts(CUSTOMER)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {customer.card_code} 1000")
    await cashier.send(f"/visit {customer.card_code} oil km:{LATER}")
    assert "124,861 km" in (app.fake.last(CASHIER).text or "")
    await user.send("/settings")
    settings = app.fake.last(CUSTOMER)
    await user.click(find_button(settings, "Send me offers"), settings)
    draft = broadcasts.Draft(
        filters={"profile.plate": PLATE},
        message=MessageSpec(kind="text", body="Hi {{ name }}"),
        offer=broadcasts.OfferSpec(kind="points", value=10, days=7),
    )
    launched = await broadcasts.launch(app.biz, OWNER, "t:launch", draft)
    assert launched.result.queued == 1
    await reclassify(app.biz)
    return customer


async def _rows_about(app: App, customer_id: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    async with app.biz.db.read() as session:
        for name, table in customer_tables().items():
            rows = await session.execute(select(table).where(table.c.customer_id == customer_id))
            found[name] = [dict(r._mapping) for r in rows.all()]
    return found


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_mydata_has_a_section_for_every_table_about_the_customer(app: App) -> None:
    customer = await _member_with_everything(app)
    assert set(customer_tables()) <= privacy.exported_tables() | {"customers"}
    exported = await privacy.export(app.biz, CUSTOMER)
    held = await _rows_about(app, customer.id)
    sections = {model.__tablename__: name for name, model in privacy.SECTIONS}
    for table, rows in held.items():
        if table in sections:
            assert len(exported[sections[table]]) == len(rows), table
    for table in ("customer_scores", "mileage_reports", "offers", "campaign_members"):
        assert held[table], f"the scenario stores {table}"
    assert [m["km"] for m in exported["mileage"]] == [READING, LATER]
    assert exported["scores"][0]["segment"] and "p_alive" in exported["scores"][0]
    assert exported["offers"][0]["kind"] == "points"
    assert str(CASHIER) not in json.dumps(exported, default=str)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_forget_leaves_no_reading_or_profile_answer_in_any_table(app: App) -> None:
    customer = await _member_with_everything(app)
    user = app.user(CUSTOMER, "en")
    await user.send("/forget")
    confirm = app.fake.last(CUSTOMER)
    await user.click(find_button(confirm, "Yes, erase"), confirm)
    held = await _rows_about(app, customer.id)
    assert held["mileage_reports"] == []
    secrets = (PLATE, str(READING), str(LATER), "Evlampia", "+79161234567")
    everything: list[str] = []
    async with app.biz.db.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                everything.extend(json.dumps(v, default=str, ensure_ascii=False) for v in row)
    leaks = [v for v in everything if any(s in v for s in secrets)]
    assert leaks == []
    async with app.biz.db.read() as session:
        [campaign] = list(await session.scalars(select(Campaign)))
        assert campaign.audience == {"profile.plate": privacy.ERASED_ANSWER}
        assert await session.get(CustomerScore, customer.id) is not None  # anonymous now
