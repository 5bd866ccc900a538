"""Broadcast services below the wizard: the bulk contact check agrees with the single one,
and bulk offers are real offers (unique codes, used at the counter like any other)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import build_business
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.db.models import Customer, Offer, OfferKind
from bot.services.context import Business
from bot.services.money import offers
from bot.services.outbox import contact
from bot.services.outbox.rows import enqueue, outbox_row
from tests.conftest import BACKENDS, make_settings

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def business(db_url: str, database: Database) -> Business:
    settings = make_settings(db_url, contact={"max_marketing_per_week": 2})
    return build_business(settings, db=database, clock=FrozenClock(NOW))


async def add(db: Database, n: int, **fields: Any) -> int:
    values: dict[str, Any] = {"telegram_id": 7100 + n, "card_code": f"BS{n:04d}",
                              "language": "en", "balance": 0, "marketing_opt_in": True,
                              "created_at": NOW - timedelta(days=30)}  # fmt: skip
    values.update(fields)
    async with db.write() as session:
        customer = Customer(**values)
        session.add(customer)
        await session.flush()
        return customer.id


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_reach_many_gives_what_reach_gives(db_url: str, database: Database) -> None:
    """No chat, erased, blocked, no consent, capped (2 marketing messages this week; an
    expired one and a week-old one do not count), and fine."""
    biz = business(db_url, database)
    ids = [
        await add(database, 1, telegram_id=None),
        await add(database, 2, erased_at=NOW),
        await add(database, 3, unreachable_at=NOW),
        await add(database, 4, marketing_opt_in=False),
        await add(database, 5),  # capped
        await add(database, 6),  # one counted, one expired, one old: not capped
        await add(database, 7),
    ]
    async with database.write() as session:
        for cid, kind, days, state in [(ids[4], "birthday", 1, "sent"),
                                       (ids[4], "broadcast", 2, "pending"),
                                       (ids[5], "winback", 1, "sent"),
                                       (ids[5], "broadcast", 1, "expired"),
                                       (ids[5], "broadcast", 8, "sent")]:  # fmt: skip
            row = outbox_row(now=NOW - timedelta(days=days), chat_id=1, text="x",
                             customer_id=cid, kind=kind)  # fmt: skip
            message = enqueue(session, row)
            message.state = state
    async with database.read() as session:
        people = list(await session.scalars(select(Customer).order_by(Customer.id)))
        single = {c.id: await contact.reach(session, biz, c, NOW, kind="broadcast")
                  for c in people}  # fmt: skip
        bulk = await contact.reach_many(session, biz, people, NOW, kind="broadcast")
    V = contact.ContactVerdict
    assert bulk == single
    assert [bulk[i] for i in ids] == [V.NO_CHAT, V.NO_CHAT, V.UNREACHABLE, V.OPTED_OUT,
                                      V.CAPPED, V.OK, V.OK]  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_bulk_offers_are_unique_and_usable(database: Database) -> None:
    ids = [await add(database, n) for n in range(1, 41)]
    async with database.write() as session:
        codes = await offers.grant_many(
            session, customer_ids=ids, kind=OfferKind.PERCENT, value=Decimal(15),
            valid_from=NOW, valid_until=NOW + timedelta(days=7), source="campaign:9", now=NOW,
        )  # fmt: skip
    assert sorted(codes) == ids and len({code for _, code in codes.values()}) == len(ids)
    async with database.write() as session:
        used = await session.run_sync(
            lambda s: offers.use(s, code=codes[ids[0]][1], customer_id=ids[0],
                                 amount=Decimal("1000"), service_tag=None, now=NOW,
                                 actor_tg_id=1)
        )  # fmt: skip
    assert used.discount == Decimal("150.00")
    async with database.read() as session:
        stored = list(await session.scalars(select(Offer).where(Offer.source == "campaign:9")))
    assert len(stored) == 40 and sum(o.used_at is not None for o in stored) == 1
    assert {o.customer_id: (o.id, o.code) for o in stored} == codes
    with pytest.raises(ValueError):
        async with database.write() as session:
            await offers.grant_many(
                session, customer_ids=ids, kind=OfferKind.PERCENT, value=Decimal(101),
                valid_from=NOW, valid_until=NOW + timedelta(days=7), source="x", now=NOW,
            )  # fmt: skip
