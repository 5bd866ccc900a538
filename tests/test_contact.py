"""Contact discipline (bot/services/outbox/contact.py): who may be sent what, and when.

Issue 11: "quiet hours in the business's time zone (marketing due at night waits for the
morning) and a frequency cap (at most N marketing messages per customer per week) shared
by every job and, later, every broadcast"; "marketing skips [unreachable customers] until
they write to the bot again".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.app import build_business
from bot.clock import FrozenClock
from bot.config import ConfigError
from bot.db.engine import Database
from bot.db.models import Customer, OutboxMessage, OutboxPriority, OutboxState
from bot.services.context import Business
from bot.services.outbox.contact import ContactVerdict, after_quiet_hours, queue_for, reach
from bot.services.outbox.rows import enqueue, outbox_row
from tests.conftest import BACKENDS, make_settings

UTC_NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def business(db_url: str, database: Database, clock: FrozenClock, **sections: Any) -> Business:
    return build_business(make_settings(db_url, **sections), db=database, clock=clock)


async def add_customer(db: Database, n: int, **fields: Any) -> Customer:
    values: dict[str, Any] = {
        "telegram_id": 7000 + n,
        "card_code": f"C{n:05d}",
        "language": "en",
        "balance": 0,
        "created_at": UTC_NOON - timedelta(days=30),
        "marketing_opt_in": True,
    }
    values.update(fields)
    async with db.write() as session:
        customer = Customer(**values)
        session.add(customer)
    return customer


async def verdict(biz: Business, customer: Customer, kind: str) -> ContactVerdict:
    async with biz.db.read() as session:
        return await reach(session, biz, customer, biz.clock.now(), kind=kind)


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.read() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_reach_verdicts(db_url: str, database: Database, clock: FrozenClock) -> None:
    biz = business(db_url, database, clock)
    fine = await add_customer(database, 1)
    no_chat = await add_customer(database, 2, telegram_id=None)
    opted_out = await add_customer(database, 3, marketing_opt_in=False)
    blocked = await add_customer(database, 4, unreachable_at=UTC_NOON - timedelta(days=1))
    assert await verdict(biz, fine, "birthday") is ContactVerdict.OK
    assert await verdict(biz, no_chat, "birthday") is ContactVerdict.NO_CHAT
    assert await verdict(biz, no_chat, "survey") is ContactVerdict.NO_CHAT
    assert await verdict(biz, opted_out, "birthday") is ContactVerdict.OPTED_OUT
    # opt-in concerns marketing only: a survey or an expiry warning still goes
    assert await verdict(biz, opted_out, "survey") is ContactVerdict.OK
    assert await verdict(biz, opted_out, "expiry_warning") is ContactVerdict.OK
    # a customer who blocked the bot is reached by nothing until they write again
    assert await verdict(biz, blocked, "broadcast") is ContactVerdict.UNREACHABLE
    assert await verdict(biz, blocked, "survey") is ContactVerdict.UNREACHABLE
    with pytest.raises(ValueError, match="unknown outbox message kind"):
        await verdict(biz, fine, "spam")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_frequency_cap_counts_marketing_of_the_last_seven_days(
    db_url: str, database: Database, clock: FrozenClock
) -> None:
    """The cap (default 2 a week) counts marketing kinds queued in the 7 days before now;
    transactional notices, other customers' messages, older ones and messages that never
    reached anyone (expired, skipped) do not use it up."""
    clock.current = UTC_NOON
    biz = business(db_url, database, clock)
    customer = await add_customer(database, 1)
    other = await add_customer(database, 2)
    kinds = biz.settings.outbox.kinds

    def queue(session: Any, who: Customer, kind: str, at: datetime) -> OutboxMessage:
        assert who.telegram_id is not None
        return enqueue(
            session,
            outbox_row(now=at, chat_id=who.telegram_id, customer_id=who.id, text="x",
                       kind=kind, kinds=kinds),
        )  # fmt: skip

    async with database.write() as session:
        queue(session, customer, "birthday", UTC_NOON - timedelta(days=7))  # just outside
        queue(session, customer, "purchase", UTC_NOON - timedelta(hours=1))  # transactional
        queue(session, customer, "survey", UTC_NOON - timedelta(hours=1))  # not marketing
        queue(session, other, "broadcast", UTC_NOON - timedelta(hours=1))
        queue(session, other, "broadcast", UTC_NOON - timedelta(hours=1))
        queue(session, customer, "reminder", UTC_NOON - timedelta(days=6, hours=23))
        queue(
            session, customer, "winback", UTC_NOON - timedelta(days=1)
        ).state = OutboxState.EXPIRED
        queue(
            session, customer, "holiday", UTC_NOON - timedelta(days=1)
        ).state = OutboxState.SKIPPED
    assert await verdict(biz, customer, "birthday") is ContactVerdict.OK  # 1 of 2 used
    assert await verdict(biz, other, "birthday") is ContactVerdict.CAPPED  # 2 of 2
    async with database.write() as session:
        queue(
            session, customer, "tradein", UTC_NOON - timedelta(minutes=1)
        ).state = OutboxState.SENT
    assert await verdict(biz, customer, "birthday") is ContactVerdict.CAPPED
    # transactional kinds ignore the cap
    assert await verdict(biz, customer, "notice") is ContactVerdict.OK
    # a minute after the oldest counted one leaves the window, one is free again
    clock.advance(timedelta(minutes=61))
    assert await verdict(biz, customer, "birthday") is ContactVerdict.OK
    capped = business(db_url, database, clock, contact={"max_marketing_per_week": 0})
    assert await verdict(capped, customer, "birthday") is ContactVerdict.CAPPED


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        # Moscow (UTC+3, no DST), quiet 21:00-09:00
        ("Europe/Moscow", "2026-01-15T12:00+03:00", "2026-01-15T12:00+03:00"),  # daytime
        ("Europe/Moscow", "2026-01-15T08:59+03:00", "2026-01-15T09:00+03:00"),  # morning
        ("Europe/Moscow", "2026-01-15T09:00+03:00", "2026-01-15T09:00+03:00"),  # end: open
        ("Europe/Moscow", "2026-01-15T20:59+03:00", "2026-01-15T20:59+03:00"),
        ("Europe/Moscow", "2026-01-15T21:00+03:00", "2026-01-16T09:00+03:00"),  # start
        ("Europe/Moscow", "2026-01-15T23:59+03:00", "2026-01-16T09:00+03:00"),  # wraps
        ("Europe/Moscow", "2026-01-16T00:00+03:00", "2026-01-16T09:00+03:00"),  # midnight
        ("Europe/Moscow", "2026-12-31T22:00+03:00", "2027-01-01T09:00+03:00"),  # new year
        # Berlin, the night clocks go forward (29 March 2026): 09:00 CEST is 07:00 UTC,
        # only 10 hours after 22:00 CET
        ("Europe/Berlin", "2026-03-28T22:00+01:00", "2026-03-29T09:00+02:00"),
        # and back (25 October 2026): 09:00 CET is 08:00 UTC, 12 hours after 22:00 CEST
        ("Europe/Berlin", "2026-10-24T22:00+02:00", "2026-10-25T09:00+01:00"),
        ("Europe/Berlin", "2026-10-25T02:30+01:00", "2026-10-25T09:00+01:00"),  # 2nd 02:30
    ],
)
def test_after_quiet_hours(
    db_url: str, database: Database, clock: FrozenClock, zone: str, at: str, expected: str
) -> None:
    biz = business(db_url, database, clock, business={"timezone": zone})
    result = after_quiet_hours(biz, datetime.fromisoformat(at))
    assert result == datetime.fromisoformat(expected)
    assert result.tzinfo is not None


@pytest.mark.parametrize(
    ("quiet", "at", "expected"),
    [
        # the quiet hours end at 02:30, which does not exist on 29 March 2026 in Berlin:
        # the first moment outside them is when the clocks jump to 03:00 CEST (01:00 UTC)
        ("01:00-02:30", "2026-03-29T01:30+01:00", "2026-03-29T03:00+02:00"),
        ("01:00-02:30", "2026-03-28T01:30+01:00", "2026-03-28T02:30+01:00"),  # a day before
        # a window that does not wrap midnight
        ("13:00-14:00", "2026-01-15T13:59+01:00", "2026-01-15T14:00+01:00"),
        ("13:00-14:00", "2026-01-15T14:00+01:00", "2026-01-15T14:00+01:00"),
        ("13:00-14:00", "2026-01-15T12:59+01:00", "2026-01-15T12:59+01:00"),
        ("", "2026-01-15T23:00+01:00", "2026-01-15T23:00+01:00"),  # no quiet hours
    ],
)
def test_after_quiet_hours_edges(
    db_url: str, database: Database, clock: FrozenClock, quiet: str, at: str, expected: str
) -> None:
    biz = business(
        db_url, database, clock,
        business={"timezone": "Europe/Berlin"}, contact={"quiet_hours": quiet},
    )  # fmt: skip
    assert after_quiet_hours(biz, datetime.fromisoformat(at)) == datetime.fromisoformat(expected)


@pytest.mark.parametrize(
    "quiet", ["21:00", "21-09", "25:00-09:00", "21:00-09:60", "21:00 - 09:00", "9:00-21:00"]
)
def test_malformed_quiet_hours_refused_at_start(db_url: str, quiet: str) -> None:
    with pytest.raises(ConfigError, match=r"contact\.quiet_hours"):
        make_settings(db_url, contact={"quiet_hours": quiet})


def test_kind_table_merges_config_over_defaults(db_url: str) -> None:
    settings = make_settings(
        db_url, outbox={"kinds": {"birthday": {"ttl_minutes": 60}, "promo": {"marketing": True}}}
    )
    kinds = settings.outbox.kinds
    assert kinds["birthday"].ttl_minutes == 60 and kinds["birthday"].marketing  # kept
    assert kinds["promo"].marketing and kinds["promo"].priority == "bulk"
    assert kinds["redemption_prompt"].priority == "transactional"  # untouched default
    assert "promo" in settings.outbox.marketing_kinds()
    assert "survey" not in settings.outbox.marketing_kinds()
    for bad in ({"Bad Kind": {}}, {"x": {"priority": "urgent"}}, {"x": {"ttl_minutes": 0}}):
        with pytest.raises(ConfigError, match=r"outbox\.kinds"):
            make_settings(db_url, outbox={"kinds": bad})


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_queue_for_renders_delays_and_refuses_without_writing(
    db_url: str, database: Database, clock: FrozenClock
) -> None:
    clock.current = datetime.fromisoformat("2026-01-15T22:30+03:00")  # quiet in Moscow
    biz = business(db_url, database, clock)
    ru = await add_customer(database, 1, language="ru")
    opted_out = await add_customer(database, 2, marketing_opt_in=False)
    now = clock.now()
    async with database.write() as session:
        ok = await queue_for(
            session, biz, ru, "customer.welcome_bonus",
            kind="birthday", source="job:birthday", now=now, points=100, balance=150,
        )  # fmt: skip
        survey = await queue_for(
            session, biz, opted_out, "customer.welcome_bonus",
            kind="notice", source="job:survey", now=now, points=1, balance=1,
        )  # fmt: skip
        refused = await queue_for(
            session, biz, opted_out, "customer.welcome_bonus",
            kind="broadcast", source="campaign:1", now=now, points=1, balance=1,
        )  # fmt: skip
    assert (ok, survey, refused) == (ContactVerdict.OK, ContactVerdict.OK, ContactVerdict.OPTED_OUT)
    rows = await outbox_rows(database)
    assert len(rows) == 2  # the refused one wrote nothing
    birthday, notice = rows
    assert birthday.text is not None and "100" in birthday.text and "Баланс" in birthday.text
    assert (birthday.kind, birthday.source, birthday.priority) == (
        "birthday",
        "job:birthday",
        OutboxPriority.BULK,
    )
    morning = datetime.fromisoformat("2026-01-16T09:00+03:00")
    assert birthday.not_before == morning  # waits for the morning
    assert birthday.deadline == morning + timedelta(days=1)  # a day from when it may go
    assert notice.not_before is None and notice.priority == OutboxPriority.TRANSACTIONAL
    assert notice.deadline == now + timedelta(days=3)
    # the cap holds inside one transaction too (a job queuing in a loop)
    async with database.write() as session:
        verdicts = [
            await queue_for(
                session,
                biz,
                ru,
                "customer.welcome_bonus",
                kind="holiday",
                source="job:holiday",
                now=now,
                points=1,
                balance=1,
            )
            for _ in range(3)
        ]
    assert verdicts == [ContactVerdict.OK, ContactVerdict.CAPPED, ContactVerdict.CAPPED]
    async with database.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "holiday")
        )
    assert count == 1
    # a blocked customer: refused, nothing written
    async with database.write() as session:
        await session.execute(update(Customer).values(unreachable_at=now))
    async with database.write() as session:
        fresh = await session.get(Customer, ru.id)
        assert fresh is not None
        blocked = await queue_for(
            session, biz, fresh, "customer.welcome_bonus",
            kind="expiry_warning", source="job:expiry", now=now, points=1, balance=1,
        )  # fmt: skip
    assert blocked is ContactVerdict.UNREACHABLE
    assert len(await outbox_rows(database)) == 3
