"""Contact discipline: THE one home of who may be sent what, and when.

Every job (birthday, holidays, reminders, trade-in, win-back, survey, expiry warnings)
and every owner broadcast asks :func:`reach` (:func:`reach_many`) first, then queues
through :func:`queue_for` (one customer: ask, render, queue) or :func:`marketing_rows`
(the rows of customers already asked). The rules (config ``[contact]`` and the kind
table ``[outbox.kinds]``):

- a customer with no chat (never joined the bot, or erased) gets nothing;
- a customer who blocked the bot (``unreachable_at``, set on a 403, cleared when they
  write again) gets nothing until they come back;
- marketing kinds only: the customer's opt-in, and a frequency cap of
  ``max_marketing_per_week`` marketing messages queued in the last 7 days (expired,
  skipped and cancelled ones do not count: they never reached anyone);
- kinds that wait for the morning (marketing by default) are queued with ``not_before``
  at the end of the quiet hours, in the business's time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.config import MessageKind
from bot.db.models import NEVER_SENT, Customer, OutboxMessage
from bot.services.context import Business
from bot.services.outbox.rows import enqueue, kind_rule, outbox_row

CAP_WINDOW = timedelta(days=7)
_CHUNK = 500  # customer ids per IN (...) of reach_many


class ContactVerdict(StrEnum):
    OK = "ok"
    NO_CHAT = "no_chat"  # not in the bot (or erased)
    OPTED_OUT = "opted_out"  # marketing without the customer's consent
    UNREACHABLE = "unreachable"  # blocked the bot; until they write again
    CAPPED = "capped"  # the week's marketing messages are used up


def _counted_since(biz: Business, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Outbox rows that use up the cap: marketing, queued in the window, not void."""
    return (
        OutboxMessage.created_at > now - CAP_WINDOW,
        OutboxMessage.kind.in_(biz.settings.outbox.marketing_kinds()),
        OutboxMessage.state.not_in([s.value for s in NEVER_SENT]),
    )


def _sent_recently(biz: Business, customer_id: int, now: datetime) -> Select[Any]:
    return select(func.count(OutboxMessage.id)).where(
        OutboxMessage.customer_id == customer_id, *_counted_since(biz, now)
    )


async def marketing_sent_recently(
    session: AsyncSession, biz: Business, customer_id: int, now: datetime
) -> int:
    """Marketing messages queued for the customer in the cap's window (the 7 days to now)."""
    return int(await session.scalar(_sent_recently(biz, customer_id, now)) or 0)


def chat_verdict(customer: Any) -> ContactVerdict:
    """The part of :func:`reach` that reads only the customer's row (an ORM ``Customer``
    or a ``books.Account``): all a kind that is no marketing needs."""
    if customer.telegram_id is None or customer.erased_at is not None:
        return ContactVerdict.NO_CHAT
    if customer.unreachable_at is not None:
        return ContactVerdict.UNREACHABLE
    return ContactVerdict.OK


def _verdict(
    biz: Business, customer: Customer, kind: str, sent_recently: Callable[[], int] | None
) -> ContactVerdict | None:
    """The rule itself; None means "ask the cap" (``sent_recently`` not given yet)."""
    rule = kind_rule(biz.settings.outbox.kinds, kind)
    verdict = chat_verdict(customer)
    if verdict is not ContactVerdict.OK or not rule.marketing:
        return verdict
    if not customer.marketing_opt_in:
        return ContactVerdict.OPTED_OUT
    if sent_recently is None:
        return None
    if sent_recently() >= biz.settings.contact.max_marketing_per_week:
        return ContactVerdict.CAPPED
    return ContactVerdict.OK


async def reach(
    session: AsyncSession, biz: Business, customer: Customer, now: datetime, *, kind: str
) -> ContactVerdict:
    """May a message of ``kind`` be queued for ``customer`` now? (Quiet hours do not
    refuse: they only delay, see :func:`after_quiet_hours`.)"""
    verdict = _verdict(biz, customer, kind, None)
    if verdict is not None:
        return verdict
    sent = await marketing_sent_recently(session, biz, customer.id, now)
    verdict = _verdict(biz, customer, kind, lambda: sent)
    assert verdict is not None
    return verdict


def reach_on(
    conn: Connection, biz: Business, customer: Any, now: datetime, *, kind: str
) -> ContactVerdict:
    """:func:`reach` inside a hot path's synchronous transaction (``Database.run_write``),
    for an ORM ``Customer`` or a ``books.Account``."""
    return _verdict(  # type: ignore[return-value]  # never None: the cap is given
        biz, customer, kind, lambda: int(conn.scalar(_sent_recently(biz, customer.id, now)) or 0)
    )


async def reach_many(
    session: AsyncSession,
    biz: Business,
    customers: Sequence[Customer],
    now: datetime,
    *,
    kind: str,
) -> dict[int, ContactVerdict]:
    """:func:`reach` for many customers at once (a broadcast): the same rules, the cap's
    counts read with one grouped query per chunk instead of one query per customer."""
    verdicts: dict[int, ContactVerdict] = {}
    undecided: list[Customer] = []
    for customer in customers:
        verdict = _verdict(biz, customer, kind, None)
        if verdict is None:
            undecided.append(customer)
        else:
            verdicts[customer.id] = verdict
    counts: dict[int, int] = {}
    for start in range(0, len(undecided), _CHUNK):
        ids = [c.id for c in undecided[start : start + _CHUNK]]
        rows = await session.execute(
            select(OutboxMessage.customer_id, func.count(OutboxMessage.id))
            .where(OutboxMessage.customer_id.in_(ids), *_counted_since(biz, now))
            .group_by(OutboxMessage.customer_id)
        )
        counts.update({int(cid): int(n) for cid, n in rows.all()})
    for customer in undecided:
        verdict = _verdict(biz, customer, kind, lambda c=customer: counts.get(c.id, 0))
        assert verdict is not None
        verdicts[customer.id] = verdict
    return verdicts


def still_wanted(rule: MessageKind, *, opted_in: bool | None, unreachable: bool) -> bool:
    """At sending time: is a queued message still to be sent? (``opted_in`` None: the
    message is for no customer, e.g. staff.) Marketing needs the opt-in the customer may
    have withdrawn since; nothing but transactional messages goes to a customer who blocked
    the bot (a transactional one is tried: the customer may have unblocked it)."""
    if rule.marketing and opted_in is False:
        return False
    return not (unreachable and rule.priority != "transactional")


async def mark_unreachable(session: AsyncSession, customer_id: int, now: datetime) -> None:
    """Telegram answered 403 for this customer's chat: the bot is blocked."""
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.unreachable_at.is_(None))
        .values(unreachable_at=now)
    )


async def mark_reachable(biz: Business, customer_id: int) -> None:
    """The customer wrote to the bot: whatever blocked it is over."""
    async with biz.db.write() as session:
        await session.execute(
            update(Customer).where(Customer.id == customer_id).values(unreachable_at=None)
        )


async def unreachable_count(session: AsyncSession) -> int:
    """Customers who blocked the bot and have not written since (the owner's /kpi)."""
    count = await session.scalar(
        select(func.count(Customer.id)).where(
            Customer.unreachable_at.is_not(None), Customer.erased_at.is_(None)
        )
    )
    return int(count or 0)


def quiet_window(biz: Business) -> tuple[time, time] | None:
    """The configured quiet hours as (start, end) local times; None when there are none."""
    spec = biz.settings.contact.quiet_hours
    if not spec:
        return None
    start, end = (time.fromisoformat(part) for part in spec.split("-"))
    return None if start == end else (start, end)


def _is_quiet(local: time, window: tuple[time, time]) -> bool:
    start, end = window
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps midnight


def after_quiet_hours(biz: Business, at: datetime) -> datetime:
    """The earliest moment >= ``at`` outside the quiet hours, in the business's time zone.

    DST-safe: the end of the quiet hours is a local wall time converted on its own date,
    so "09:00" stays 09:00 across a change of offset; an end that falls in a spring-forward
    gap (does not exist that night) becomes the moment the gap ends.
    """
    window = quiet_window(biz)
    zone = biz.settings.business.zone
    local = at.astimezone(zone)
    if window is None or not _is_quiet(local.time().replace(tzinfo=None), window):
        return at
    end = window[1]
    day = local.date()
    if local.time().replace(tzinfo=None) >= end:  # before midnight in a wrapping window
        day += timedelta(days=1)
    wall = datetime.combine(day, end)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return max(first, at.astimezone(UTC))
    # the wall time does not exist (a spring-forward gap): find where the gap ends
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # still before the gap
    high = first  # already after it
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return max(high, at.astimezone(UTC))


async def queue_for(
    session: AsyncSession,
    biz: Business,
    customer: Customer,
    template_name: str,
    *,
    kind: str,
    source: str | None,
    now: datetime,
    **context: Any,
) -> ContactVerdict:
    """Queue a rendered template for the customer if :func:`reach` allows; returns the
    verdict (OK: queued, in the caller's transaction; anything else: nothing written)."""
    verdict = await reach(session, biz, customer, now, kind=kind)
    if verdict is ContactVerdict.OK:
        text = biz.texts.render(customer.language, template_name, **context)
        enqueue(session, _marketing_row(biz, customer, text, kind=kind, source=source, now=now))
    return verdict


def _marketing_row(
    biz: Business,
    customer: Customer,
    text: str,
    *,
    kind: str,
    source: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The outbox row of ``text`` (rendered in the customer's language) for a customer
    :func:`reach` said OK to: quiet hours and the kind's rule applied."""
    assert customer.telegram_id is not None  # reach said so
    rule = kind_rule(biz.settings.outbox.kinds, kind)
    not_before = after_quiet_hours(biz, now) if rule.waits_for_morning else None
    return outbox_row(
        now=now,
        chat_id=customer.telegram_id,
        customer_id=customer.id,
        text=text,
        kind=kind,
        source=source,
        not_before=None if not_before == now else not_before,
        kinds=biz.settings.outbox.kinds,
    )


def marketing_rows(
    biz: Business,
    messages: Sequence[tuple[Customer, str]],
    *,
    kind: str,
    source: str | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The outbox rows of many (customer, text rendered in their language) pairs of one
    kind queued at one moment, for customers :func:`reach` or :func:`reach_many` said OK
    to in the same transaction (a job's member, a broadcast): the kind's rule and the
    quiet hours worked out once. The caller inserts them (``rows.enqueue`` or one Core
    insert)."""
    if not messages:
        return []
    first, first_text = messages[0]
    template = _marketing_row(biz, first, first_text, kind=kind, source=source, now=now)
    rows = []
    for customer, text in messages:
        assert customer.telegram_id is not None  # reach_many said so
        row = dict(template)
        row["chat_id"], row["customer_id"], row["text"] = customer.telegram_id, customer.id, text
        rows.append(row)
    return rows
