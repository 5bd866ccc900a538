"""Broadcast audiences (bot/services/campaigns/audience.py) against a hand-built set of customers.

Issue 12: "audience by filters — tier, RFM segment, lifecycle stage, value and strategy,
days since the last visit, birthday month, service tags bought, profile fields (make =
LADA, model = Vesta, year = 2020), marketing opt-in only, reachable only — with the live
count after each filter". Each customer below is built to be in or out of one filter, so
every expected set is read off the table by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.app import build_business
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.db.models import Customer, CustomerScore, Purchase, Visit
from bot.services.campaigns import audience
from bot.services.context import Business
from bot.services.people.staff import sync_outlets
from tests.conftest import BACKENDS, make_settings

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
FIELDS = [
    {"code": "make", "labels": {"ru": "Марка", "en": "Make"}},
    {"code": "model", "labels": {"ru": "Модель", "en": "Model"}},
    {"code": "year", "kind": "year", "labels": {"ru": "Год", "en": "Year"}, "min": 1950},
]


def biz_for(db_url: str, database: Database) -> Business:
    settings = make_settings(db_url, profile={"fields": FIELDS})
    return build_business(settings, db=database, clock=FrozenClock(NOW))


def score(customer_id: int, **labels: str) -> CustomerScore:
    values: dict[str, Any] = {
        "customer_id": customer_id, "computed_at": NOW, "purchases": 1,
        "total_spend": Decimal(100), "average_check": Decimal(100), "recency": 3,
        "frequency": 3, "monetary": 3, "segment": "loyal", "lifecycle": "repeat",
        "lapsed": False, "value": "medium", "strategy": "develop", "service": "standard",
        "clv_method": "mbg_nbd_prior",
    }  # fmt: skip
    values.update(labels)
    return CustomerScore(**values)


# name: (customer fields, score labels or None, purchases (days ago, amount, tag, refunded),
#        visits (days ago))
PEOPLE: dict[str, tuple[dict[str, Any], dict[str, str] | None, list[Any], list[int]]] = {
    "ann": (
        {
            "tier": "gold",
            "birthday": date(1990, 3, 5),
            "marketing_opt_in": True,
            "profile": {"make": "LADA", "model": "Vesta", "year": 2020},
        },
        {"segment": "at_risk", "lifecycle": "client", "value": "high", "strategy": "manage"},
        [(100, 500, "oil", False)],
        [],
    ),
    "bob": (
        {
            "tier": None,
            "birthday": date(1985, 3, 20),
            "profile": {"make": "lada", "model": "Granta", "year": 2015},
        },
        {"segment": "champions"},
        [(5, 300, "tyres", False)],
        [],
    ),
    "cat": (
        {
            "tier": "silver",
            "marketing_opt_in": True,
            "unreachable_at": NOW,
            "profile": {"make": "Kia"},
        },
        None,
        [(200, 900, "oil", True)],
        [10],
    ),
    "dan": (
        {"tier": "nonexistent", "birthday": date(2000, 12, 1), "marketing_opt_in": True},
        {"segment": "at_risk", "value": "low"},
        [(40, 100, None, False)],
        [],
    ),
    "eve": ({"marketing_opt_in": True}, None, [], []),
    # never in any audience: not in the bot, or erased
    "ghost": ({"telegram_id": None, "marketing_opt_in": True}, None, [(1, 10, "oil", False)], []),
    "gone": ({"erased_at": NOW, "marketing_opt_in": True}, None, [], []),
}


async def build(biz: Business) -> dict[str, int]:
    await sync_outlets(biz)
    db = biz.db
    ids: dict[str, int] = {}
    async with db.write() as session:
        for n, (name, (fields, labels, purchases, visits)) in enumerate(PEOPLE.items()):
            values: dict[str, Any] = {"telegram_id": 9000 + n, "card_code": f"AU{n:04d}",
                                      "name": name, "language": "en", "balance": 0,
                                      "created_at": NOW - timedelta(days=400)}  # fmt: skip
            values.update(fields)
            customer = Customer(**values)
            session.add(customer)
            await session.flush()
            ids[name] = customer.id
            if labels is not None:
                session.add(score(customer.id, **labels))
            for days, amount, tag, refunded in purchases:
                value = Decimal(amount)
                session.add(Purchase(
                    customer_id=customer.id, author_tg_id=1, outlet_code="main", amount=value,
                    refunded_amount=value if refunded else Decimal(0), service_tag=tag,
                    created_at=NOW - timedelta(days=days),
                ))  # fmt: skip
            for days in visits:
                session.add(Visit(customer_id=customer.id, author_tg_id=1, outlet_code="main",
                                  created_at=NOW - timedelta(days=days)))  # fmt: skip
    return ids


CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, {"ann", "bob", "cat", "dan", "eve"}),
    ({"tier": "gold"}, {"ann"}),
    # no tier, or a tier no longer configured, is the ladder's first tier
    ({"tier": "base"}, {"bob", "dan", "eve"}),
    ({"segment": "at_risk"}, {"ann", "dan"}),
    ({"lifecycle": "client"}, {"ann"}),
    ({"value": "low"}, {"dan"}),
    ({"strategy": "manage"}, {"ann"}),
    # came at least once, nothing live in the last 30 days; cat's only purchase was
    # refunded but her visit 10 days ago counts
    ({"idle_days": 30}, {"ann", "dan"}),
    ({"idle_days": 60}, {"ann"}),
    ({"birthday_month": 3}, {"ann", "bob"}),
    ({"service_tag": "oil"}, {"ann"}),  # cat's oil purchase was refunded
    ({"profile.make": "LADA"}, {"ann", "bob"}),  # answers compared case-insensitively
    ({"profile.make": "lada", "profile.model": "vesta"}, {"ann"}),
    ({"profile.year": "2020"}, {"ann"}),
    ({"opt_in": True}, {"ann", "cat", "dan", "eve"}),
    ({"reachable": True}, {"ann", "bob", "dan", "eve"}),
    ({"opt_in": True, "reachable": True, "segment": "at_risk", "birthday_month": 12}, {"dan"}),
]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_each_filter_selects_the_hand_built_customers(
    db_url: str, database: Database
) -> None:
    biz = biz_for(db_url, database)
    ids = await build(biz)
    names = {v: k for k, v in ids.items()}
    for filters, expected in CASES:
        async with database.read() as session:
            found = {names[c.id] for c in await audience.customers(session, biz, filters)}
        assert found == expected, filters
        assert await audience.count(biz, filters) == len(expected), filters


async def test_choices_offer_what_is_configured_or_present(db_url: str, database: Database) -> None:
    biz = biz_for(db_url, database)
    await build(biz)
    assert await audience.choices(biz, "segment") == ["at_risk", "champions"]
    assert await audience.choices(biz, "service_tag") == ["oil", "tyres", "wash"]
    # one button per answer whatever its case; the most common spelling first
    makes = await audience.choices(biz, "profile.make")
    assert sorted(m.casefold() for m in makes) == ["kia", "lada"]
    assert await audience.choices(biz, "birthday_month") == list(range(1, 13))


@pytest.mark.parametrize(
    "filters",
    [
        {"drop table": "x"},
        {"tier": "platinum-ish"},
        {"idle_days": 0},
        {"idle_days": "30"},
        {"idle_days": True},
        {"birthday_month": 13},
        {"service_tag": "massage"},
        {"profile.colour": "red"},
        {"profile.make": ""},
        {"profile.make": "x" * 65},
        {"opt_in": False},
        {"segment": 5},
    ],
)
async def test_malformed_filters_are_refused(db_url: str, database: Database, filters) -> None:  # type: ignore[no-untyped-def]
    biz = biz_for(db_url, database)
    with pytest.raises(audience.AudienceError):
        audience.validate(biz.settings, filters)


@pytest.mark.parametrize(
    "filters",
    [{"segment": "bogus"}, {"lifecycle": "<b>x</b>"}, {"value": "huge"}, {"strategy": "retain"}],
)
def test_score_filters_take_only_the_values_scoring_stores(filters: dict[str, str]) -> None:
    """A forged button (``seg:segment:bogus``) can name any value; only those the scoring
    job writes are accepted."""
    with pytest.raises(audience.AudienceError):
        audience.validate(make_settings("sqlite+aiosqlite:///unused.db"), filters)
