"""The offers service on a real database: what an offer is worth, and used once only."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.db.models import Offer, OfferKind
from bot.services.errors import ServiceError
from bot.services.money import offers
from tests.conftest import BACKENDS
from tests.support.harness import table_counts
from tests.support.seed_data import add_customer

on_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

D = Decimal


async def _grant(
    db: Database, clock: FrozenClock, customer_id: int, kind: OfferKind, value: str, **kw: object
) -> Offer | None:
    now = clock.now()
    async with db.write() as session:
        return await offers.grant(
            session,
            customer_id=customer_id,
            kind=kind,
            value=D(value),
            valid_from=kw.pop("valid_from", now),  # type: ignore[arg-type]
            valid_until=kw.pop("valid_until", now + timedelta(days=7)),  # type: ignore[arg-type]
            source="job:test",
            dedupe_key=kw.pop("dedupe_key", None),  # type: ignore[arg-type]
            now=now,
            **kw,  # type: ignore[arg-type]
        )


async def _use(db: Database, clock: FrozenClock, code: str, customer_id: int, amount: str,
               service: str | None = None) -> offers.OfferUse:  # fmt: skip
    async with db.write() as session:
        return await session.run_sync(
            lambda s: offers.use(
                s, code=code, customer_id=customer_id, amount=D(amount),
                service_tag=service, now=clock.now(), actor_tg_id=7,
            )
        )  # fmt: skip


@on_backends
@pytest.mark.parametrize(
    ("kind", "value", "amount", "discount", "points"),
    [
        (OfferKind.PERCENT, "15", "2000.00", "300.00", 0),  # seed 004: 15% off an oil change
        (OfferKind.PERCENT, "15", "0.99", "0.14", 0),  # rounded down to the cent
        (OfferKind.PERCENT, "99", "10.00", "9.90", 0),  # the most: a purchase is never free
        (OfferKind.FIXED, "500", "2000.00", "500.00", 0),
        (OfferKind.FIXED, "500", "300.00", "300.00", 0),  # never more than the purchase
        (OfferKind.POINTS, "250", "100.00", "0", 250),
    ],
)
async def test_what_an_offer_is_worth(
    database: Database, clock: FrozenClock, kind: OfferKind, value: str, amount: str,
    discount: str, points: int,
) -> None:  # fmt: skip
    cid = await add_customer(database, clock.now(), "Ivan")
    offer = await _grant(database, clock, cid, kind, value)
    assert offer is not None and offers.looks_like_offer_code(offer.code)
    used = await _use(database, clock, offer.code, cid, amount)
    assert (used.discount, used.bonus_points) == (D(discount), points)
    async with database.read() as session:
        stored = await session.get(Offer, offer.id)
        assert stored is not None and stored.used_at == clock.now()
        assert stored.discount == (D(discount) if D(discount) else None)


@on_backends
async def test_a_dedupe_key_makes_one_offer(database: Database, clock: FrozenClock) -> None:
    cid = await add_customer(database, clock.now(), "Ivan")
    first = await _grant(database, clock, cid, OfferKind.POINTS, "100", dedupe_key="bd:2026:1")
    again = await _grant(database, clock, cid, OfferKind.POINTS, "100", dedupe_key="bd:2026:1")
    assert first is not None and again is None
    assert (await table_counts(database))["offers"] == 1


@on_backends
async def test_refusals_write_nothing(database: Database, clock: FrozenClock) -> None:
    now = clock.now()
    ivan = await add_customer(database, now, "Ivan")
    olga = await add_customer(database, now, "Olga")
    oil = await _grant(database, clock, ivan, OfferKind.PERCENT, "15", service_tag="oil")
    tomorrow = now + timedelta(days=1)
    later = await _grant(database, clock, ivan, OfferKind.FIXED, "100",
                         valid_from=tomorrow, valid_until=tomorrow + timedelta(days=1))  # fmt: skip
    assert oil is not None and later is not None
    cases = [
        ("ZZZZZZZ", ivan, "oil", "offer_unknown"),
        (oil.code, olga, "oil", "offer_not_yours"),
        (oil.code, ivan, "tyres", "offer_wrong_service"),
        (oil.code, ivan, None, "offer_wrong_service"),
        (later.code, ivan, None, "offer_not_started"),
    ]
    for code, customer, service, error in cases:
        with pytest.raises(ServiceError) as refused:
            await _use(database, clock, code, customer, "1000", service)
        assert refused.value.code == error
    clock.advance(timedelta(days=7))  # the window is [from, until): at `until` it is over
    with pytest.raises(ServiceError) as refused:
        await _use(database, clock, oil.code, ivan, "1000", "oil")
    assert refused.value.code == "offer_expired"
    async with database.read() as session:
        assert await offers.live_offers(session, ivan, clock.now()) == []
        stored = await session.get(Offer, oil.id)
        assert stored is not None and stored.used_at is None


@on_backends
async def test_an_offer_is_used_once_even_concurrently(
    database: Database, clock: FrozenClock
) -> None:
    cid = await add_customer(database, clock.now(), "Ivan")
    offer = await _grant(database, clock, cid, OfferKind.FIXED, "300")
    assert offer is not None
    outcomes = await asyncio.gather(
        *(_use(database, clock, offer.code.lower(), cid, "1000") for _ in range(4)),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if isinstance(o, offers.OfferUse)]
    refusals = [o.code for o in outcomes if isinstance(o, ServiceError)]
    assert len(wins) == 1 and refusals == ["offer_used"] * 3


@on_backends
async def test_live_offers_soonest_first(database: Database, clock: FrozenClock) -> None:
    now = clock.now()
    cid = await add_customer(database, now, "Ivan")
    late = await _grant(
        database, clock, cid, OfferKind.POINTS, "10", valid_until=now + timedelta(30)
    )
    soon = await _grant(
        database, clock, cid, OfferKind.POINTS, "10", valid_until=now + timedelta(3)
    )
    used = await _grant(database, clock, cid, OfferKind.POINTS, "10")
    assert late and soon and used
    await _use(database, clock, used.code, cid, "10")
    async with database.read() as session:
        live = await offers.live_offers(session, cid, now)
    assert [o.id for o in live] == [soon.id, late.id]


def test_offer_tokens() -> None:
    assert offers.offer_code_in("offer:k7m2xq9") == "K7M2XQ9"
    assert offers.offer_code_in("OFFER:K7M2XQ9") == "K7M2XQ9"
    assert offers.offer_code_in("K7M2XQ9") is None
    assert not offers.looks_like_offer_code("K7M2XQ")  # a card code's length
    assert not offers.looks_like_offer_code("K7M2XQ0")  # 0 is not in the alphabet


@on_backends
async def test_bad_grants_are_refused(database: Database, clock: FrozenClock) -> None:
    cid = await add_customer(database, clock.now(), "Ivan")
    bad = [
        (OfferKind.PERCENT, "100"), (OfferKind.PERCENT, "101"), (OfferKind.FIXED, "0"),
        (OfferKind.POINTS, "1.5"),
    ]  # fmt: skip
    for kind, value in bad:
        with pytest.raises(ValueError):
            await _grant(database, clock, cid, kind, value)
    with pytest.raises(ValueError):
        await _grant(database, clock, cid, OfferKind.POINTS, "5", valid_until=clock.now())
    assert (await table_counts(database))["offers"] == 0
